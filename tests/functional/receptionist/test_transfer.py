"""Putting callers through to a person, and taking a message when nobody answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiflow import SendSmsAction, SpeakAction, TransferAction
from receptionist.config import ReceptionistConfig

from .conftest import TUESDAY_8_PM, FakeClock, PhoneCall


@pytest.mark.parametrize(
    "request_",
    [
        "Ich möchte mit einem Mitarbeiter sprechen.",
        "Können Sie mich bitte verbinden?",
        "I want to speak to a person.",
        "Can I talk to a human, please?",
    ],
)
def test_asking_for_a_person_plays_the_handoff_then_transfers(
    phone: PhoneCall, request_: str
) -> None:
    phone.start()

    heard = phone.say(request_)

    assert len(heard.said) == 1
    assert "verbinde Sie mit unserem Empfang" in heard.text or "through to our reception" in (
        heard.text
    )
    # The transfer is not in the reply to the caller's words: it waits for the speech to end.
    assert heard.sequence == ["speak", "(speech ended)", "transfer"]


def test_the_transfer_has_a_timeout_and_the_configured_caller_id(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.say("Ich möchte mit einem Mitarbeiter sprechen.")

    assert heard.only(TransferAction).to_wire() == {
        "type": "transfer",
        "session_id": phone.session_id,
        "target_phone_number": "4921198765411",
        "caller_id_name": "Praxis Weber",
        "caller_id_number": "4921198765400",
        "timeout": 25,
    }


def test_the_handoff_sentence_cannot_be_interrupted_and_does_not_wait_for_input(
    phone: PhoneCall,
) -> None:
    phone.start()

    handoff = phone.say("Verbinden Sie mich bitte.").only(SpeakAction)

    assert handoff.barge_in is not None and handoff.barge_in.strategy == "none"
    assert handoff.user_input_timeout_seconds is None  # no silence event before the transfer


def test_key_0_puts_the_caller_through(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.press("0")

    assert heard.said == ["Einen Moment bitte, ich verbinde Sie mit unserem Empfang."]
    # The key press stops whatever is playing first (TurnPolicy.dtmf_barge_in).
    assert heard.sequence == ["barge_in", "speak", "(speech ended)", "transfer"]


def test_naming_a_department_puts_the_caller_through_to_it(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.say("Ich habe eine Frage zu meiner Rechnung, bitte verbinden Sie mich.")

    assert heard.said == ["Einen Moment bitte, ich verbinde Sie mit unserer Abrechnung."]
    transfer = heard.only(TransferAction)
    assert transfer.target_phone_number == "4921198765422"
    assert transfer.timeout == 20


def test_when_the_transfer_fails_the_receptionist_apologises_and_takes_a_message(
    phone: PhoneCall,
) -> None:
    phone.start()
    phone.say("Ich möchte mit einem Mitarbeiter sprechen.")

    back = phone.transfer_fails()
    assert back.text == (
        "Entschuldigung, bei unserem Empfang ist gerade niemand erreichbar. Möchten Sie eine "
        "Nachricht hinterlassen? Dann sprechen Sie sie einfach jetzt."
    )

    saved = phone.say("Hier ist Anna Schmidt, bitte rufen Sie mich wegen meiner Blutwerte an.")
    assert saved.text.startswith("Danke, ich habe Ihre Nachricht notiert.")

    [message] = phone.state.messages
    assert message.text == "Hier ist Anna Schmidt, bitte rufen Sie mich wegen meiner Blutwerte an."
    assert message.caller == "+4917612345678"
    assert message.after_transfer_to == "reception"
    assert message.language == "de"


def test_saying_yes_to_the_message_offer_asks_for_the_message(phone: PhoneCall) -> None:
    phone.start()
    phone.say("Ich möchte mit einem Mitarbeiter sprechen.")
    phone.transfer_fails()

    assert phone.say("Ja, gerne.").text.startswith("Bitte sprechen Sie jetzt Ihre Nachricht")
    phone.say("Bitte um Rückruf wegen eines Termins.")

    assert [m.text for m in phone.state.messages] == ["Bitte um Rückruf wegen eines Termins."]


def test_declining_the_message_offer_stores_nothing(phone: PhoneCall) -> None:
    phone.start()
    phone.say("Ich möchte mit einem Mitarbeiter sprechen.")
    phone.transfer_fails()

    heard = phone.say("Nein, danke.")

    assert heard.text == "Alles klar. Kann ich sonst noch etwas für Sie tun?"
    assert phone.state.messages == []


def test_outside_opening_hours_a_message_is_offered_instead_of_a_transfer(
    phone: PhoneCall, clock: FakeClock
) -> None:
    clock.now = TUESDAY_8_PM
    phone.start()

    heard = phone.say("Ich möchte jemanden sprechen.")

    assert heard.text.startswith("Wir sind gerade leider nicht erreichbar. Unsere Öffnungszeiten:")
    assert phone.transferred is None
    phone.say("Bitte rufen Sie mich morgen zurück.")
    assert phone.state.messages[0].text == "Bitte rufen Sie mich morgen zurück."


def test_a_message_can_be_texted_to_the_practice(
    make_call: Callable[..., PhoneCall], config: ReceptionistConfig
) -> None:
    with_sms = config.model_copy(
        update={"messages": config.messages.model_copy(update={"notify_sms": "+491712345678"})}
    )
    phone = make_call(with_sms)
    phone.start()
    phone.press("9")

    heard = phone.say("Bitte Rückruf wegen Impftermin.")

    sms = heard.only(SendSmsAction)
    assert sms.phone_number == "491712345678"
    assert sms.message == "Nachricht von +4917612345678: Bitte Rückruf wegen Impftermin."


def test_an_english_caller_is_handed_off_in_english(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.say("Could you put me through to reception, please?")

    assert heard.said == ["One moment please, I am putting you through to our reception."]
    back = phone.transfer_fails()
    assert back.text.startswith("I am sorry, nobody at our reception is available right now.")


def test_a_later_message_is_not_filed_under_the_failed_transfer(phone: PhoneCall) -> None:
    phone.start()
    phone.press("0")
    phone.transfer_fails()
    phone.say("Nein.")

    phone.press("9")
    phone.say("Bitte schicken Sie mir die Befunde.")

    assert phone.state.messages[0].after_transfer_to is None


def test_a_department_alone_puts_through_but_a_question_about_it_does_not(
    phone: PhoneCall,
) -> None:
    phone.start()

    question = phone.say("Wann ist der Empfang besetzt?")
    assert question.text.startswith("Unsere Öffnungszeiten:")
    assert phone.transferred is None

    request = phone.say("Abrechnung, bitte.")
    assert request.said == ["Einen Moment bitte, ich verbinde Sie mit unserer Abrechnung."]
    assert request.only(TransferAction).target_phone_number == "4921198765422"
