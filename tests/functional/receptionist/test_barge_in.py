"""Barge-in: the history keeps only the part of a sentence the caller probably heard."""

from __future__ import annotations

from typing import Any

import pytest

from aiflow import Call, Turn, parse_event
from receptionist.app import build_assistant
from receptionist.barge_in import cut_text
from receptionist.config import ReceptionistConfig
from receptionist.state import ReceptionistState

from .conftest import FakeClock, PhoneCall, duration_of

SENTENCE = "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf"
SESSION = {"id": "s-1", "phone_number": "+4921198765400"}


def play_raw(config: ReceptionistConfig, clock: FakeClock, events: list[dict[str, Any]]) -> Call:
    """A call whose last assistant turn is SENTENCE, then ``events`` sent as they are (no
    playback simulation), each at its ``at`` time: full control over the timing."""
    assistant = build_assistant(config, clock=clock)
    call = Call("s-1", state=ReceptionistState())
    call.history = [Turn(role="assistant", text=SENTENCE)]
    call.is_new = False
    for body in events:
        clock.now = body.pop("at")
        assistant.handle(parse_event({**body, "session": SESSION}), call)
    return call


def test_a_4000_ms_sentence_interrupted_after_1000_ms_keeps_its_first_quarter(
    config: ReceptionistConfig, clock: FakeClock
) -> None:
    start = clock.now
    call = play_raw(
        config,
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


def test_the_interruption_counts_from_when_the_caller_started_talking(
    config: ReceptionistConfig, clock: FakeClock
) -> None:
    start = clock.now
    call = play_raw(
        config,
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


def test_a_repeated_delivery_of_the_interruption_does_not_cut_twice(
    config: ReceptionistConfig, clock: FakeClock
) -> None:
    start = clock.now
    barge_in = {"type": "user_speak", "text": "Moment", "barged_in": True}
    call = play_raw(
        config,
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


def test_an_interrupted_greeting_is_cut_in_the_history(phone: PhoneCall) -> None:
    greeting = phone.start(interrupt_after_ms=1500).text

    phone.say("Ich brauche einen Termin.")

    assert phone.call is not None
    turn = phone.call.history[0]
    assert turn.interrupted
    assert greeting.startswith(turn.text) and len(turn.text) < len(greeting)
    heard_share = len(turn.text) / len(greeting)
    assert abs(heard_share - 1500 / duration_of(greeting)) < 0.1
    assert phone.call.history[1].text == "Ich brauche einen Termin."
    assert "Termine vereinbaren" in phone.call.history[2].text  # the question was answered


def test_a_turn_interrupted_before_its_first_word_is_dropped(phone: PhoneCall) -> None:
    phone.start(interrupt_after_ms=10)

    phone.say("Hallo?")

    assert phone.call is not None
    assert [t.role for t in phone.call.history[:1]] == ["caller"]


def test_a_caller_who_speaks_after_the_sentence_ended_cuts_nothing(phone: PhoneCall) -> None:
    greeting = phone.start().text

    phone.say("Wo kann ich parken?")

    assert phone.call is not None
    assert phone.call.history[0].text == greeting
    assert not phone.call.history[0].interrupted


def test_words_are_kept_once_more_than_half_of_them_was_spoken() -> None:
    assert cut_text("Guten Tag", 0.0) == ""
    assert cut_text("Guten Tag", 0.3) == "Guten"
    assert cut_text("Guten Tag", 0.8) == "Guten"
    assert cut_text("Guten Tag", 0.9) == "Guten Tag"


def test_without_a_clock_the_time_comes_from_aiflow_call_now_ms(
    config: ReceptionistConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant = build_assistant(config)  # the deployed default clock
    call = Call("s-1", state=ReceptionistState())
    call.history = [Turn(role="assistant", text=SENTENCE)]
    call.is_new = False
    speak = {"type": "assistant_speak", "text": SENTENCE, "duration_ms": 4000}
    assistant.handle(
        parse_event({**speak, "speech_started_at": 1_000_000, "session": SESSION}), call
    )
    monkeypatch.setattr("aiflow.call.now_ms", lambda: 1_002_000)

    barge_in = {"type": "user_speak", "text": "Moment", "barged_in": True, "session": SESSION}
    assistant.handle(parse_event(barge_in), call)

    assert call.history[0].text == "eins zwei drei vier fünf sechs"
