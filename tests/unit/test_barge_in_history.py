"""Barge-in-aware history, for every assistant: when the caller talks over a sentence, the
history keeps only the part of it they probably heard (from ``assistant_speak``'s start and
duration, and when the caller started talking)."""

from __future__ import annotations

from typing import Any

from aiflow import Assistant, Call, FakeClock, Turn, parse_event
from aiflow.history import cut_text

SENTENCE = "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf"
SESSION = {"id": "s-1", "phone_number": "+4921198765400"}


def assistant() -> Assistant:
    """Any assistant: the trimming is the framework's, not the handler's."""
    hello = Assistant("any")

    @hello.on_user_speak
    def answer() -> str:
        return "Gern."

    return hello


def play_raw(clock: FakeClock, events: list[dict[str, Any]]) -> Call:
    """A call whose last assistant turn is SENTENCE, then ``events`` sent as they are (no
    playback simulation), each at its ``at`` time: full control over the timing."""
    core = assistant()
    call: Call = Call("s-1", clock=clock)
    call.history = [Turn(role="assistant", text=SENTENCE)]
    call.is_new = False
    for body in events:
        clock.set(body.pop("at"))
        core.handle(parse_event({**body, "session": SESSION}), call)
    return call


def test_a_4000_ms_sentence_interrupted_after_1000_ms_keeps_its_first_quarter() -> None:
    clock = FakeClock()
    start = clock.now_ms()
    call = play_raw(
        clock,
        [
            {
                "type": "assistant_speak",
                "text": SENTENCE,
                "duration_ms": 4000,
                "speech_started_at": start,
                "at": start,
            },
            {"type": "user_speak", "text": "Moment mal", "barged_in": True, "at": start + 1000},
        ],
    )

    interrupted, caller = call.history[0], call.history[1]
    assert interrupted.text == "eins zwei drei"  # three of twelve words
    assert interrupted.interrupted is True
    assert (caller.role, caller.text) == ("caller", "Moment mal")


def test_the_interruption_counts_from_when_the_caller_started_talking() -> None:
    clock = FakeClock()
    start = clock.now_ms()
    call = play_raw(
        clock,
        [
            {
                "type": "assistant_speak",
                "text": SENTENCE,
                "duration_ms": 4000,
                "speech_started_at": start,
                "at": start,
            },
            {"type": "user_speech_started", "at": start + 2000},  # WebSocket only
            {"type": "user_speak", "text": "Moment mal", "barged_in": True, "at": start + 3500},
        ],
    )

    assert call.history[0].text == "eins zwei drei vier fünf sechs"


def test_a_repeated_delivery_of_the_interruption_does_not_cut_twice() -> None:
    clock = FakeClock()
    start = clock.now_ms()
    barge_in = {"type": "user_speak", "text": "Moment", "barged_in": True}
    call = play_raw(
        clock,
        [
            {
                "type": "assistant_speak",
                "text": SENTENCE,
                "duration_ms": 4000,
                "speech_started_at": start,
                "at": start,
            },
            {**barge_in, "at": start + 2000},
            {**barge_in, "at": start + 2100},
        ],
    )

    assert call.history[0].text == "eins zwei drei vier fünf sechs"


def test_words_are_kept_once_more_than_half_of_them_was_spoken() -> None:
    assert cut_text("Guten Tag", 0.0) == ""
    assert cut_text("Guten Tag", 0.3) == "Guten"
    assert cut_text("Guten Tag", 0.8) == "Guten"
    assert cut_text("Guten Tag", 0.9) == "Guten Tag"


def test_the_calls_clock_drives_the_estimate() -> None:
    clock = FakeClock(1_000_000)
    call = play_raw(
        clock,
        [
            {
                "type": "assistant_speak",
                "text": SENTENCE,
                "duration_ms": 4000,
                "speech_started_at": 1_000_000,
                "at": 1_000_000,
            },
            {"type": "user_speak", "text": "Moment", "barged_in": True, "at": 1_002_000},
        ],
    )

    assert call.history[0].text == "eins zwei drei vier fünf sechs"
