"""A small assistant with a handler for every event of the benchmark call.

Used for the warm latency and request counts (deterministic, no model), and for the cold
start when the reference assistant ``receptionist.app`` is not available.
"""

from __future__ import annotations

from aiflow import Assistant, Call, DtmfReceivedEvent, UserSpeakEvent, hangup, speak
from aiflow.lambda_ import lambda_handler

assistant = Assistant("bench-hello", user_input_timeout=6)


@assistant.on_session_start
def greet() -> object:
    return speak("Hello! Say something.")


@assistant.on_user_speak
def echo(event: UserSpeakEvent, call: Call) -> object:
    call.state["turns"] = call.state.get("turns", 0) + 1
    if "bye" in event.text.lower():
        return ["Goodbye!", hangup()]
    return f"You said: {event.text}"


@assistant.on_dtmf
def key(event: DtmfReceivedEvent) -> object:
    return f"You pressed {event.digit}."


@assistant.on_user_input_timeout
def nudge() -> object:
    return "Are you still there?"


handler = lambda_handler(assistant)
