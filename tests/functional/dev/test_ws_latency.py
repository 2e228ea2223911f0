"""Over a WebSocket an answer has no end: what a caller waits for is its first frame. The dev
server's line and `aiflow call --ws` show that time, not the collector's quiet wait (0.6 s)
after the last frame."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator

import pytest
from rich.console import Console

from aiflow import Assistant, UserSpeakEvent
from aiflow.dev.call import run_call
from aiflow.lambda_ import Settings, lambda_handler, websocket_handler
from aiflow.local.requestlog import RequestLog
from aiflow.local.server import DevServer
from aiflow.local.transports import WebSocketClientTransport
from aiflow.store import MemoryStore
from aiflow.testing.simulator import CallSimulator
from aiflow.ws import streaming

pytestmark = pytest.mark.slow
PAUSE_S = 0.8


def slow_second_sentence() -> Assistant:
    assistant = Assistant("two sentences")

    @assistant.on_session_start
    def greet() -> str:
        return "Hello."

    @assistant.on_user_speak
    @streaming
    def answer(event: UserSpeakEvent) -> Iterator[str]:
        yield "At once."
        time.sleep(PAUSE_S)
        yield "And later."

    return assistant


def test_the_dev_server_and_the_terminal_show_the_time_to_the_first_frame() -> None:
    token = secrets.token_urlsafe(12)
    assistant = slow_second_sentence()
    store = MemoryStore()
    logs: list[RequestLog] = []
    http = lambda_handler(assistant, store=store, token=token, settings=Settings())
    ws = websocket_handler(assistant, store=store, token=token, settings=Settings())
    console = Console(record=True, width=200)
    with DevServer(http, port=0, on_request=logs.append, websocket=ws) as server:
        call = CallSimulator("http://websocket.invalid/", token=token)
        call.transport = WebSocketClientTransport(server.ws_url, token, quiet_s=0.6 + PAUSE_S)
        started = time.monotonic()
        status = run_call(call, console=console, lines=["What now?", "/hangup"])
        elapsed = time.monotonic() - started

    assert status == 0
    said = [log for log in logs if log.event_type == "user_speak"]
    assert len(said) == 1 and said[0].actions == ["speak", "speak"]
    assert said[0].latency_ms < PAUSE_S * 1000 / 2, "the line shows the first frame's time"
    output = console.export_text()
    turn = re.search(r"200 first frame in (\d+) ms", output.split("What now?")[1])
    assert turn and int(turn.group(1)) < PAUSE_S * 1000 / 2, output
    assert elapsed > PAUSE_S  # the whole answer was still collected
