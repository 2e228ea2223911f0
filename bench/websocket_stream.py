"""Time to the first word: a streamed answer over WebSocket versus the same answer over HTTP.

One assistant, one handler (``@streaming`` around ``BedrockAgent.stream``), served by the dev
server on loopback through the real Lambda handlers: ``POST /webhook`` (HTTP API) and
``ws://.../ws`` (WebSocket API). The model is a fake ``bedrock-runtime`` client with realistic
timing: ``--ttft-ms`` before the first token, then ``--token-ms`` per token (a word here), for
a 4-sentence answer. Over HTTP the caller hears nothing until the whole answer is ready; over
the WebSocket the first sentence is sent as soon as it is complete.

    .venv/bin/python bench/websocket_stream.py [--runs 5] [--token-ms 30] [--ttft-ms 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import statistics
import time
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

ANSWER = (
    "Our practice is open from eight in the morning to six in the evening today. "
    "You can come by without an appointment until noon. "
    "After that, please call ahead so that we can fit you in between two appointments. "
    "Is there anything else I can do for you?"
)


class FakeBedrock:
    """``converse_stream`` with token timing, like Bedrock's ConverseStream."""

    def __init__(self, text: str, *, ttft_s: float, token_s: float) -> None:
        self.words = text.split(" ")
        self.ttft_s = ttft_s
        self.token_s = token_s

    def converse_stream(self, **_: Any) -> dict[str, Any]:
        return {"stream": self._events()}

    def converse(self, **_: Any) -> dict[str, Any]:
        time.sleep(self.ttft_s + self.token_s * len(self.words))
        content = [{"text": " ".join(self.words)}]
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 100, "outputTokens": len(self.words)},
        }

    def _events(self) -> Iterator[dict[str, Any]]:
        yield {"messageStart": {"role": "assistant"}}
        time.sleep(self.ttft_s)
        for i, word in enumerate(self.words):
            if i:
                time.sleep(self.token_s)
            text = word if i == 0 else " " + word
            yield {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": text}}}
        yield {"contentBlockStop": {"contentBlockIndex": 0}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        yield {"metadata": {"usage": {"inputTokens": 100, "outputTokens": len(self.words)}}}


def build_assistant(model: FakeBedrock) -> Any:
    from aiflow import Assistant, Call, UserSpeakEvent
    from aiflow.agents import BedrockAgent
    from aiflow.ws import streaming

    agent = BedrockAgent(
        {"model_id": "fake.model-v1:0", "system_prompt": "Answer briefly."},
        client=model,  # type: ignore[arg-type]
    )
    assistant = Assistant("bench-stream", user_input_timeout=6)

    @assistant.on_session_start
    def greet() -> str:
        return "Hello, how can I help?"

    @assistant.on_user_speak
    @streaming
    def answer(event: UserSpeakEvent, call: Call) -> Iterator[Any]:
        yield from agent.stream(call, event.text)

    return assistant


def event(kind: str, session_id: str, **fields: Any) -> str:
    session = {"id": session_id, "account_id": "bench", "phone_number": "+4921198765400"}
    return json.dumps({"type": kind, "session": session, **fields})


def http_turn(url: str, token: str) -> dict[str, float]:
    session_id = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "X-API-TOKEN": token}

    def post(body: str) -> tuple[float, Any]:
        started = time.perf_counter()
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            data = json.loads(response.read())
        return (time.perf_counter() - started) * 1000, data

    post(event("session_start", session_id))
    elapsed, reply = post(event("user_speak", session_id, text="When are you open?"))
    actions = reply if isinstance(reply, list) else [reply]
    assert " ".join(a["text"] for a in actions) == ANSWER, actions
    return {"first": elapsed, "full": elapsed, "frames": 1}


def ws_turn(url: str, token: str) -> dict[str, float]:
    from websockets.sync.client import connect

    session_id = str(uuid.uuid4())
    with connect(url, additional_headers={"X-API-TOKEN": token}, proxy=None) as ws:
        ws.send(event("session_start", session_id))
        ws.recv(timeout=10)
        started = time.perf_counter()
        ws.send(event("user_speak", session_id, text="When are you open?"))
        times: list[float] = []
        texts: list[str] = []
        while " ".join(texts) != ANSWER:
            frame = json.loads(ws.recv(timeout=30))
            times.append((time.perf_counter() - started) * 1000)
            texts += [a["text"] for a in (frame if isinstance(frame, list) else [frame])]
        return {"first": times[0], "full": times[-1], "frames": len(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--token-ms", type=float, default=30.0, help="time per token")
    parser.add_argument("--ttft-ms", type=float, default=300.0, help="time to the first token")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")  # Powertools' metric warnings (metrics are disabled)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    logging.disable(logging.WARNING)
    from aiflow.lambda_ import Settings, lambda_handler, websocket_handler
    from aiflow.local.server import DevServer
    from aiflow.store import MemoryStore

    model = FakeBedrock(ANSWER, ttft_s=args.ttft_ms / 1000, token_s=args.token_ms / 1000)
    assistant = build_assistant(model)
    token = secrets.token_urlsafe(16)
    store = MemoryStore()
    settings = Settings(turn_budget_ms=10_000)  # the whole answer fits in the HTTP turn
    http = lambda_handler(assistant, store=store, token=token, settings=settings)
    ws = websocket_handler(assistant, store=store, token=token, settings=settings)
    results: dict[str, list[dict[str, float]]] = {"HTTP  POST /webhook": [], "WebSocket  /ws": []}
    with DevServer(http, port=0, websocket=ws) as server:
        http_turn(server.webhook_url, token)  # warm up both paths
        ws_turn(server.ws_url, token)
        for _ in range(args.runs):
            results["HTTP  POST /webhook"].append(http_turn(server.webhook_url, token))
            results["WebSocket  /ws"].append(ws_turn(server.ws_url, token))

    words = len(ANSWER.split(" "))
    model_ms = args.ttft_ms + args.token_ms * (words - 1)
    sentences = 4
    print(
        f"Streamed answer: {sentences} sentences, {words} tokens, first token after "
        f"{args.ttft_ms:.0f} ms, then {args.token_ms:.0f} ms per token "
        f"(model alone: {model_ms:.0f} ms). Loopback dev server, real Lambda handlers, "
        f"median of {args.runs} runs."
    )
    print()
    header = f"  {'transport':<22}{'first speak':>14}{'full answer':>14}{'frames':>9}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    medians: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        medians[name] = median
        print(
            f"  {name:<22}{median['first']:>11.0f} ms{median['full']:>11.0f} ms"
            f"{median['frames']:>9.0f}"
        )
    http_first = medians["HTTP  POST /webhook"]["first"]
    ws_first = medians["WebSocket  /ws"]["first"]
    print()
    print(
        "  first speak over the WebSocket = model until the first sentence is complete + "
        "the next token (the sentence end is decided on it) + 50 ms look-ahead (is it the last?)."
    )
    print(
        f"  The caller hears the first sentence {http_first - ws_first:.0f} ms earlier over the "
        f"WebSocket ({ws_first / http_first:.0%} of the HTTP wait)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
