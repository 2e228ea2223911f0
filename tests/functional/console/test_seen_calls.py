"""The console's list of past calls, kept from the turn engine's reports."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from aiflow import hangup, speak
from aiflow.local.console import SeenCalls, past_calls
from aiflow.local.console.app import recorded_transcript
from aiflow.report import TurnReport


def clock_from(start: float) -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: start + next(ticks)


def report(session_id: str | None, event_type: str, **fields: object) -> TurnReport:
    return TurnReport(event_type=event_type, session_id=session_id, **fields)  # type: ignore[arg-type]


def test_each_report_becomes_a_turn_of_its_call() -> None:
    seen = SeenCalls(clock=clock_from(1000.0))
    greeting = speak("Hallo!").for_session("call-1")

    seen(report("call-1", "session_start", actions=[greeting], total_ms=12.345))
    seen(report("call-1", "user_speak", fallback=True, reason="handler_error"))

    turns = seen.turns("call-1")
    assert turns == [
        {
            "at": 1_000_000,
            "event_type": "session_start",
            "total_ms": 12.3,
            "handler_ms": 0.0,
            "store_requests": 0,
            "actions": [{"type": "speak", "text": "Hallo!"}],
        },
        {
            "at": 1_001_000,
            "event_type": "user_speak",
            "total_ms": 0.0,
            "handler_ms": 0.0,
            "store_requests": 0,
            "actions": [],
            "fallback": True,
            "reason": "handler_error",
        },
    ]


def test_the_list_shows_the_most_recent_call_first_and_which_ended() -> None:
    seen = SeenCalls(clock=clock_from(0.0))
    seen(report("older", "session_start"))
    seen(report("newer", "session_start"))
    seen(report("older", "session_end", actions=[hangup().for_session("older")]))

    listing = past_calls(seen)

    assert [(c["session_id"], c["turns"], c["ended"]) for c in listing] == [
        ("older", 2, True),
        ("newer", 1, False),
    ]
    assert listing[0]["last_event"] == "session_end"


def test_a_report_without_a_call_is_not_kept() -> None:
    seen = SeenCalls()

    seen(report(None, "session_start"))

    assert seen.listing() == []


def test_the_oldest_call_is_forgotten_beyond_the_limit() -> None:
    seen = SeenCalls(max_calls=2)
    for name in ("first", "second", "third"):
        seen(report(name, "session_start"))

    assert sorted(c["session_id"] for c in seen.listing()) == ["second", "third"]
    assert seen.turns("first") is None


def test_a_long_call_keeps_its_latest_turns_and_counts_them_all() -> None:
    seen = SeenCalls(max_turns=3)
    for index in range(5):
        seen(report("long", f"event-{index}"))

    turns = seen.turns("long")

    assert [t["event_type"] for t in turns or []] == ["event-2", "event-3", "event-4"]
    assert seen.listing()[0]["turns"] == 5


def test_recorded_calls_join_the_list_with_their_outcome_after_a_restart() -> None:
    """With records on, a call answered before this dev server (re)started is listed from its
    record, and opening it shows the record's transcript."""
    import json

    from aiflow.lambda_ import Settings, lambda_handler
    from aiflow.local.console import CallConsole
    from aiflow.local.gateway import LocalGateway
    from aiflow.store import MemoryStore
    from tests.examples.hello import assistant

    token = "console-records-token-0123"
    settings = Settings(record_calls=True)
    earlier = lambda_handler(assistant, store=MemoryStore(), token=token, settings=settings)
    gateway = LocalGateway(earlier)
    session = {"id": "recorded-call-1", "phone_number": "+4921198765400"}
    for body in (
        {"type": "session_start", "session": session},
        {"type": "user_speak", "text": "bye", "session": session},
        {"type": "session_end", "session": session},
    ):
        gateway.request("POST", "/webhook", {"X-API-TOKEN": token}, json.dumps(body).encode())
    records = CallConsole(earlier, token=token).records()
    assert records is not None

    # A new console (a restarted dev server) has seen nothing, but lists the record.
    listing = past_calls(SeenCalls(), records)

    assert [c["session_id"] for c in listing] == ["recorded-call-1"]
    assert listing[0]["ended"] and listing[0]["outcome"]
    transcript = recorded_transcript(records, "recorded-call-1")
    assert transcript is not None
    assert any("bye" in line["text"] for line in transcript)
