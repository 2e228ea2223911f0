"""Goodbye: the farewell is played in full, and only then does the call end."""

from __future__ import annotations

import pytest

from aiflow import HangupAction, SpeakAction
from aiflow.testing import CallSimulator


@pytest.mark.parametrize(
    ("words", "farewell"),
    [
        ("Tschüss!", "Vielen Dank für Ihren Anruf bei Praxis Dr. Weber. Auf Wiederhören!"),
        (
            "Danke, auf Wiedersehen.",
            "Vielen Dank für Ihren Anruf bei Praxis Dr. Weber. Auf Wiederhören!",
        ),
        ("Okay, thank you, goodbye!", "Thank you for calling Praxis Dr. Weber. Goodbye!"),
        ("Alright then, bye.", "Thank you for calling Praxis Dr. Weber. Goodbye!"),
    ],
)
def test_goodbye_words_get_a_farewell_and_then_a_hangup(
    call: CallSimulator, words: str, farewell: str
) -> None:
    call.start()

    call.say(words).expect.speak(farewell).speech_ended().hangup().no_more_actions()

    assert (call.state, call.ended_by) == ("ended", "assistant")


def test_the_farewell_cannot_be_interrupted_and_waits_for_nobody(call: CallSimulator) -> None:
    call.start()

    heard = call.say("Tschüss")

    heard.expect.speak(barge_in="none")
    assert heard.only(SpeakAction).user_input_timeout_seconds is None


def test_words_while_the_farewell_plays_do_not_delay_or_undo_the_hangup(
    call: CallSimulator,
) -> None:
    call.start()
    call.say("Tschüss", interrupt_after_ms=500)
    assert isinstance(call.stored.pending[0], HangupAction)

    call.say("Ach, noch eine Frage!").expect.nothing()  # nothing new is said over the farewell

    assert isinstance(call.stored.pending[0], HangupAction)
    call.send({"type": "assistant_speech_ended"}).expect.hangup().no_more_actions()


def test_a_farewell_is_not_triggered_by_a_word_inside_another_word(call: CallSimulator) -> None:
    call.start()

    heard = call.say("Wie kann ich eine Überweisung bekommen?")  # "bye" is not a word here

    assert call.state == "active"
    assert "Überweisungen" in heard.text
