"""Greeting, questions and answers, in German and English."""

from __future__ import annotations

from collections.abc import Callable

from aiflow import ConfigureTranscriptionAction, SpeakAction
from receptionist.config import ReceptionistConfig

from .conftest import PhoneCall


def test_the_caller_is_greeted_in_german_with_the_configured_voice(phone: PhoneCall) -> None:
    heard = phone.start()

    assert heard.text.startswith("Praxis Dr. Weber, guten Tag.")
    greeting = heard.only(SpeakAction)
    assert greeting.tts is not None and greeting.tts.voice == "de-DE-KatjaNeural"
    assert greeting.user_input_timeout_seconds == 8  # the platform reports silence
    assert greeting.barge_in is not None and greeting.barge_in.strategy == "minimum_characters"


def test_speech_recognition_is_set_up_for_both_languages_before_the_greeting(
    phone: PhoneCall,
) -> None:
    heard = phone.start()

    assert heard.sequence[:2] == ["configure_transcription", "speak"]
    setup = heard.only(ConfigureTranscriptionAction)
    assert setup.languages == ["de-DE", "en-GB"]


def test_an_english_receptionist_greets_in_english(
    make_call: Callable[..., PhoneCall], config: ReceptionistConfig
) -> None:
    english = config.model_copy(update={"language": "en"})
    heard = make_call(english).start()

    assert heard.text.startswith("Dr. Weber's practice, hello.")
    assert heard.only(SpeakAction).tts.voice == "en-GB-SoniaNeural"


def test_a_faq_question_is_answered_and_followed_by_anything_else(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.say("Kann ich bei Ihnen ein Rezept bestellen?")

    assert "Folgerezepte und Überweisungen" in heard.text
    assert heard.text.endswith("Kann ich sonst noch etwas für Sie tun?")


def test_a_misspelt_question_still_finds_its_answer(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.say("Wann habt ihr geöfnet?")

    assert heard.text.startswith("Unsere Öffnungszeiten: Montag, Dienstag und Donnerstag")
    assert "Im Moment haben wir geöffnet." in heard.text


def test_a_question_close_to_an_example_question_matches_without_keywords(
    phone: PhoneCall,
) -> None:
    phone.start()

    heard = phone.say("Wo finde ich denn die Praxis?")

    assert "Königsallee 12" in heard.text


def test_an_english_caller_gets_english_answers_after_the_german_greeting(
    phone: PhoneCall,
) -> None:
    phone.start()

    heard = phone.say("Hello, what are your openning hours?")

    assert heard.text.startswith("Our opening hours: Monday, Tuesday and Thursday from 8 am")
    assert heard.only(SpeakAction).tts.voice == "en-GB-SoniaNeural"
    assert phone.state.language == "en"


def test_asking_for_a_language_switches_to_it(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.say("Sprechen Sie Englisch?")

    assert heard.text == "Of course, I will speak English with you. How can I help?"


def test_an_unknown_question_gets_a_clarifying_question_listing_the_topics(
    phone: PhoneCall,
) -> None:
    phone.start()

    heard = phone.say("Wie wird das Wetter morgen?")

    assert heard.text.startswith("Entschuldigung, das habe ich nicht ganz verstanden.")
    assert "unseren Öffnungszeiten, Terminen, Rezepten" in heard.text
    assert heard.text.endswith("Worum geht es?")


def test_after_two_misses_a_person_is_offered_and_yes_puts_the_caller_through(
    phone: PhoneCall,
) -> None:
    phone.start()
    phone.say("Wie wird das Wetter morgen?")

    offer = phone.say("Haben Sie Hunde?")
    assert offer.text == (
        "Das kann ich leider nicht beantworten. Soll ich Sie mit einem Mitarbeiter verbinden?"
    )

    heard = phone.say("Ja, bitte.")
    assert heard.said == ["Einen Moment bitte, ich verbinde Sie mit unserem Empfang."]
    assert heard.sequence == ["speak", "(speech ended)", "transfer"]


def test_declining_the_offered_person_keeps_the_conversation_going(phone: PhoneCall) -> None:
    phone.start()
    phone.say("Wie wird das Wetter morgen?")
    phone.say("Haben Sie Hunde?")

    heard = phone.say("Nein.")

    assert heard.text == "Alles klar. Kann ich sonst noch etwas für Sie tun?"
    assert phone.transferred is None


def test_thanks_after_an_answer_ends_the_call_politely(phone: PhoneCall) -> None:
    phone.start()
    phone.say("Wo kann ich parken?")

    heard = phone.say("Nein danke.")

    assert heard.said == ["Vielen Dank für Ihren Anruf bei Praxis Dr. Weber. Auf Wiederhören!"]
    assert heard.sequence == ["speak", "(speech ended)", "hangup"]


def test_yes_to_anything_else_invites_the_next_question(phone: PhoneCall) -> None:
    phone.start()
    phone.say("Wo kann ich parken?")

    assert phone.say("Ja.").text == "Gern, worum geht es?"
    assert "Folgerezepte" in phone.say("Ich brauche ein Folgerezept").text


def test_the_history_holds_both_sides_of_the_conversation(phone: PhoneCall) -> None:
    phone.start()
    phone.say("Wo kann ich parken?")

    assert phone.call is not None
    roles = [t.role for t in phone.call.history]
    assert roles == ["assistant", "caller", "assistant"]


def test_hallo_is_answered_as_a_check_that_someone_is_there(phone: PhoneCall) -> None:
    phone.start()

    assert phone.say("Hallo? Ist da jemand?").text == "Ja, ich bin da. Wie kann ich Ihnen helfen?"
    assert phone.say("Hello, are you there?").text == "Yes, I am here. How can I help you?"
    assert phone.transferred is None  # "jemand" here is not a request for a person
