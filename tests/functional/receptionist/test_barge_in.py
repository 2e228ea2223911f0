"""Barge-in in the receptionist: the history keeps only the part of a sentence the caller
probably heard (the framework trims it; see tests/unit/test_barge_in_history.py), and the
receptionist answers the question that interrupted it."""

from __future__ import annotations

from aiflow.testing import CallSimulator


def test_an_interrupted_greeting_is_cut_in_the_history(call: CallSimulator) -> None:
    greeted = call.start(interrupt_after_ms=1500)
    greeting = greeted.text
    played_ms = next(
        e.event["duration_ms"] for e in greeted.exchanges if e.event["type"] == "assistant_speak"
    )

    call.say("Ich brauche einen Termin.").expect.speak(contains="Termine vereinbaren")

    history = call.stored.history
    assert history[0].interrupted
    assert greeting.startswith(history[0].text) and len(history[0].text) < len(greeting)
    heard_share = len(history[0].text) / len(greeting)
    assert abs(heard_share - 1500 / played_ms) < 0.1
    assert history[1].text == "Ich brauche einen Termin."
    assert "Termine vereinbaren" in history[2].text  # the question was answered


def test_a_turn_interrupted_before_its_first_word_is_dropped(call: CallSimulator) -> None:
    call.start(interrupt_after_ms=10)

    call.say("Hallo?")

    assert [t.role for t in call.stored.history[:1]] == ["caller"]


def test_a_caller_who_speaks_after_the_sentence_ended_cuts_nothing(call: CallSimulator) -> None:
    greeting = call.start().text

    call.say("Wo kann ich parken?")

    assert call.stored.history[0].text == greeting
    assert not call.stored.history[0].interrupted
