"""The garbage collector during a Lambda function's init: held, then the heap frozen.

A cold start loads some 600 modules, and meanwhile the cyclic garbage collector runs a few
hundred times, its passes over the older generations rescanning the whole growing heap:
40-75 ms of CPU before the first answer, and whether a full pass strikes before the answer
or after it depends on thresholds a few allocations move. Init leaves almost no cyclic
garbage (about 400 objects for the receptionist), so in a Lambda function whose handler is
aiflow's entry point (``aiflow.lambda_.main.*``) the collector is off from aiflow's first
import until the entry point is built; then everything alive is frozen (:func:`gc.freeze`:
later collections never scan it again) and collection resumes for the requests. Elsewhere
(tests, ``aiflow dev``, your scripts, a handler of your own) nothing changes.

``aiflow/__init__.py`` imports this module first, and importing it holds the collector
(:data:`HELD`): the earliest moment aiflow's code runs in a cold start.
"""

from __future__ import annotations

import gc

from ..settings import runtime_handler

ENTRY_MODULE = "aiflow.lambda_.main"
_state = {"held": False}


def hold() -> bool:
    """Stop collecting if the Lambda runtime is loading aiflow's entry point; True if held."""
    if not _state["held"] and gc.isenabled():
        if runtime_handler().startswith(ENTRY_MODULE + "."):
            gc.disable()
            _state["held"] = True
    return _state["held"]


def release() -> bool:
    """Freeze what init built and collect again; True if the collector was held."""
    if not _state["held"]:
        return False
    gc.freeze()
    gc.enable()
    _state["held"] = False
    return True


HELD = hold()
"""Whether importing this module (aiflow's first import) held the collector."""
