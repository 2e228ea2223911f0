"""Fuzzing parse_event: whatever the body, an event comes back or EventParseError is raised.

The bodies come from :mod:`tests.fuzzing` (structure-aware: event objects with good and wrong
values for every field, deep nesting, invalid Unicode, huge numbers, duplicated keys, BOMs,
broken encodings). Derandomized, so CI sees the same cases on every run.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, event, given, settings

from aiflow.errors import EventParseError
from aiflow.protocol import parse_event

from ..fuzzing import MARKER, bodies

# Every code parse_event gives for bad input. "invalid_event" (an unforeseen failure caught by
# the last-resort handler) is deliberately not here: fuzzing must never reach it.
EXPECTED_CODES = {
    "not_json",
    "too_deep",
    "invalid_number",
    "invalid_unicode",
    "not_an_object",
    "missing_type",
    "missing_session_id",
    "invalid_field",
}
FUZZ = settings(
    max_examples=2_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(body=bodies())
def test_any_body_gives_an_event_or_an_event_parse_error(body: bytes | str) -> None:
    try:
        parsed = parse_event(body)
    except EventParseError as exc:
        event(f"refused: {exc.code}")
        assert exc.code in EXPECTED_CODES, exc.message
        assert MARKER not in json.dumps(exc.to_dict(), ensure_ascii=False)
        json.dumps(exc.to_dict(), ensure_ascii=False).encode("utf-8")
        return
    event(f"parsed: {type(parsed).__name__}")
    wire = parsed.to_wire()
    json.dumps(wire, ensure_ascii=False, allow_nan=False).encode("utf-8")
    assert wire["session"]["id"] == parsed.session.id
