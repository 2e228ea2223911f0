"""The keypad menu, and what happens when the caller says nothing."""

from __future__ import annotations

from aiflow.testing import CallSimulator

MENU = (
    "Für unsere Öffnungszeiten drücken Sie die 1, für die Adresse die 2, für einen Rückruf "
    "die 9, für unseren Empfang die 0."
)


def test_key_1_tells_the_opening_hours(call: CallSimulator) -> None:
    call.start()

    heard = call.press("1")

    assert heard.text.startswith("Unsere Öffnungszeiten: Montag, Dienstag und Donnerstag")
    assert "Im Moment haben wir geöffnet." in heard.text


def test_key_2_tells_the_address(call: CallSimulator) -> None:
    call.start()

    assert "Königsallee 12" in call.press("2").text


def test_an_unassigned_key_says_so_and_reads_the_menu(call: CallSimulator) -> None:
    call.start()

    assert call.press("5").text == f"Diese Taste ist leider nicht belegt. {MENU}"


def test_the_star_key_reads_the_menu(call: CallSimulator) -> None:
    call.start()

    assert call.press("*").text == MENU


def test_silence_gets_a_reprompt_with_the_menu(call: CallSimulator) -> None:
    call.start()

    call.stay_silent().expect.speak(
        f"Sind Sie noch da? Stellen Sie mir gern Ihre Frage. {MENU}", timeout=8
    ).speech_ended().no_more_actions()


def test_the_third_silence_in_a_row_says_goodbye_then_hangs_up(call: CallSimulator) -> None:
    call.start()
    call.stay_silent()
    call.stay_silent()

    call.stay_silent().expect.speak(
        "Ich höre Sie leider nicht. Rufen Sie gern noch einmal an. Auf Wiederhören!"
    ).speech_ended().hangup().no_more_actions()

    assert call.ended_by == "assistant"


def test_speaking_resets_the_silence_count(call: CallSimulator) -> None:
    call.start()
    call.stay_silent()
    call.stay_silent()
    call.say("Wo kann ich parken?")
    call.stay_silent()

    assert call.stay_silent().text.startswith("Sind Sie noch da?")
    assert call.state == "active"


def test_a_key_press_resets_the_silence_count(call: CallSimulator) -> None:
    call.start()
    call.stay_silent()
    call.stay_silent()
    call.press("2")

    assert call.stay_silent().text.startswith("Sind Sie noch da?")
    assert call.state == "active"


def test_silence_while_a_message_is_expected_asks_for_the_message_again(
    call: CallSimulator,
) -> None:
    call.start()
    call.press("9")

    call.stay_silent().expect.speak(
        "Bitte sprechen Sie jetzt Ihre Nachricht, gern mit Ihrem Namen."
    ).no_more_actions()
