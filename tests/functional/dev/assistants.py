"""Assistants that ``aiflow dev`` serves in the dev tests (``module:object`` targets)."""

from __future__ import annotations

import threading
from typing import Any

from aiflow import Assistant, UserSpeakEvent, speak
from aiflow.routing import Router

broken = Assistant("dev-broken")
broken.on_session_start(lambda: "Weather line.")


@broken.on_user_speak
def answer(event: UserSpeakEvent) -> str:
    raise RuntimeError("the weather service is down")


returns_a_dict = Assistant("dev-dict")


@returns_a_dict.on_session_start
def greet() -> Any:
    return {"type": "speak", "text": "Hello"}  # not an action: a plain dict


wrong_voice = Assistant("dev-voice")


@wrong_voice.on_session_start
def greet_in_a_voice() -> Any:
    return speak("Hello", tts={"provider": "elevenlabs", "voice": "Rachel"})


class Slow:
    """The first run of each answer waits for ``gate`` (longer than the turn budget); the
    worker's run of it is quick."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.runs = 0


slow_state = Slow()
slow = Assistant("dev-slow")
slow.on_session_start(lambda: "Weather line.")


@slow.on_user_speak
def slow_answer(event: UserSpeakEvent) -> str:
    slow_state.runs += 1
    if slow_state.runs == 1:
        slow_state.gate.wait(10)
    return "Sunny, 25 degrees."


day, night = Assistant("dev-day"), Assistant("dev-night")
day.on_session_start(lambda: "Good day.")
night.on_session_start(lambda: "Good night.")
numbers = Router({"+49 211 98765400": day, "+49 211 98765499": night})
