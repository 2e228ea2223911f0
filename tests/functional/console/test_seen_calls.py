"""The console's list of past calls, kept from the turn engine's reports."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from aiflow import hangup, speak
from aiflow.local.console import SeenCalls, past_calls
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
