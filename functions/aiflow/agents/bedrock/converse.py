"""Bedrock's Converse API: one model call from request to a clean reply.

:class:`Converse` builds the request (system prompt, bounded history, tools, inference
settings, prompt-cache points), calls ``converse`` or ``converse_stream`` on a
``bedrock-runtime`` client created lazily with the timeouts and retries of the
:class:`BedrockConfig`, parses the answer (a stream into sentences as they complete) into
text and tool-use blocks, and maps every boto3/botocore error to an
:class:`~aiflow.agents.AgentError`. Each call is logged with model id, step, stop reason,
token counts and latency — never text, tool arguments or numbers.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...awsclients import error_code
from ...redact import log_failure
from ..errors import AgentError
from ..sentences import SentenceSplitter, split_sentences
from .config import BedrockConfig

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

logger = logging.getLogger("aiflow.agents")

_RETRYABLE = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServerException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ModelStreamErrorException",
    "TooManyRequestsException",
}
TRUNCATED = ("max_tokens", "model_context_window_exceeded")
"""Stop reasons of an answer that was cut off."""


@dataclass
class Reply:
    """One model response: text and ``toolUse`` blocks, and why the model stopped."""

    content: list[dict[str, Any]]
    stop_reason: str


class Converse:
    """The model calls of one agent.

    Args:
        config: the agent's configuration.
        client: a ``bedrock-runtime`` client (or an object with its ``converse`` and
            ``converse_stream``); default: created on first use.
        clock: monotonic seconds, for the latency logs.
    """

    def __init__(
        self,
        config: BedrockConfig,
        client: BedrockRuntimeClient | None,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self._client = client
        self._clock = clock

    @property
    def client(self) -> BedrockRuntimeClient:
        """The ``bedrock-runtime`` client (created on first use, from :mod:`aiflow.awsclients`:
        the first model turn of a cold start imports neither boto3 nor a second session)."""
        if self._client is None:
            from botocore.config import Config

            from ... import awsclients

            self._client = awsclients.client(
                "bedrock-runtime",
                region_name=self.config.region,
                endpoint_url=self.config.endpoint_url,
                config=Config(**self.config.client_settings()),
            )
        return self._client

    def request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The Converse request for ``messages`` with ``tools`` (their ``toolSpec`` entries)."""
        cfg = self.config
        system: list[dict[str, Any]] = [{"text": cfg.system_prompt}]
        inference: dict[str, Any] = {"maxTokens": cfg.max_tokens}
        if cfg.temperature is not None:
            inference["temperature"] = cfg.temperature
        request: dict[str, Any] = {
            "modelId": cfg.model_id,
            "messages": messages,
            "system": system,
            "inferenceConfig": inference,
        }
        if tools:
            request["toolConfig"] = {"tools": list(tools)}
        if cfg.cache_prompt:
            system.append({"cachePoint": {"type": "default"}})
            if tools:
                request["toolConfig"]["tools"].append({"cachePoint": {"type": "default"}})
        return request

    def call(self, request: dict[str, Any], step: int) -> Reply:
        """One ``converse`` call (``step``: its number in the turn, for the log).

        Raises:
            AgentError: Bedrock failed.
        """
        started = self._clock()
        try:
            response: Mapping[str, Any] = self.client.converse(**request)
        except Exception as exc:
            error = _agent_error(exc)
            if error is None:
                raise
            raise error from exc
        message = response.get("output", {}).get("message", {})
        stop = str(response.get("stopReason", ""))
        content = clean_content(message.get("content", []), stop)
        self._log(step, stop, response.get("usage", {}), started, streaming=False)
        return Reply(content, stop)

    def stream(self, request: dict[str, Any], step: int) -> Generator[str, None, Reply]:
        """One ``converse_stream`` call: yields each sentence as it completes, returns the
        reply (its text is exactly what was yielded).

        Raises:
            AgentError: Bedrock failed, also in the middle of the stream.
        """
        started = self._clock()
        splitter = SentenceSplitter()
        blocks: dict[int, dict[str, Any]] = {}
        stop = ""
        usage: Mapping[str, Any] = {}
        said: list[str] = []
        events: Any = None
        try:
            response: Mapping[str, Any] = self.client.converse_stream(**request)
            events = response["stream"]
            for event in events:
                if "contentBlockStart" in event:
                    start = event["contentBlockStart"]
                    use = start.get("start", {}).get("toolUse")
                    if use is not None:
                        # Speak what came before the tool call, then collect its input.
                        for sentence in splitter.flush():
                            said.append(sentence)
                            yield sentence
                        blocks[start.get("contentBlockIndex", len(blocks))] = {
                            "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]},
                            "json": "",
                        }
                elif "contentBlockDelta" in event:
                    body = event["contentBlockDelta"]
                    index = body.get("contentBlockIndex", 0)
                    delta = body.get("delta", {})
                    if "text" in delta:
                        blocks.setdefault(index, {"text": ""})["text"] += delta["text"]
                        for sentence in splitter.feed(delta["text"]):
                            said.append(sentence)
                            yield sentence
                    elif "toolUse" in delta and index in blocks and "json" in blocks[index]:
                        blocks[index]["json"] += delta["toolUse"].get("input", "")
                elif "messageStop" in event:
                    stop = str(event["messageStop"].get("stopReason", ""))
                elif "metadata" in event:
                    usage = event["metadata"].get("usage", {})
        except Exception as exc:
            error = _agent_error(exc)
            if error is None:
                raise
            raise error from exc
        finally:
            # Also when the consumer stopped early: release the HTTP connection.
            close = getattr(events, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        tail = splitter.flush()
        if stop in TRUNCATED and said:
            tail = []  # an unfinished sentence is not spoken
        for sentence in tail:
            said.append(sentence)
            yield sentence
        content: list[dict[str, Any]] = []
        text_done = False
        for index in sorted(blocks):
            block = blocks[index]
            if "text" in block and not text_done:
                # Keep exactly what was spoken (the stream's text blocks, as sentences).
                if said:
                    content.append({"text": " ".join(said)})
                text_done = True
            elif "toolUse" in block and stop not in TRUNCATED:
                content.append({"toolUse": {**block["toolUse"], "input": _json(block["json"])}})
        self._log(step, stop, usage, started, streaming=True)
        return Reply(content, stop)

    def _log(
        self,
        step: int,
        stop: str,
        usage: Mapping[str, Any],
        started: float,
        *,
        streaming: bool,
    ) -> None:
        latency = (self._clock() - started) * 1000
        tokens_in = int(usage.get("inputTokens", 0))
        tokens_out = int(usage.get("outputTokens", 0))
        logger.info(
            "bedrock %s step=%d stop=%s in=%d out=%d %.0fms",
            self.config.model_id,
            step,
            stop,
            tokens_in,
            tokens_out,
            latency,
            extra={
                "model_id": self.config.model_id,
                "step": step,
                "stop_reason": stop,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cache_read_tokens": int(usage.get("cacheReadInputTokens", 0)),
                "latency_ms": round(latency),
                "streaming": streaming,
            },
        )


def clean_content(content: Any, stop: str) -> list[dict[str, Any]]:
    """Keep text and tool calls of a response; cut an answer truncated by ``max_tokens``."""
    out: list[dict[str, Any]] = []
    truncated = stop in TRUNCATED
    for block in content if isinstance(content, list) else []:
        if "text" in block and str(block["text"]).strip():
            text = str(block["text"]).strip()
            if truncated:
                sentences = split_sentences(text)
                if len(sentences) > 1 and sentences[-1][-1:] not in ".!?…":
                    text = " ".join(sentences[:-1])
            out.append({"text": text})
        elif "toolUse" in block and not truncated:
            use = block["toolUse"]
            out.append(
                {
                    "toolUse": {
                        "toolUseId": use["toolUseId"],
                        "name": use["name"],
                        "input": use.get("input") if isinstance(use.get("input"), dict) else {},
                    }
                }
            )
    return out


def _json(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _agent_error(exc: Exception) -> AgentError | None:
    """An :class:`AgentError` for a boto3/botocore error; ``None`` for anything else (a bug)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        # Errors inside a ConverseStream arrive with lower-case codes ("throttlingException").
        retryable = code[:1].upper() + code[1:] in _RETRYABLE or status >= 500 or status == 429
    elif isinstance(exc, BotoCoreError):
        code = type(exc).__name__
        retryable = "Timeout" in code or "Connection" in code or "Endpoint" in code
    else:
        return None
    # The exception's message can quote the request (ValidationException): type and frames only.
    log_failure(logger, f"bedrock call failed: {code}", aws_code=code)
    return AgentError(
        f"the Bedrock call failed ({code})",
        code="bedrock_error",
        aws_code=code,
        retryable=retryable,
    )
