"""Bodies that are not AI Flow events: 400 with a JSON error naming the problem, nothing else.

For each malformed body the webhook must answer 400 with ``{"code", "message"}``, never
show a stack trace, never run a handler and never write to DynamoDB.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import CALLER, Line

SESSION = {"id": "0b8f3c1e-5d3a-4f7e-9d0c-6a1e2b3c4d5e", "from_phone_number": CALLER}


@dataclass(frozen=True)
class Bad:
    body: str | bytes | None
    code: str
    names: str  # the message must mention this
    base64_encoded: bool = False


def _json(value: Any) -> str:
    return json.dumps(value)


BAD_BODIES = {
    "empty body": Bad("", "not_json", "JSON"),
    "no body at all": Bad(None, "not_json", "JSON"),
    "whitespace only": Bad("  \n ", "not_json", "JSON"),
    "truncated JSON": Bad('{"type": "session_start", "session": {"id": ', "not_json", "JSON"),
    "base64 garbage": Bad("%%%not-base64@@@", "not_json", "JSON", base64_encoded=True),
    "base64 of a non-JSON blob": Bad(b"\x89PNG\r\n\x1a\n\x00\x00", "not_json", "JSON", True),
    "invalid UTF-8 bytes": Bad(
        b'{"type": "user_speak", "text": "caf\xe9 \xff\xfe", "session": {"id": "abc"}}',
        "not_json",
        "JSON",
        base64_encoded=True,
    ),
    "a JSON array": Bad(
        _json([{"type": "session_start", "session": SESSION}]), "not_an_object", "array"
    ),
    "a number": Bad("42", "not_an_object", "number"),
    "null": Bad("null", "not_an_object", "null"),
    "a string": Bad(_json("session_start"), "not_an_object", "string"),
    "a boolean": Bad("true", "not_an_object", "boolean"),
    "missing type": Bad(_json({"session": SESSION}), "missing_type", "`type`"),
    "type not a string": Bad(_json({"type": 7, "session": SESSION}), "missing_type", "`type`"),
    "type empty": Bad(_json({"type": "", "session": SESSION}), "missing_type", "`type`"),
    "missing session": Bad(_json({"type": "session_start"}), "missing_session_id", "session.id"),
    "session not an object": Bad(
        _json({"type": "session_start", "session": "abc"}), "missing_session_id", "session.id"
    ),
    "session without id": Bad(
        _json({"type": "session_start", "session": {"account_id": "a"}}),
        "missing_session_id",
        "session.id",
    ),
    "session.id empty": Bad(
        _json({"type": "session_start", "session": {"id": ""}}), "missing_session_id", "session.id"
    ),
    "session.id a number": Bad(
        _json({"type": "session_start", "session": {"id": 12345}}),
        "missing_session_id",
        "session.id",
    ),
    "dtmf digit x": Bad(
        _json({"type": "dtmf_received", "digit": "x", "session": SESSION}), "invalid_field", "digit"
    ),
    "dtmf digit 12": Bad(
        _json({"type": "dtmf_received", "digit": "12", "session": SESSION}),
        "invalid_field",
        "digit",
    ),
    "dtmf without digit": Bad(
        _json({"type": "dtmf_received", "session": SESSION}), "invalid_field", "digit"
    ),
    "user_speak without text": Bad(
        _json({"type": "user_speak", "session": SESSION}), "invalid_field", "text"
    ),
    "user_speak text a number": Bad(
        _json({"type": "user_speak", "text": 4917612345678, "session": SESSION}),
        "invalid_field",
        "text",
    ),
    "assistant_speak negative duration": Bad(
        _json({"type": "assistant_speak", "duration_ms": -5, "session": SESSION}),
        "invalid_field",
        "duration_ms",
    ),
    "session direction unknown": Bad(
        _json({"type": "session_start", "session": {**SESSION, "direction": "sideways"}}),
        "invalid_field",
        "direction",
    ),
}


@pytest.mark.parametrize("bad", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_that_is_not_an_event_is_answered_400_naming_the_problem(
    line: Line, bad: Bad
) -> None:
    call = line.call(caller=CALLER)

    reply = call.post(bad.body, base64_encoded=bad.base64_encoded)

    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    error = reply.json
    assert error["code"] == bad.code
    assert bad.names in error["message"]
    assert "Traceback" not in reply.body
    assert 'File "' not in reply.body
    assert line.ran == []
    assert line.table.items() == []


@pytest.mark.parametrize("bad", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_400_never_repeats_the_callers_number_or_words(line: Line, bad: Bad) -> None:
    reply = line.call().post(bad.body, base64_encoded=bad.base64_encoded)

    assert reply.status == 400
    assert CALLER not in reply.body
    assert CALLER.lstrip("+") not in reply.body
    assert "caf" not in reply.body


def test_a_valid_event_after_bad_ones_still_starts_the_call(line: Line) -> None:
    call = line.call(caller=CALLER)
    for bad in list(BAD_BODIES.values())[:5]:
        assert call.post(bad.body, base64_encoded=bad.base64_encoded).status == 400

    reply = call.deliver("session_start")

    assert reply.status == 200
    assert len(line.table.items()) == 1


def test_a_base64_encoded_valid_event_is_accepted(line: Line) -> None:
    call = line.call(caller=CALLER)

    body = json.dumps(call.event("session_start")).encode()
    reply = call.post(body, base64_encoded=True)

    assert base64.b64decode(base64.b64encode(body)) == body
    assert reply.status == 200
    assert reply.said == ["Hello, this is the test line. How can I help?"]
