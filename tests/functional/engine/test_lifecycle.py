"""After ``session_end`` the call is over: later events are answered 204 and change nothing.

Late events (a delayed speech end, a retried user_speak, even a new session_start with the
same id) run no handler, store nothing, and do not extend the record's lifetime; a
``session_start`` after the end does not bring the call back.
"""

from __future__ import annotations

from typing import Any

from aiflow import Assistant, Call, UserSpeakEvent

from .conftest import Table, call, unique

LATE_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("assistant_speech_ended", {}),
    ("assistant_speak", {"text": "Hallo", "duration_ms": 800}),
    ("user_speak", {"text": "Hallo? Sind Sie noch da?"}),
    ("user_input_timeout", {}),
    ("dtmf_received", {"digit": "5"}),
    ("session_start", {}),
    ("session_end", {}),
]


def counting_line(ran: list[str]) -> Assistant:
    assistant = Assistant(unique("lifecycle"))

    @assistant.on_session_start
    def greet(call: Call) -> str:
        ran.append("session_start")
        return "Hallo, wie kann ich helfen?"

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent) -> str:
        ran.append("user_speak")
        return "Gern."

    @assistant.on_event
    def other() -> None:
        ran.append("other")

    return assistant


def test_events_after_session_end_are_answered_204_and_store_nothing(
    webhook: Any, table: Table
) -> None:
    ran: list[str] = []
    phone = call(webhook(counting_line(ran)))
    phone.start()
    phone.play()
    phone.say("Danke, das war alles.")
    assert phone.hang_up().status == 204
    ended = table.item(phone.session_id)
    assert ended is not None and table.doc(phone.session_id)["status"] == "ended"
    handled = list(ran)

    late = [phone.send(kind, **fields) for kind, fields in LATE_EVENTS]

    assert [a.status for a in late] == [204] * len(LATE_EVENTS)
    assert ran == handled, "a handler ran for a call that had ended"
    after = table.item(phone.session_id)
    assert after is not None
    assert after["version"] == ended["version"]
    assert after["expires_at"] == ended["expires_at"], "a late event extended the lifetime"
    assert table.doc(phone.session_id)["status"] == "ended"


def test_a_session_start_after_the_end_does_not_bring_the_call_back(
    webhook: Any, table: Table
) -> None:
    ran: list[str] = []
    phone = call(webhook(counting_line(ran)))
    phone.start()
    phone.hang_up()

    again = phone.start()
    spoken = phone.say("Hallo?")

    assert (again.status, spoken.status) == (204, 204)
    assert ran == ["session_start", "other"]  # the first greeting and session_end only
    assert table.doc(phone.session_id)["status"] == "ended"
