"""The hello example assistant, driven through a whole call in-process."""

from __future__ import annotations

import json
from typing import Any

from aiflow import Call, parse_event
from aiflow.protocol import reply_body
from tests.examples.hello import assistant

SESSION_ID = "0b6c8d2e-1f3a-4b5c-9d7e-8f9a0b1c2d3e"


def send(call: Call, kind: str, **fields: Any) -> list[dict[str, Any]]:
    """Deliver one event as the platform would and return the reply body as JSON."""
    body = json.dumps({"type": kind, "session": {"id": SESSION_ID}, **fields})
    reply = assistant.handle(parse_event(body), call)
    text = reply_body(reply.actions)
    if text is None:
        return []
    decoded = json.loads(text)
    return decoded if isinstance(decoded, list) else [decoded]


def test_the_call_starts_with_the_greeting() -> None:
    call = Call(SESSION_ID)
    assert send(call, "session_start") == [
        {"type": "speak", "session_id": SESSION_ID, "text": "Hello! Say something."}
    ]


def test_what_the_caller_says_is_echoed() -> None:
    call = Call(SESSION_ID)
    send(call, "session_start")
    assert send(call, "user_speak", text="Good morning") == [
        {"type": "speak", "session_id": SESSION_ID, "text": "You said: Good morning"}
    ]


def test_bye_says_goodbye_now_and_hangs_up_only_after_the_farewell_was_heard() -> None:
    call = Call(SESSION_ID)
    send(call, "session_start")
    assert send(call, "assistant_speech_ended") == []

    farewell = send(call, "user_speak", text="OK, bye then")
    assert farewell == [
        {
            "type": "speak",
            "session_id": SESSION_ID,
            "text": "Goodbye!",
            "barge_in": {"strategy": "none"},
        }
    ]
    assert [a.to_wire() for a in call.pending] == [{"type": "hangup", "session_id": SESSION_ID}]

    assert send(call, "assistant_speak", text="Goodbye!", duration_ms=900) == []
    assert send(call, "assistant_speech_ended") == [{"type": "hangup", "session_id": SESSION_ID}]
    assert call.pending == []
    assert send(call, "session_end") == []


def test_the_conversation_is_remembered_in_the_call_history() -> None:
    call = Call(SESSION_ID)
    send(call, "session_start")
    send(call, "user_speak", text="Bye")
    assert [(t.role, t.text) for t in call.history] == [
        ("assistant", "Hello! Say something."),
        ("caller", "Bye"),
        ("assistant", "Goodbye!"),
    ]
