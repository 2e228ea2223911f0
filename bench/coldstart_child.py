"""One cold start, in a fresh interpreter: import the webhook module and build its handler.

    python bench/coldstart_child.py MODULE [--first-event]

Prints one line ``BENCH_RESULT {json}`` and ends with ``os._exit``: no interpreter
teardown, as in Lambda, where the process lives on after init. With ``--first-event`` a
moto mock (DynamoDB, Secrets Manager) is started *before* the timer (it imports boto3
itself, so the init time of such a run is not the cold init) and the first request goes
through the handler after init.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Any

from benchlib import (
    RESULT_MARKER,
    TABLE_NAME,
    TOKEN,
    TOKEN_SECRET,
    FakeContext,
    http_event,
    session,
)


def start_mock() -> Any:
    import boto3
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    boto3.client("dynamodb").create_table(
        TableName=TABLE_NAME,
        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("secretsmanager").create_secret(Name=TOKEN_SECRET, SecretString=TOKEN)
    return mock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("module")
    parser.add_argument("--first-event", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"module": args.module}
    if args.first_event:
        start_mock()
        event = http_event({"type": "session_start", "session": session()})
        context = FakeContext()

    cpu = time.process_time()
    started = time.perf_counter()
    module = importlib.import_module(args.module)
    handler = module.handler
    ready = time.perf_counter()
    result["init_ms"] = (ready - started) * 1000
    result["init_cpu_ms"] = (time.process_time() - cpu) * 1000
    result["modules"] = len(sys.modules)

    if args.first_event:
        response = handler(event, context)
        done = time.perf_counter()
        result["first_event_ms"] = (done - ready) * 1000
        result["status"] = response.get("statusCode")
        # A second request: what the first one paid extra (lazy builds, first-call setup).
        second = http_event({"type": "session_start", "session": session()})
        again = time.perf_counter()
        handler(second, FakeContext())
        result["second_event_ms"] = (time.perf_counter() - again) * 1000
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    # A Lambda cold start ends here: the runtime keeps the interpreter for the next
    # requests. Interpreter teardown (freeing every module and object, 70-150 ms here) is
    # never paid by a cold start, so it must not count in the child's wall time.
    os._exit(0)


if __name__ == "__main__":
    main()
