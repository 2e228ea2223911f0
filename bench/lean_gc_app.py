"""The lean webhook with the garbage collector held during init, as aiflow holds it.

What a competent developer adds by hand to ``lean_app.py`` (first and last lines of the
module): no collection while the modules load, then the heap they built frozen
(``gc.freeze``) and collection on again for the requests. Section 1a compares aiflow, which
does this in a Lambda function whose handler is its entry point (``aiflow.lambda_.gchold``),
with this, so that neither side gets a trick the other lacks.
"""

from __future__ import annotations

import gc

gc.disable()

from lean_app import handler  # noqa: E402

gc.freeze()
gc.enable()

__all__ = ["handler"]
