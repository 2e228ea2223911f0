"""Goodbye: the farewell is played in full, and only then does the call end."""

from __future__ import annotations

import pytest

from aiflow import HangupAction, SpeakAction

from .conftest import PhoneCall


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
    phone: PhoneCall, words: str, farewell: str
) -> None:
    phone.start()

    heard = phone.say(words)

    assert heard.said == [farewell]
    assert heard.sequence == ["speak", "(speech ended)", "hangup"]
    assert phone.hung_up


def test_the_farewell_cannot_be_interrupted_and_waits_for_nobody(phone: PhoneCall) -> None:
    phone.start()

    farewell = phone.say("Tschüss").only(SpeakAction)

    assert farewell.barge_in is not None and farewell.barge_in.strategy == "none"
    assert farewell.user_input_timeout_seconds is None


def test_words_while_the_farewell_plays_do_not_delay_or_undo_the_hangup(
    phone: PhoneCall,
) -> None:
    phone.start()
    phone.say("Tschüss", interrupt_after_ms=500)
    assert phone.call is not None and isinstance(phone.call.pending[0], HangupAction)

    heard = phone.say("Ach, noch eine Frage!")

    assert heard.actions == []  # nothing new is said over the farewell
    assert isinstance(phone.call.pending[0], HangupAction)
    assert phone.send({"type": "assistant_speech_ended"})[0].type == "hangup"


def test_a_farewell_is_not_triggered_by_a_word_inside_another_word(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.say("Wie kann ich eine Überweisung bekommen?")  # "bye" is not a word here

    assert not phone.hung_up
    assert "Überweisungen" in heard.text
