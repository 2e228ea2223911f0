"""A hangup waits for its own farewell, whatever order the platform reports speeches in.

The caller talks over the greeting to say goodbye; the greeting's speech end arrives late,
while the farewell already plays. Matched by the ``assistant_speak`` texts, that late end
releases nothing: the hangup follows the farewell's own end. A platform that reports no
``assistant_speak`` leaves the call counting speech ends (one per awaited speech).
"""

from __future__ import annotations

from typing import Any

from aiflow import Assistant, UserSpeakEvent, hangup

from .conftest import Table, call, unique

GREETING = "Praxis Dr. Weber, guten Tag. Wie kann ich Ihnen helfen?"
FAREWELL = "Gern geschehen. Auf Wiederhören!"


def line() -> Assistant:
    assistant = Assistant(unique("order"), language="de-DE")

    @assistant.on_session_start
    def greet() -> str:
        return GREETING

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent) -> Any:
        words = event.text.lower()
        if "danke" in words:
            return ["Danke für Ihren Anruf.", FAREWELL, hangup()]
        if "tschüss" in words:
            return [FAREWELL, hangup()]
        return "Gern."

    return assistant


def test_the_greetings_late_speech_end_does_not_cut_off_the_farewell(
    webhook: Any, table: Table
) -> None:
    phone = call(webhook(line()))
    phone.start()
    phone.start_speech()  # the greeting plays ...
    phone.say("Tschüss", barged_in=True)  # ... the caller talks over it

    late = phone.late_speech_end()  # the greeting's end, reported late
    phone.start_speech()  # the farewell
    held = list(phone.endings)
    phone.end_speech()

    assert late.status == 204 and held == []
    assert phone.endings == ["hangup"]
    assert phone.heard == [FAREWELL]
    assert phone.cut == []


def test_a_late_speech_end_during_the_first_of_two_sentences_releases_nothing(
    webhook: Any, table: Table
) -> None:
    phone = call(webhook(line()))
    phone.start()
    phone.start_speech()
    phone.say("Nein danke", barged_in=True)
    phone.start_speech()  # "Danke für Ihren Anruf." plays

    late = phone.late_speech_end()  # the greeting's end
    phone.end_speech()
    phone.start_speech()  # the farewell
    held = list(phone.endings)
    phone.end_speech()

    assert late.status == 204 and held == []
    assert phone.endings == ["hangup"]
    assert phone.heard == ["Danke für Ihren Anruf.", FAREWELL]
    assert phone.cut == []


def test_without_assistant_speak_reports_the_call_counts_speech_ends(
    webhook: Any, table: Table
) -> None:
    phone = call(webhook(line()))
    phone.start()
    assert phone.send("assistant_speech_ended").status == 204
    phone.queue.clear()
    farewell = phone.say("Danke, das war's")

    first = phone.send("assistant_speech_ended")
    second = phone.send("assistant_speech_ended")

    assert farewell.said == ["Danke für Ihren Anruf.", FAREWELL]
    assert first.types == [] and second.types == ["hangup"]
