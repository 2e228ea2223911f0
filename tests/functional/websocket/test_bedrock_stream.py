"""The Bedrock engine over the WebSocket transport: ConverseStream (a real bedrock-runtime
client, botocore's event-stream parser, frames trickling in) -> one ``speak`` frame per
finished sentence; a tool's hangup waits for the farewell; an interrupted answer leaves the
model's history untouched."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from aiflow import Assistant, Call, UserSpeakEvent
from aiflow.agents import BedrockAgent
from aiflow.ws import WebSocketTransport, streaming
from tests.unit.agents.bedrock_fakes import (
    MODEL,
    SYSTEM,
    StreamServer,
    _Raw,
    aws_env,
    stubbed_client,
    text_stream,
    tool_stream,
)

from .helpers import SESSION_ID, Frames, event, transport_for


class _Trickle(_Raw):
    """An event-stream body whose frames arrive ``delay`` seconds apart."""

    def __init__(self, chunks: list[bytes], delay: float) -> None:
        super().__init__(chunks)
        self.delay = delay

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for chunk in self._chunks:
            time.sleep(self.delay)
            if self.closed:
                return
            yield chunk


class SlowStreamServer(StreamServer):
    def __init__(self, client: Any, delay: float) -> None:
        super().__init__(client)
        self.delay = delay

    def _send(self, request: Any, **kwargs: Any) -> AWSResponse:
        import json

        self.requests.append(json.loads(request.body))
        self.bodies.append(_Trickle(self.queue.pop(0), self.delay))
        return AWSResponse(
            request.url,
            200,
            {"content-type": "application/vnd.amazon.eventstream"},
            self.bodies[-1],
        )


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> tuple[WebSocketTransport, SlowStreamServer]:
    aws_env(monkeypatch)
    client, _ = stubbed_client()
    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "language": "de"}, client=client
    )
    server = SlowStreamServer(client, delay=0.08)
    assistant = Assistant("praxis", language="de-DE", user_input_timeout=5)

    @assistant.on_user_speak
    @streaming
    def answer(event: UserSpeakEvent, call: Call) -> Iterator[Any]:
        yield from agent.stream(call, event.text)

    transport = transport_for(assistant)
    return transport, server


def test_each_finished_sentence_is_one_frame(
    setup: tuple[WebSocketTransport, SlowStreamServer],
) -> None:
    transport, server = setup
    server.add(text_stream("Gern! Ihr Termin", " ist am 3. Mai um 10 Uhr.", " Passt", " das?"))
    frames = Frames()
    outcome = transport.receive("c-1", event("user_speak", text="Wann ist mein Termin?"), frames)
    assert outcome.reason is None and not outcome.fallback
    assert [f[1]["text"] for f in frames.frames] == [
        "Gern!",
        "Ihr Termin ist am 3. Mai um 10 Uhr.",
        "Passt das?",
    ]
    times = [t for t, _ in frames.frames]
    assert times[1] - times[0] > 0.1 and times[2] - times[1] > 0.1
    assert frames.frames[-1][1]["user_input_timeout_seconds"] == 5
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    messages = doc["state"]["bedrock"]["messages"]
    assert messages[-1] == {
        "role": "assistant",
        "content": [{"text": "Gern! Ihr Termin ist am 3. Mai um 10 Uhr. Passt das?"}],
    }


def test_the_end_call_tool_hangs_up_after_the_farewell(
    setup: tuple[WebSocketTransport, SlowStreamServer],
) -> None:
    transport, server = setup
    server.add(tool_stream("Gern geschehen.", "t1", "end_call", ['{"farewell": "Tschüss!"}']))
    frames = Frames()
    transport.receive("c-1", event("user_speak", text="Danke, das war alles."), frames)
    assert [a["type"] for a in frames.actions] == ["speak", "speak"]
    assert frames.texts() == ["Gern geschehen.", "Tschüss!"]
    assert frames.actions[-1]["barge_in"] == {"strategy": "none"}
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert doc["pending"]["actions"] == [{"type": "hangup", "session_id": SESSION_ID}]
    assert len(doc["pending"]["awaiting"]) == 2


def test_an_interrupted_answer_is_not_written_to_the_model_history(
    setup: tuple[WebSocketTransport, SlowStreamServer],
) -> None:
    transport, server = setup
    server.add(
        text_stream("Gern!", " Der erste Satz.", " Der zweite", " Satz.", " Der dritte", " Satz.")
    )
    frames = Frames()
    done: dict[str, Any] = {}
    asking = threading.Thread(
        target=lambda: done.update(
            outcome=transport.receive("c-1", event("user_speak", text="Erzähl was."), frames)
        )
    )
    asking.start()
    while not frames.frames:
        time.sleep(0.005)
    transport.receive("c-1", event("user_speech_started"), frames)
    asking.join(5)
    assert done["outcome"].interrupted
    assert len(frames.texts()) < 4
    assert server.bodies[0].closed, "the ConverseStream connection was released"
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert "bedrock" not in doc["state"], "no half turn in the model's history"
    spoken = [t["text"] for t in doc["history"] if t["role"] == "assistant"]
    assert spoken == frames.texts(), "call.history keeps what the caller heard"
