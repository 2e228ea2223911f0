"""DynamoDB requests per event: one strongly consistent GetItem and at most one conditional
PutItem, and no request at all for events nothing reads or changes.

Counted on the webhook's own boto3 client (``before-call.dynamodb.*``), so every request
the store makes is seen, and only those.
"""

from __future__ import annotations

import json

import pytest

from aiflow.lambda_ import Settings
from aiflow.testing import CallSimulator

from .conftest import CALLER, Line

READ = ["GetItem"]
READ_WRITE = ["GetItem", "PutItem"]
NOTHING: list[str] = []

# One call, event by event, with what the test assistant does and the requests it costs.
CALL = [
    ("session_start", {}, READ_WRITE),  # new call: greeting stored
    # Playback start and length: the framework trims an interrupted sentence from them and
    # ties held actions to the speech they wait for, so a speech start is stored.
    ("assistant_speak", {"text": "Hello", "duration_ms": 900}, READ_WRITE),
    ("assistant_speech_ended", {}, READ),  # nothing pending, no handler: no write
    ("user_speech_started", {}, READ_WRITE),  # when the caller started talking (barge-in)
    ("user_speak", {"text": "a table for two"}, READ_WRITE),
    ("dtmf_received", {"digit": "3"}, READ_WRITE),
    ("user_input_timeout", {}, READ),  # nothing pending, no handler
    ("transcription_partial", {"text": "a ta"}, NOTHING),  # unknown type
    ("sms_failed", {}, NOTHING),
    ("user_speak", {"text": "goodbye"}, READ_WRITE),  # hangup pending
    ("assistant_speak", {"text": "Goodbye!", "duration_ms": 700}, READ_WRITE),
    ("assistant_speech_ended", {}, READ_WRITE),  # hangup released and removed
    ("session_end", {}, READ_WRITE),  # status ended
    ("session_end", {}, READ),  # the call has ended: nothing runs, nothing is written
]


def test_each_event_costs_at_most_a_read_and_a_write_and_unchanged_calls_no_write(
    line: Line, call: CallSimulator
) -> None:
    measured = []
    for kind, fields, expected in CALL:
        ops = line.requests.during(lambda kind=kind, fields=fields: call.deliver(kind, **fields))
        measured.append((kind, ops))
        assert ops == expected, kind
    assert all(len(ops) <= 2 for _, ops in measured)


def test_every_read_is_strongly_consistent_and_every_write_is_conditional(
    line: Line, call: CallSimulator
) -> None:
    for kind, fields, _ in CALL:
        call.deliver(kind, **fields)

    reads = [p for op, p in line.requests.params if op == "GetItem"]
    writes = [p for op, p in line.requests.params if op == "PutItem"]
    assert reads and writes
    assert all(p["ConsistentRead"] is True for p in reads)
    assert all(p["Key"] == {"session_id": {"S": call.session_id}} for p in reads)
    assert all("ConditionExpression" in p for p in writes)
    assert all(
        set(p["Item"]) == {"session_id", "version", "expires_at", "status", "doc"} for p in writes
    )
    versions = [int(p["Item"]["version"]["N"]) for p in writes]
    assert versions == list(range(1, len(writes) + 1))


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_requests_that_are_refused_touch_no_table(line: Line) -> None:
    line.rebuild(settings=Settings(max_body_bytes=2000))
    call = line.call(caller=CALLER)
    body = json.dumps(call.event("user_speak", text="hi"))

    refused = {
        "401": lambda: call.post(body, headers={"x-api-token": "wrong"}),
        "400": lambda: call.post('{"type": "user_speak"}'),
        "413": lambda: call.post(json.dumps(call.event("user_speak", text="x" * 3000))),
        "404": lambda: call.post(body, path="/elsewhere"),
    }

    for status, send in refused.items():
        assert line.requests.during(send) == NOTHING, status


def test_a_turn_that_falls_back_for_a_handler_bug_costs_one_read_and_one_write(
    line: Line,
) -> None:
    call = line.call(raise_errors=False)
    call.deliver("session_start")

    ops = line.requests.during(lambda: call.deliver("user_speak", text="kaboom"))

    assert ops == READ_WRITE  # the fallback sentence is remembered in the history


def test_session_end_of_a_call_without_a_record_writes_nothing(line: Line) -> None:
    call = line.call(caller=CALLER)

    ops = line.requests.during(lambda: call.deliver("session_end"))

    assert ops == READ
    assert line.table.items() == []
