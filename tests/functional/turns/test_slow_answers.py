"""A slow answer answers a question the caller may have moved on from: when they speak, press
a key or interrupt (the legacy ``user_barge_in`` without text) before it is delivered, it is
dropped — whether the worker is still running or has already left it in the call record."""

from __future__ import annotations

import threading
from typing import Any

from aiflow import Assistant, UserSpeakEvent, parse_event
from aiflow.store import MemoryStore
from aiflow.turns import TurnEngine, TurnLimits

SESSION = {"id": "0c0ffee0-0000-4000-8000-000000000001", "phone_number": "+4921198765400"}


def event(kind: str, **fields: Any) -> Any:
    return parse_event({"type": kind, "session": SESSION, **fields})


class Line:
    """A webhook engine whose slow turns are captured, and a worker engine to finish them."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.assistant = Assistant("slow")

        @self.assistant.on_user_speak
        def answer(event: UserSpeakEvent) -> str:
            if event.text.startswith("slow"):
                self.release.wait(5)
                return f"The late answer to {event.text!r}."
            return f"A quick answer to {event.text!r}."

        self.store = MemoryStore()
        self.payloads: list[dict[str, Any]] = []
        self.webhook = TurnEngine(self.assistant, self.store, limits=TurnLimits(turn_budget_ms=200))
        self.webhook.deferrer = self.payloads.append
        self.worker = TurnEngine(self.assistant, self.store)

    def texts(self, kind: str, **fields: Any) -> list[str]:
        report = self.webhook.run(event(kind, **fields))
        return [a.text for a in report.actions if getattr(a, "text", None)]

    def finish_worker(self) -> Any:
        self.release.set()
        return self.worker.finish_slow_turn(self.payloads[-1])


def test_the_caller_speaking_before_the_worker_is_done_drops_the_slow_answer() -> None:
    line = Line()
    line.webhook.run(event("session_start"))
    assert line.texts("user_speak", text="slow question") == ["One moment, please …"]

    # The caller does not wait: they ask something else.
    assert line.texts("user_speak", text="never mind, when are you open?") == [
        "A quick answer to 'never mind, when are you open?'."
    ]
    done = line.finish_worker()

    assert done.abandoned  # the call no longer waits for it
    assert line.texts("assistant_speech_ended") == []
    history = [t["text"] for t in line.store.get(SESSION["id"])["history"]]  # type: ignore[index]
    assert "The late answer to 'slow question'." not in history


def test_an_interruption_after_the_worker_delivered_drops_the_held_answer() -> None:
    line = Line()
    line.webhook.run(event("session_start"))
    line.texts("user_speak", text="slow question")
    done = line.finish_worker()
    assert not done.abandoned
    assert line.store.get(SESSION["id"])["pending"]["source"] == "slow_turn"  # type: ignore[index]

    line.webhook.run(event("user_barge_in"))  # the legacy interruption, without text

    assert line.texts("assistant_speech_ended") == []
    assert line.store.get(SESSION["id"]).get("pending") is None  # type: ignore[union-attr]


def test_without_an_interruption_the_slow_answer_is_delivered_on_the_speech_end() -> None:
    line = Line()
    line.webhook.run(event("session_start"))
    line.texts("user_speak", text="slow question")
    line.finish_worker()

    assert line.texts("assistant_speech_ended") == ["The late answer to 'slow question'."]
