"""A slow turn whose worker cannot be started gets one clear fallback and leaves no marker.

The engine starts the worker first and marks the call only when that worked: a worker that
does not exist (a wrong ``AIFLOW_WORKER_FUNCTION``, say) makes the caller hear the
fallback within the answer budget, and the next speech end is no filler for a worker that
never runs.
"""

from __future__ import annotations

import threading
from typing import Any

from aiflow import Assistant, UserSpeakEvent

from .conftest import Table, call, unique


def test_a_worker_that_cannot_be_started_gets_the_fallback_and_no_slow_turn_marker(
    webhook: Any, table: Table
) -> None:
    release = threading.Event()
    assistant = Assistant(unique("slow"))

    @assistant.on_user_speak
    def think(event: UserSpeakEvent) -> str:
        if "slow" in event.text:
            release.wait(5)
        return "Here you are."

    phone = call(webhook(assistant, worker_function="no-such-worker", turn_budget_ms=300))
    phone.start()
    try:
        slow = phone.say("a slow question")
    finally:
        release.set()
    doc = table.doc(phone.session_id)
    phone.play()
    again = phone.say("a quick one")

    assert slow.said == [assistant.fallback]
    assert slow.seconds < 1.5
    assert doc["slow_turn"] is None
    assert [a.said for a in phone.answers[-3:-1]] == [[], []]  # no filler on its end
    assert again.said == ["Here you are."]
