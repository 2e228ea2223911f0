"""One cold start, init only, in a fresh interpreter: import the webhook module and build its
handler (section 1; the first answer is section 1a, ``firstanswer_child.py``).

    python bench/coldstart_child.py MODULE:ATTRIBUTE

Prints one line ``BENCH_RESULT {json}`` and ends with ``os._exit``: no interpreter
teardown, as in Lambda, where the process lives on after init.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Any

from benchlib import RESULT_MARKER


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("entry", help="module:attribute of the handler")
    args = parser.parse_args()
    module_name, _, attribute = args.entry.partition(":")
    result: dict[str, Any] = {"module": args.entry}

    cpu = time.process_time()
    started = time.perf_counter()
    module = importlib.import_module(module_name)
    getattr(module, attribute or "handler")  # ours builds its entry point on this access
    result["init_ms"] = (time.perf_counter() - started) * 1000
    result["init_cpu_ms"] = (time.process_time() - cpu) * 1000
    result["modules"] = len(sys.modules)
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    # A Lambda cold start ends here: the runtime keeps the interpreter for the next
    # requests. Interpreter teardown (freeing every module and object, 70-150 ms here) is
    # never paid by a cold start, so it must not count in the child's wall time.
    os._exit(0)


if __name__ == "__main__":
    main()
