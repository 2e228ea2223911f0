"""Shared pieces of the WebSocket tests: a fake streaming model, a frame recorder, events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiflow import Assistant, Call, UserSpeakEvent, hangup
from aiflow.agents.sentences import SentenceSplitter
from aiflow.auth import TokenSource
from aiflow.store import CallStore, Connections, MemoryConnections, MemoryStore
from aiflow.turns import TurnEngine, TurnLimits
from aiflow.ws import ConnectionGone, WebSocketTransport, streaming

SESSION_ID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
TOKEN = "local-dev-token-0123"
ANSWER = (
    "Our practice is open from eight to six today. "
    "You can come by without an appointment until noon. "
    "After that, please call ahead so we can fit you in. "
    "Is there anything else I can do for you?"
)


def transport_for(
    assistant: Assistant,
    *,
    store: CallStore | None = None,
    connections: Connections | None = None,
    token: str | TokenSource | None = TOKEN,
    cancel_on_speech: bool = True,
    **limits: Any,
) -> WebSocketTransport:
    """A WebSocket transport over a turn engine with in-memory records; ``limits`` are
    :class:`aiflow.turns.TurnLimits` fields (``filler_after_ms``, ``max_turn_ms``, ...)."""
    engine = TurnEngine(assistant, store or MemoryStore(), limits=TurnLimits(**limits))
    return WebSocketTransport(
        engine,
        connections=connections or MemoryConnections(),
        token=token,
        cancel_on_speech=cancel_on_speech,
    )


def event(kind: str, session_id: str = SESSION_ID, **fields: Any) -> str:
    """One platform event as the JSON text of a frame."""
    session = {"id": session_id, "account_id": "acc-1", "phone_number": "+4921198765400"}
    if kind == "session_start":
        session |= {"direction": "inbound", "from_phone_number": "+4917612345678"}
    return json.dumps({"type": kind, "session": session, **fields})


class FakeModel:
    """Streams ``text`` word by word, ``token_s`` per token (word), like ConverseStream."""

    def __init__(self, text: str = ANSWER, token_s: float = 0.03) -> None:
        self.text = text
        self.token_s = token_s
        self.closed = threading.Event()
        self.tokens_sent = 0

    def deltas(self) -> Iterator[str]:
        try:
            for i, word in enumerate(self.text.split(" ")):
                time.sleep(self.token_s)
                self.tokens_sent += 1
                yield word if i == 0 else " " + word
        finally:
            self.closed.set()

    def sentences(self) -> Iterator[str]:
        """Finished sentences as the Bedrock agent yields them."""
        splitter = SentenceSplitter()
        for delta in self.deltas():
            yield from splitter.feed(delta)
        yield from splitter.flush()


@dataclass
class Frames:
    """Records what a transport sends, with the time since ``start``."""

    start: float = field(default_factory=time.monotonic)
    frames: list[tuple[float, Any]] = field(default_factory=list)
    gone: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: str) -> None:
        if self.gone:
            raise ConnectionGone("closed")
        with self.lock:
            self.frames.append((time.monotonic() - self.start, json.loads(body)))

    @property
    def actions(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _, frame in self.frames:
            out.extend(frame if isinstance(frame, list) else [frame])
        return out

    def texts(self) -> list[str]:
        return [a["text"] for a in self.actions if a["type"] == "speak"]


def streaming_assistant(model: FakeModel, **options: Any) -> Assistant:
    """Greets, streams the model's answer, says goodbye and hangs up on "bye"."""
    assistant = Assistant("ws-test", **options)

    @assistant.on_session_start
    def greet() -> str:
        return "Hello, how can I help?"

    @assistant.on_user_speak
    @streaming
    def answer(event: UserSpeakEvent, call: Call) -> Iterator[Any]:
        if "bye" in event.text:
            yield "Goodbye!"
            yield hangup()
            return
        call.state["questions"] = call.state.get("questions", 0) + 1
        yield from model.sentences()

    return assistant
