"""Putting callers through to a person, and taking a message when nobody answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiflow import FakeClock, SendSmsAction, SpeakAction, TransferAction
from aiflow.testing import CallSimulator
from receptionist.config import ReceptionistConfig

from .conftest import TUESDAY_8_PM


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
    call: CallSimulator, request_: str
) -> None:
    call.start()

    heard = call.say(request_)

    assert len(heard.spoken) == 1
    assert "verbinde Sie mit unserem Empfang" in heard.text or "through to our reception" in (
        heard.text
    )
    # The transfer is not in the reply to the caller's words: it waits for the speech to end.
    heard.expect.speak().speech_ended().transfer().no_more_actions()


def test_the_transfer_has_a_timeout_and_the_configured_caller_id(call: CallSimulator) -> None:
    call.start()

    heard = call.say("Ich möchte mit einem Mitarbeiter sprechen.")

    assert heard.only(TransferAction).to_wire() == {
        "type": "transfer",
        "session_id": call.session_id,
        "target_phone_number": "4921198765411",
        "caller_id_name": "Praxis Weber",
        "caller_id_number": "4921198765400",
        "timeout": 25,
    }


def test_the_handoff_sentence_cannot_be_interrupted_and_does_not_wait_for_input(
    call: CallSimulator,
) -> None:
    call.start()

    heard = call.say("Verbinden Sie mich bitte.")

    heard.expect.speak(barge_in="none")
    assert heard.only(SpeakAction).user_input_timeout_seconds is None  # no silence event first


def test_key_0_puts_the_caller_through(call: CallSimulator) -> None:
    call.start()

    # The key press stops whatever is playing first (TurnPolicy.dtmf_barge_in).
    call.press("0").expect.barge_in().speak(
        "Einen Moment bitte, ich verbinde Sie mit unserem Empfang."
    ).speech_ended().transfer().no_more_actions()


def test_naming_a_department_puts_the_caller_through_to_it(call: CallSimulator) -> None:
    call.start()

    call.say("Ich habe eine Frage zu meiner Rechnung, bitte verbinden Sie mich.").expect.speak(
        "Einen Moment bitte, ich verbinde Sie mit unserer Abrechnung."
    ).speech_ended().transfer("+49 211 98765422", timeout=20).no_more_actions()


def test_when_the_transfer_fails_the_receptionist_apologises_and_takes_a_message(
    call: CallSimulator,
) -> None:
    call.start()
    call.say("Ich möchte mit einem Mitarbeiter sprechen.")

    call.fail_transfer().expect.speak(
        "Entschuldigung, bei unserem Empfang ist gerade niemand erreichbar. Möchten Sie eine "
        "Nachricht hinterlassen? Dann sprechen Sie sie einfach jetzt."
    ).no_more_actions()

    saved = call.say("Hier ist Anna Schmidt, bitte rufen Sie mich wegen meiner Blutwerte an.")
    assert saved.text.startswith("Danke, ich habe Ihre Nachricht notiert.")

    [message] = call.stored.state.messages
    assert message.text == "Hier ist Anna Schmidt, bitte rufen Sie mich wegen meiner Blutwerte an."
    assert message.caller == "+4917612345678"
    assert message.after_transfer_to == "reception"
    assert message.language == "de"


def test_saying_yes_to_the_message_offer_asks_for_the_message(call: CallSimulator) -> None:
    call.start()
    call.say("Ich möchte mit einem Mitarbeiter sprechen.")
    call.fail_transfer()

    assert call.say("Ja, gerne.").text.startswith("Bitte sprechen Sie jetzt Ihre Nachricht")
    call.say("Bitte um Rückruf wegen eines Termins.")

    assert [m.text for m in call.stored.state.messages] == ["Bitte um Rückruf wegen eines Termins."]


def test_declining_the_message_offer_stores_nothing(call: CallSimulator) -> None:
    call.start()
    call.say("Ich möchte mit einem Mitarbeiter sprechen.")
    call.fail_transfer()

    call.say("Nein, danke.").expect.speak(
        "Alles klar. Kann ich sonst noch etwas für Sie tun?"
    ).no_more_actions()

    assert call.stored.state.messages == []


def test_outside_opening_hours_a_message_is_offered_instead_of_a_transfer(
    call: CallSimulator, clock: FakeClock
) -> None:
    clock.set(TUESDAY_8_PM)
    call.start()

    heard = call.say("Ich möchte jemanden sprechen.")

    assert heard.text.startswith("Wir sind gerade leider nicht erreichbar. Unsere Öffnungszeiten:")
    assert call.transfer is None
    call.say("Bitte rufen Sie mich morgen zurück.")
    assert call.stored.state.messages[0].text == "Bitte rufen Sie mich morgen zurück."


def test_a_message_can_be_texted_to_the_practice(
    make_call: Callable[..., CallSimulator], config: ReceptionistConfig
) -> None:
    with_sms = config.model_copy(
        update={"messages": config.messages.model_copy(update={"notify_sms": "+491712345678"})}
    )
    call = make_call(with_sms)
    call.start()
    call.press("9")

    heard = call.say("Bitte Rückruf wegen Impftermin.")

    sms = heard.only(SendSmsAction)
    assert sms.phone_number == "491712345678"
    assert sms.message == "Nachricht von +4917612345678: Bitte Rückruf wegen Impftermin."


def test_an_english_caller_is_handed_off_in_english(call: CallSimulator) -> None:
    call.start()

    call.say("Could you put me through to reception, please?").expect.speak(
        "One moment please, I am putting you through to our reception."
    ).speech_ended().transfer().no_more_actions()
    back = call.fail_transfer()
    assert back.text.startswith("I am sorry, nobody at our reception is available right now.")


def test_a_later_message_is_not_filed_under_the_failed_transfer(call: CallSimulator) -> None:
    call.start()
    call.press("0")
    call.fail_transfer()
    call.say("Nein.")

    call.press("9")
    call.say("Bitte schicken Sie mir die Befunde.")

    assert call.stored.state.messages[0].after_transfer_to is None


def test_a_department_alone_puts_through_but_a_question_about_it_does_not(
    call: CallSimulator,
) -> None:
    call.start()

    question = call.say("Wann ist der Empfang besetzt?")
    assert question.text.startswith("Unsere Öffnungszeiten:")
    assert call.transfer is None

    call.say("Abrechnung, bitte.").expect.speak(
        "Einen Moment bitte, ich verbinde Sie mit unserer Abrechnung."
    ).speech_ended().transfer("+49 211 98765422")


def test_a_transfer_that_connects_is_recorded_as_a_transfer(call: CallSimulator) -> None:
    call.start()
    call.press("0")

    call.close()

    assert call.ended_by == "transferred to 4921198765411"
    assert call.conversation()[-1] == {"who": "platform", "text": "transferred to 4921198765411"}
    assert call.stored.status == "ended"
