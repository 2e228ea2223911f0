"""Real WebSocket round trips on loopback: websockets client -> the dev server's /ws (API Gateway
WebSocket stand-in) -> the real WebSocket Lambda handler -> DynamoDB (embedded moto)."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from aiflow import Assistant
from aiflow.lambda_ import Settings, lambda_handler, websocket_handler
from aiflow.local.embedded import EmbeddedDynamoDB
from aiflow.local.server import DevServer, RequestLog
from aiflow.local.transports import SimulatorError, WebSocketClientTransport
from aiflow.local.websocket import websocket_event
from aiflow.testing.simulator import CallOptions, CallSimulator

from .helpers import ANSWER, FakeModel, event, streaming_assistant

pytestmark = pytest.mark.slow

SENTENCES = [
    "Our practice is open from eight to six today.",
    "You can come by without an appointment until noon.",
    "After that, please call ahead so we can fit you in.",
    "Is there anything else I can do for you?",
]


@dataclass
class Running:
    server: DevServer
    db: EmbeddedDynamoDB
    token: str
    model: FakeModel
    logs: list[RequestLog]

    def connect(self, token: str | None = None) -> ClientConnection:
        headers = {"X-API-TOKEN": token if token is not None else self.token}
        return connect(self.server.ws_url, additional_headers=headers, proxy=None)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    token = secrets.token_urlsafe(12)
    logs: list[RequestLog] = []
    model = FakeModel(token_s=0.03)
    assistant = streaming_assistant(model, user_input_timeout=6)
    with EmbeddedDynamoDB(prefix=f"ws-{secrets.token_hex(3)}-") as db:
        settings = Settings()
        http = lambda_handler(assistant, store=db.store(), token=token, settings=settings)
        ws = websocket_handler(assistant, store=db.store(), token=token, settings=settings)
        with DevServer(http, port=0, on_request=logs.append, websocket=ws) as server:
            yield Running(server, db, token, model, logs)


def receive(ws: ClientConnection, count: int, timeout: float = 5) -> list[tuple[float, Any]]:
    started = time.monotonic()
    frames = []
    for _ in range(count):
        text = ws.recv(timeout=timeout)
        frames.append((time.monotonic() - started, json.loads(text)))
    return frames


def test_the_websocket_url_is_served_next_to_the_webhook(running: Running) -> None:
    port = running.server.port
    assert running.server.ws_url == f"ws://127.0.0.1:{port}/ws"
    session_id = str(uuid.uuid4())
    request = urllib.request.Request(
        running.server.webhook_url,
        data=event("session_start", session_id).encode(),
        headers={"Content-Type": "application/json", "X-API-TOKEN": running.token},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read())["text"] == "Hello, how can I help?"


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_connection_without_the_token_is_refused(running: Running, token: str | None) -> None:
    headers = {"X-API-TOKEN": token} if token else {}
    with pytest.raises(InvalidStatus) as refused:
        connect(running.server.ws_url, additional_headers=headers, proxy=None)
    assert refused.value.response.status_code == 401
    assert json.loads(bytes(refused.value.response.body))["code"] == "unauthorized"


def test_a_whole_call_with_a_streamed_answer(running: Running) -> None:
    session_id = str(uuid.uuid4())
    with running.connect() as ws:
        ws.send(event("session_start", session_id))
        ((_, greeting),) = receive(ws, 1)
        assert greeting["text"] == "Hello, how can I help?"

        ws.send(event("user_speak", session_id, text="When are you open?"))
        answer = receive(ws, 4)
        assert [frame["text"] for _, frame in answer] == SENTENCES
        assert all(frame["type"] == "speak" for _, frame in answer), "one action per frame"
        first, last = answer[0][0], answer[-1][0]
        # The first sentence arrives while the rest is still being generated.
        assert last - first > 0.4
        assert first < 0.6 * last
        assert answer[-1][1]["user_input_timeout_seconds"] == 6

        ws.send(event("assistant_speak", session_id, text="x", duration_ms=1, speech_started_at=1))
        ws.send(event("user_speak", session_id, text="bye"))
        ((_, goodbye),) = receive(ws, 1)
        assert goodbye["text"] == "Goodbye!"
        ws.send(event("assistant_speech_ended", session_id))
        ((_, hangup),) = receive(ws, 1)
        assert hangup == {"type": "hangup", "session_id": session_id}
        ws.send(event("session_end", session_id))
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)  # "no action" = nothing is sent
    stored = running.db.item(session_id)
    assert stored is not None and json.loads(stored["doc"]["S"])["state"] == {"questions": 1}
    # $disconnect removed the connection record; the server forgot the socket.
    deadline = time.monotonic() + 3
    while running.server.websocket.open_connections and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.02)
    assert running.server.websocket.open_connections == 0  # type: ignore[union-attr]
    items = running.db.client().scan(TableName=running.db.table_name())["Items"]
    assert not [i for i in items if i["session_id"]["S"].startswith("conn#")]
    lines = [log for log in running.logs if log.session_id == session_id]
    assert [log.method for log in lines] == ["WS"] * len(lines)
    assert ["speak"] * 4 in [log.actions for log in lines]


def test_the_caller_talking_stops_the_streamed_answer(running: Running) -> None:
    session_id = str(uuid.uuid4())
    with running.connect() as ws:
        ws.send(event("session_start", session_id))
        receive(ws, 1)
        ws.send(event("user_speak", session_id, text="When are you open?"))
        ((_, first),) = receive(ws, 1)
        assert first["text"] == SENTENCES[0]
        ws.send(event("user_speech_started", session_id))
        rest = []
        try:
            while True:
                rest.append(json.loads(ws.recv(timeout=1.0)))
        except TimeoutError:
            pass
        assert len(rest) <= 1, "at most the sentence under way when the caller spoke"


def test_two_calls_at_once_keep_their_frames_apart(running: Running) -> None:
    results: dict[str, list[str]] = {}

    def call(name: str) -> None:
        session_id = str(uuid.uuid4())
        with running.connect() as ws:
            ws.send(event("session_start", session_id))
            ws.send(event("user_speak", session_id, text="hours?"))
            frames = [json.loads(ws.recv(timeout=5)) for _ in range(5)]
            assert {f["session_id"] for f in frames} == {session_id}
            results[name] = [f["text"] for f in frames]

    threads = [threading.Thread(target=call, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results["a"] == results["b"] == ["Hello, how can I help?", *SENTENCES]


def test_the_call_simulator_over_the_websocket(running: Running) -> None:
    """What `aiflow call --ws` does: the simulator's platform side over a real socket."""
    seen: list[float] = []
    transport = WebSocketClientTransport(
        running.server.ws_url, running.token, on_frame=lambda _, at: seen.append(at)
    )
    call = CallSimulator("http://unused.invalid/", token=running.token, options=CallOptions())
    call.transport = transport
    with call:
        assert call.start().spoken == ["Hello, how can I help?"]
        turn = call.say("When are you open?")
        assert turn.spoken == SENTENCES
        assert " ".join(turn.spoken) == ANSWER.strip()
        assert seen[-4] < seen[-1], "the sentences came as separate frames, over time"
        bye = call.say("bye")
        assert bye.spoken == ["Goodbye!"]
        assert call.state == "ended" and call.ended_by == "assistant"


def test_the_call_simulator_reports_a_refused_token(running: Running) -> None:
    with pytest.raises(SimulatorError, match="401"):
        WebSocketClientTransport(running.server.ws_url, "wrong")


def test_a_websocket_upgrade_elsewhere_or_without_a_handler_is_plain_http(running: Running) -> None:
    assistant = Assistant("plain")
    with DevServer(
        lambda_handler(assistant, token="a-websocket-token-123", settings=Settings()), port=0
    ) as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(server.ws_url, additional_headers={"X-API-TOKEN": "t"}, proxy=None)
        assert refused.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as elsewhere:
        connect(
            running.server.ws_url.replace("/ws", "/other"),
            additional_headers={"X-API-TOKEN": running.token},
            proxy=None,
        )
    assert elsewhere.value.response.status_code == 404


def test_websocket_events_look_like_api_gateway() -> None:
    connected = websocket_event("$connect", "abc=", headers={"X-API-TOKEN": "t"})
    assert connected["requestContext"]["eventType"] == "CONNECT"
    assert connected["multiValueHeaders"] == {"X-API-TOKEN": ["t"]}
    message = websocket_event("$default", "abc=", body="{}", at=5)
    context = message["requestContext"]
    assert (context["eventType"], context["requestTimeEpoch"], message["body"]) == (
        "MESSAGE",
        5,
        "{}",
    )
    assert "messageId" in context and context["stage"] == "local"
