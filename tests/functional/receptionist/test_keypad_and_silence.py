"""The keypad menu, and what happens when the caller says nothing."""

from __future__ import annotations

from aiflow import SpeakAction

from .conftest import PhoneCall

MENU = (
    "Für unsere Öffnungszeiten drücken Sie die 1, für die Adresse die 2, für einen Rückruf "
    "die 9, für unseren Empfang die 0."
)


def test_key_1_tells_the_opening_hours(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.press("1")

    assert heard.text.startswith("Unsere Öffnungszeiten: Montag, Dienstag und Donnerstag")
    assert "Im Moment haben wir geöffnet." in heard.text


def test_key_2_tells_the_address(phone: PhoneCall) -> None:
    phone.start()

    assert "Königsallee 12" in phone.press("2").text


def test_an_unassigned_key_says_so_and_reads_the_menu(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.press("5")

    assert heard.text == f"Diese Taste ist leider nicht belegt. {MENU}"


def test_the_star_key_reads_the_menu(phone: PhoneCall) -> None:
    phone.start()

    assert phone.press("*").text == MENU


def test_silence_gets_a_reprompt_with_the_menu(phone: PhoneCall) -> None:
    phone.start()

    heard = phone.stay_silent()

    assert heard.text == f"Sind Sie noch da? Stellen Sie mir gern Ihre Frage. {MENU}"
    assert heard.only(SpeakAction).user_input_timeout_seconds == 8
    assert heard.sequence == ["speak", "(speech ended)"]


def test_the_third_silence_in_a_row_says_goodbye_then_hangs_up(phone: PhoneCall) -> None:
    phone.start()
    phone.stay_silent()
    phone.stay_silent()

    heard = phone.stay_silent()

    assert heard.said == [
        "Ich höre Sie leider nicht. Rufen Sie gern noch einmal an. Auf Wiederhören!"
    ]
    assert heard.sequence == ["speak", "(speech ended)", "hangup"]
    assert phone.hung_up


def test_speaking_resets_the_silence_count(phone: PhoneCall) -> None:
    phone.start()
    phone.stay_silent()
    phone.stay_silent()
    phone.say("Wo kann ich parken?")
    phone.stay_silent()

    heard = phone.stay_silent()

    assert heard.text.startswith("Sind Sie noch da?")
    assert not phone.hung_up


def test_a_key_press_resets_the_silence_count(phone: PhoneCall) -> None:
    phone.start()
    phone.stay_silent()
    phone.stay_silent()
    phone.press("2")

    assert phone.stay_silent().text.startswith("Sind Sie noch da?")
    assert not phone.hung_up


def test_silence_while_a_message_is_expected_asks_for_the_message_again(
    phone: PhoneCall,
) -> None:
    phone.start()
    phone.press("9")

    heard = phone.stay_silent()

    assert heard.text == "Bitte sprechen Sie jetzt Ihre Nachricht, gern mit Ihrem Namen."
