"""One first answer in a fresh interpreter: a Lambda cold start up to the caller's greeting.

    python firstanswer_child.py MODULE:ATTRIBUTE EVENT_FILE [--phases]

Does what the Lambda runtime does for the first request of a new instance: import the
handler's module, take the handler attribute (``aiflow.lambda_.main:webhook`` builds the
entry point of ``AIFLOW_ASSISTANT`` on that access, as in Lambda), call it with one API
Gateway HTTP API event (read from EVENT_FILE before anything else), write the answer to
stdout. Then ``os._exit``: Lambda never tears the interpreter down. DynamoDB and Secrets
Manager are whatever the environment points boto3 at (the benchmark's moto server on
loopback).

Prints ``BENCH_ANSWER {json}``; with ``--phases`` also ``BENCH_PHASES {json}``, the time per
phase measured by :mod:`phaseprobe` (the headline runs go without it: no probe, no cost).
"""

from __future__ import annotations

import time

_STARTED_NS = time.monotonic_ns()  # the first thing this interpreter runs of ours
_STARTED_CPU_NS = time.process_time_ns()  # CPU since exec: the interpreter's start-up

import json  # noqa: E402  (the Lambda runtime imports json before any handler, too)
import os  # noqa: E402
import sys  # noqa: E402


class Context:
    """The parts of the Lambda context object Powertools and the apps read."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:eu-central-1:123456789012:function:{function_name}"
    aws_request_id = "6f1d0c5e-0b7e-4a39-9d54-3c2f6b0e9a11"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self._deadline = time.monotonic() + 10.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    entry, event_path = sys.argv[1], sys.argv[2]
    module_name, _, attribute = entry.partition(":")
    with open(event_path, encoding="utf-8") as f:
        event = json.load(f)
    recorder = None  # a phaseprobe.Recorder with --phases (typing is not imported yet)
    if "--phases" in sys.argv[3:]:
        from phaseprobe import Recorder

        recorder = Recorder(module_name, os.environ.get("AIFLOW_ASSISTANT", ""))
        recorder.totals["bench child"] = [  # reading the event and loading the probes
            time.monotonic_ns() - _STARTED_NS,
            time.process_time_ns() - _STARTED_CPU_NS,
        ]
        recorder.track_imports()
        recorder.track_gc()
        recorder.set_phase("construction")

    __import__(module_name)
    # ours builds its entry point (and imports the assistant) on this access
    handler = getattr(sys.modules[module_name], attribute or "handler")
    if recorder is not None:
        probed = recorder.track_request()
        recorder.set_phase("parse")

    response = handler(event, Context())

    if recorder is not None:
        recorder.set_phase("write answer")
    sys.stdout.write("BENCH_ANSWER " + json.dumps(response) + "\n")
    sys.stdout.flush()
    # The answer is out: here the caller's wait ends (Lambda keeps the process for the next
    # request, so tearing it down below is not part of a cold start).
    answered = {"answered_ns": time.monotonic_ns(), "answered_cpu_ns": time.process_time_ns()}
    sys.stdout.write("BENCH_ANSWERED " + json.dumps(answered) + "\n")
    sys.stdout.flush()
    if recorder is not None:
        phases = recorder.result()
        spawned = int(os.environ.get("BENCH_SPAWN_NS", "0"))
        start_wall = (_STARTED_NS - spawned) / 1e6 if spawned else float("nan")
        phases["interpreter start-up"] = [start_wall, _STARTED_CPU_NS / 1e6]
        result = {"phases": phases, "probed": probed, "modules": len(sys.modules)}
        sys.stdout.write("BENCH_PHASES " + json.dumps(result) + "\n")
        sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
