"""Greeting, questions and answers, in German and English."""

from __future__ import annotations

from collections.abc import Callable

from aiflow import ConfigureTranscriptionAction
from aiflow.testing import CallSimulator
from receptionist.config import ReceptionistConfig


def test_the_caller_is_greeted_in_german_with_the_configured_voice(call: CallSimulator) -> None:
    heard = call.start()

    assert heard.text.startswith("Praxis Dr. Weber, guten Tag.")
    heard.expect.skip().speak(
        voice="de-DE-KatjaNeural",
        timeout=8,  # the platform reports silence
        barge_in="minimum_characters",
    ).speech_ended().no_more_actions()


def test_speech_recognition_is_set_up_for_both_languages_before_the_greeting(
    call: CallSimulator,
) -> None:
    heard = call.start()

    heard.expect.action("configure_transcription").speak()
    assert heard.only(ConfigureTranscriptionAction).languages == ["de-DE", "en-GB"]


def test_an_english_receptionist_greets_in_english(
    make_call: Callable[..., CallSimulator], config: ReceptionistConfig
) -> None:
    english = config.model_copy(update={"language": "en"})
    heard = make_call(english).start()

    assert heard.text.startswith("Dr. Weber's practice, hello.")
    heard.expect.skip().speak(voice="en-GB-SoniaNeural")


def test_a_faq_question_is_answered_and_followed_by_anything_else(call: CallSimulator) -> None:
    call.start()

    heard = call.say("Kann ich bei Ihnen ein Rezept bestellen?")

    assert "Folgerezepte und Überweisungen" in heard.text
    assert heard.text.endswith("Kann ich sonst noch etwas für Sie tun?")


def test_a_misspelt_question_still_finds_its_answer(call: CallSimulator) -> None:
    call.start()

    heard = call.say("Wann habt ihr geöfnet?")

    assert heard.text.startswith("Unsere Öffnungszeiten: Montag, Dienstag und Donnerstag")
    assert "Im Moment haben wir geöffnet." in heard.text


def test_a_question_close_to_an_example_question_matches_without_keywords(
    call: CallSimulator,
) -> None:
    call.start()

    call.say("Wo finde ich denn die Praxis?").expect.speak(contains="Königsallee 12")


def test_an_english_caller_gets_english_answers_after_the_german_greeting(
    call: CallSimulator,
) -> None:
    call.start()

    heard = call.say("Hello, what are your openning hours?")

    assert heard.text.startswith("Our opening hours: Monday, Tuesday and Thursday from 8 am")
    heard.expect.speak(voice="en-GB-SoniaNeural").speech_ended().no_more_actions()
    assert call.stored.state.language == "en"


def test_asking_for_a_language_switches_to_it(call: CallSimulator) -> None:
    call.start()

    call.say("Sprechen Sie Englisch?").expect.speak(
        "Of course, I will speak English with you. How can I help?"
    ).no_more_actions()


def test_an_unknown_question_gets_a_clarifying_question_listing_the_topics(
    call: CallSimulator,
) -> None:
    call.start()

    heard = call.say("Wie wird das Wetter morgen?")

    assert heard.text.startswith("Entschuldigung, das habe ich nicht ganz verstanden.")
    assert "unseren Öffnungszeiten, Terminen, Rezepten" in heard.text
    assert heard.text.endswith("Worum geht es?")


def test_after_two_misses_a_person_is_offered_and_yes_puts_the_caller_through(
    call: CallSimulator,
) -> None:
    call.start()
    call.say("Wie wird das Wetter morgen?")

    call.say("Haben Sie Hunde?").expect.speak(
        "Das kann ich leider nicht beantworten. Soll ich Sie mit einem Mitarbeiter verbinden?"
    ).no_more_actions()

    call.say("Ja, bitte.").expect.speak(
        "Einen Moment bitte, ich verbinde Sie mit unserem Empfang."
    ).speech_ended().transfer().no_more_actions()


def test_declining_the_offered_person_keeps_the_conversation_going(call: CallSimulator) -> None:
    call.start()
    call.say("Wie wird das Wetter morgen?")
    call.say("Haben Sie Hunde?")

    call.say("Nein.").expect.speak(
        "Alles klar. Kann ich sonst noch etwas für Sie tun?"
    ).no_more_actions()

    assert call.transfer is None


def test_thanks_after_an_answer_ends_the_call_politely(call: CallSimulator) -> None:
    call.start()
    call.say("Wo kann ich parken?")

    call.say("Nein danke.").expect.speak(
        "Vielen Dank für Ihren Anruf bei Praxis Dr. Weber. Auf Wiederhören!"
    ).speech_ended().hangup().no_more_actions()


def test_yes_to_anything_else_invites_the_next_question(call: CallSimulator) -> None:
    call.start()
    call.say("Wo kann ich parken?")

    call.say("Ja.").expect.speak("Gern, worum geht es?").no_more_actions()
    call.say("Ich brauche ein Folgerezept").expect.speak(contains="Folgerezepte")


def test_the_history_holds_both_sides_of_the_conversation(call: CallSimulator) -> None:
    call.start()
    call.say("Wo kann ich parken?")

    assert [t.role for t in call.stored.history] == ["assistant", "caller", "assistant"]


def test_hallo_is_answered_as_a_check_that_someone_is_there(call: CallSimulator) -> None:
    call.start()

    call.say("Hallo? Ist da jemand?").expect.speak(
        "Ja, ich bin da. Wie kann ich Ihnen helfen?"
    ).no_more_actions()
    call.say("Hello, are you there?").expect.speak(
        "Yes, I am here. How can I help you?"
    ).no_more_actions()
    assert call.transfer is None  # "jemand" here is not a request for a person
