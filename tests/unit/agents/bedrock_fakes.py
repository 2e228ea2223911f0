"""Shared helpers for the agent tests: :class:`FakeConverse` (a fake model behind a real
``bedrock-runtime`` client, answering by what the caller or a tool said last), a stubbed real
client, Converse response builders and a binary AWS event-stream encoder for ConverseStream."""

from __future__ import annotations

import binascii
import copy
import itertools
import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from aiflow import Call
from aiflow.agents import BedrockAgent
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
    return _frame({":event-type": event_type, ":message-type": "event"}, payload)


def encode_exception(error_type: str, message: str) -> bytes:
    """An exception inside an event stream (e.g. ``throttlingException``)."""
    return _frame(
        {":exception-type": error_type, ":message-type": "exception"}, {"message": message}
    )


def _frame(kinds: dict[str, str], payload: dict[str, Any]) -> bytes:
    headers = b""
    for name, value in {**kinds, ":content-type": "application/json"}.items():
        raw_name, raw_value = name.encode(), value.encode()
        headers += struct.pack("B", len(raw_name)) + raw_name
        headers += struct.pack("!BH", 7, len(raw_value)) + raw_value
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def stream_frames(
    deltas: Sequence[str],
    uses: Sequence[tuple[str, str, Sequence[str]]] = (),
    *,
    stop: str,
    tokens: tuple[int, int] = (80, 20),
) -> list[bytes]:
    """A ConverseStream answer: text ``deltas``, then tool calls (id, name, input pieces)."""
    frames = [encode_event("messageStart", {"role": "assistant"})]
    index = 0
    if deltas:
        for text in deltas:
            delta = {"contentBlockIndex": 0, "delta": {"text": text}}
            frames.append(encode_event("contentBlockDelta", delta))
        frames.append(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
        index = 1
    for use_id, name, pieces in uses:
        start = {"toolUse": {"toolUseId": use_id, "name": name}}
        frames.append(
            encode_event("contentBlockStart", {"contentBlockIndex": index, "start": start})
        )
        for piece in pieces:
            delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}}
            frames.append(encode_event("contentBlockDelta", delta))
        frames.append(encode_event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    frames.append(encode_event("messageStop", {"stopReason": stop}))
    usage = {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)}
    frames.append(encode_event("metadata", {"usage": usage, "metrics": {"latencyMs": 200}}))
    return frames


def text_stream(*deltas: str, stop: str = "end_turn") -> list[bytes]:
    return stream_frames(deltas, stop=stop)


def tool_stream(text: str | None, use_id: str, name: str, input_json: list[str]) -> list[bytes]:
    return stream_frames([text] if text else [], [(use_id, name, input_json)], stop="tool_use")


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


# --- a fake model keyed by input -------------------------------------------------------------


@dataclass(frozen=True)
class ModelTurn:
    """What the fake model answers: text, tool calls (name, input), stop reason."""

    text: str | None = None
    uses: tuple[tuple[str, dict[str, Any]], ...] = ()
    stop: str = "end_turn"
    tokens: tuple[int, int] = (100, 10)


def model_turn(
    text: str | None = None,
    *uses: tuple[str, dict[str, Any]],
    stop: str | None = None,
    tokens: tuple[int, int] = (100, 10),
) -> ModelTurn:
    """``model_turn("Gern.", ("end_call", {"farewell": "Tschüss."}))``."""
    return ModelTurn(text, uses, stop or ("tool_use" if uses else "end_turn"), tokens)


@dataclass(frozen=True)
class AwsError:
    """An error answer of the Bedrock endpoint (HTTP status and error code)."""

    code: str
    status: int = 400
    message: str = "refused"


Answer = ModelTurn | AwsError | Exception


@dataclass
class FakeConverse:
    """A fake Bedrock model behind a real ``bedrock-runtime`` client.

    ``answers`` maps the latest input of a request to what the model says: the caller's
    text, or the tool results (``"8-12"``; an error result as ``"error: <text>"``; several
    joined by ``" | "``). A list of answers is used one after the other (retries). An
    input without an answer fails the test. Requests go through botocore for real
    (validation, serialisation, signing, the retries of the client's config) and answers
    through its parsers, for Converse and ConverseStream; ``requests`` records each one
    as ``{"modelId": ..., **body}``. Tool calls get the ids ``t1``, ``t2``, ….
    """

    answers: Mapping[str, Answer | Sequence[Answer]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[_Raw] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _used: dict[str, int] = field(default_factory=dict)

    def serve(self, client: Any) -> FakeConverse:
        """Answer the Converse and ConverseStream calls of ``client``."""
        events = client.meta.events
        events.register("before-send.bedrock-runtime.Converse", self._converse)
        events.register("before-send.bedrock-runtime.ConverseStream", self._converse_stream)
        return self

    @property
    def inputs(self) -> list[str]:
        """The latest input of each request, in order."""
        return [latest_input(r["messages"]) for r in self.requests]

    def _answer(self, request: Any) -> ModelTurn | AwsError:
        body = json.loads(request.body)
        model_id = unquote(request.url.split("/model/", 1)[1].rsplit("/", 1)[0])
        self.requests.append(copy.deepcopy({"modelId": model_id, **body}))
        key = latest_input(body["messages"])
        if key not in self.answers:
            raise AssertionError(f"the fake model has no answer for {key!r}: {list(self.answers)}")
        answer = self.answers[key]
        if isinstance(answer, Sequence):
            index = self._used.get(key, 0)
            self._used[key] = index + 1
            answer = answer[min(index, len(answer) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _uses(self, turn: ModelTurn) -> list[dict[str, Any]]:
        return [
            {"toolUseId": f"t{next(self._ids)}", "name": name, "input": args}
            for name, args in turn.uses
        ]

    def _converse(self, request: Any, **kwargs: Any) -> AWSResponse:
        turn = self._answer(request)
        if isinstance(turn, AwsError):
            return _error_response(request, turn)
        content = ([{"text": turn.text}] if turn.text else []) + [
            {"toolUse": use} for use in self._uses(turn)
        ]
        body = converse_response(content, turn.stop, turn.tokens)
        raw = _Raw([json.dumps(body).encode()])
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, raw)

    def _converse_stream(self, request: Any, **kwargs: Any) -> AWSResponse:
        turn = self._answer(request)
        if isinstance(turn, AwsError):
            return _error_response(request, turn)
        words = turn.text.split(" ") if turn.text else []
        deltas = [word if i == 0 else " " + word for i, word in enumerate(words)]  # as it comes
        uses = []
        for use in self._uses(turn):
            raw = json.dumps(use["input"])
            uses.append(
                (use["toolUseId"], use["name"], [raw[: len(raw) // 2], raw[len(raw) // 2 :]])
            )
        frames = stream_frames(deltas, uses, stop=turn.stop, tokens=turn.tokens)
        self.bodies.append(_Raw(frames))
        headers = {"content-type": "application/vnd.amazon.eventstream"}
        return AWSResponse(request.url, 200, headers, self.bodies[-1])


def latest_input(messages: list[dict[str, Any]]) -> str:
    """The caller's text or the tool results of the last message, as a FakeConverse key."""
    parts: list[str] = []
    for block in messages[-1]["content"]:
        if "text" in block:
            parts.append(block["text"])
        elif "toolResult" in block:
            result = block["toolResult"]
            for item in result["content"]:
                shown = item["text"] if "text" in item else json.dumps(item["json"])
                parts.append(("error: " if result.get("status") == "error" else "") + shown)
    return " | ".join(parts)


def _error_response(request: Any, error: AwsError) -> AWSResponse:
    body = json.dumps({"message": error.message}).encode()
    headers = {"content-type": "application/json", "x-amzn-errortype": error.code}
    return AWSResponse(request.url, error.status, headers, _Raw([body]))


# --- the practice assistant of the scenarios --------------------------------------------------

CONFIG: dict[str, Any] = {
    "model_id": MODEL,
    "system_prompt": SYSTEM,
    "transfer_targets": {
        "reception": {
            "number": "+4921198765411",
            "caller_id_name": "Praxis Weber",
            "caller_id_number": "+4921198765400",
            "timeout": 25,
            "description": "front desk",
        },
        "billing": ["+49 211 98765422", "Praxis Weber", "+4921198765400"],
    },
    "allow_sms": True,
    "max_tokens": 200,
    "temperature": 0.3,
}


def opening_hours(day: Literal["mon", "tue", "wed", "thu", "fri"]) -> str:
    """Opening hours on one weekday.

    Args:
        day: the weekday.
    """
    return "8-12" if day == "fri" else "8-18"


def practice(
    answers: Mapping[str, Answer | Sequence[Answer]],
    *,
    tools: Sequence[Any] = (opening_hours,),
    **overrides: Any,
) -> tuple[BedrockAgent, FakeConverse]:
    """The agent of CONFIG (with ``overrides``) on its own client, and the model behind it."""
    agent = BedrockAgent({**CONFIG, **overrides}, tools=list(tools))
    return agent, FakeConverse(answers).serve(agent.client)


def wire(actions: Sequence[Any]) -> list[dict[str, Any]]:
    return [a.to_wire() for a in actions]


def tool_use(use_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": use_id, "name": name, "input": args}}


def result(use_id: str, text: str, *, error: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"toolUseId": use_id, "content": [{"text": text}]}
    if error:
        block["status"] = "error"
    return {"toolResult": block}
