"""Barge-in in the receptionist: the history keeps only the part of a sentence the caller
probably heard (the framework trims it; see tests/unit/test_barge_in_history.py), and the
receptionist answers the question that interrupted it."""

from __future__ import annotations

from .conftest import PhoneCall, duration_of


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
