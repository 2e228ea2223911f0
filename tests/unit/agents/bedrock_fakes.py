"""Shared helpers for the agent tests: a stubbed real bedrock-runtime client, Converse
response builders and a binary AWS event-stream encoder for ConverseStream."""

from __future__ import annotations

import binascii
import json
import struct
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from aiflow import Call
from aiflow.protocol.events import Session

MODEL = "eu.anthropic.claude-3-5-haiku-20241022-v1:0"
SYSTEM = "You are the phone assistant of Praxis Weber. Answer briefly."
CALLER = "+4917612345678"


def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no config files: nothing can reach real AWS."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def new_call(caller: str | None = CALLER, state: Any = None) -> Call:
    call = Call.from_session(
        Session.model_validate(
            {"id": "s-1", "account_id": "a", "phone_number": "+4921198765400"}
            | ({"from_phone_number": caller} if caller else {})
        ),
        state=state,
    )
    return call


def text_response(text: str, stop: str = "end_turn", tokens: tuple[int, int] = (120, 12)) -> dict:
    return converse_response([{"text": text}], stop, tokens)


def tool_response(*uses: tuple[str, str, dict[str, Any]], text: str | None = None) -> dict:
    content: list[dict[str, Any]] = [{"text": text}] if text else []
    content += [{"toolUse": {"toolUseId": i, "name": n, "input": inp}} for i, n, inp in uses]
    return converse_response(content, "tool_use", (150, 30))


def converse_response(
    content: list[dict[str, Any]], stop: str, tokens: tuple[int, int] = (100, 10)
) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {
            "inputTokens": tokens[0],
            "outputTokens": tokens[1],
            "totalTokens": sum(tokens),
        },
        "metrics": {"latencyMs": 321},
    }


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}]}


def stubbed_client() -> tuple[Any, Stubber]:
    client = boto3.client("bedrock-runtime", region_name="eu-central-1")
    return client, Stubber(client)


# --- ConverseStream over the real parser ---------------------------------------------------


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message (the binary framing botocore's EventStream parses)."""
    headers = b""
    for name, value in (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ):
        raw_name, raw_value = name.encode(), value.encode()
        headers += struct.pack("B", len(raw_name)) + raw_name
        headers += struct.pack("!BH", 7, len(raw_value)) + raw_value
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def encode_exception(error_type: str, message: str) -> bytes:
    headers = b""
    for name, value in (
        (":exception-type", error_type),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ):
        raw_name, raw_value = name.encode(), value.encode()
        headers += struct.pack("B", len(raw_name)) + raw_name
        headers += struct.pack("!BH", 7, len(raw_value)) + raw_value
    body = json.dumps({"message": message}).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    frame = prelude + headers + body
    return frame + struct.pack("!I", binascii.crc32(frame) & 0xFFFFFFFF)


def text_stream(*deltas: str, stop: str = "end_turn") -> list[bytes]:
    frames = [encode_event("messageStart", {"role": "assistant"})]
    frames += [
        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": d}})
        for d in deltas
    ]
    frames.append(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(encode_event("messageStop", {"stopReason": stop}))
    frames.append(
        encode_event(
            "metadata",
            {
                "usage": {"inputTokens": 80, "outputTokens": 20, "totalTokens": 100},
                "metrics": {"latencyMs": 200},
            },
        )
    )
    return frames


def tool_stream(text: str | None, use_id: str, name: str, input_json: list[str]) -> list[bytes]:
    frames = [encode_event("messageStart", {"role": "assistant"})]
    index = 0
    if text:
        frames.append(
            encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})
        )
        frames.append(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
        index = 1
    frames.append(
        encode_event(
            "contentBlockStart",
            {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": use_id, "name": name}}},
        )
    )
    for piece in input_json:
        frames.append(
            encode_event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}},
            )
        )
    frames.append(encode_event("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(encode_event("messageStop", {"stopReason": "tool_use"}))
    frames.append(
        encode_event(
            "metadata",
            {
                "usage": {"inputTokens": 90, "outputTokens": 25, "totalTokens": 115},
                "metrics": {"latencyMs": 250},
            },
        )
    )
    return frames


class _Raw:
    """What urllib3 would hand botocore: a body that streams chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield from self._chunks

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return b"".join(self._chunks)


class StreamServer:
    """Answers ConverseStream calls of a real client with queued event streams, in-process.

    Hooks ``before-send`` so botocore serialises, signs and later parses everything for real;
    records the JSON body of each request.
    """

    def __init__(self, client: Any) -> None:
        self.queue: list[list[bytes]] = []
        self.requests: list[dict[str, Any]] = []
        self.bodies: list[_Raw] = []
        client.meta.events.register("before-send.bedrock-runtime.ConverseStream", self._send)

    def add(self, frames: list[bytes]) -> None:
        self.queue.append(frames)

    def _send(self, request: Any, **kwargs: Any) -> AWSResponse:
        self.requests.append(json.loads(request.body))
        self.bodies.append(_Raw(self.queue.pop(0)))
        return AWSResponse(
            request.url,
            200,
            {"content-type": "application/vnd.amazon.eventstream"},
            self.bodies[-1],
        )
