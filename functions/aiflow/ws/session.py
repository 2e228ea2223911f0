"""The AI Flow WebSocket transport, independent of where it runs (Lambda or the dev server).

The platform connects once per call (``X-API-TOKEN`` on the upgrade request, checked exactly
like the HTTP webhook's), then sends one JSON text frame per event. Replies are text frames
holding one action or an array, sent whenever they are ready: there is no request/response
pairing, and "no action" means sending nothing.

For each event :meth:`WebSocketTransport.receive` loads the call, runs the assistant (with a
:class:`~aiflow.ws.stream.Channel`, so handlers can stream sentences or send a filler first),
saves the call with optimistic locking and sends what the core returned. Differences from
the HTTP webhook:

* no turn budget that drops the answer: a handler that has sent nothing for
  ``filler_after_ms`` makes the caller hear a filler (up to ``assistant.max_fillers``), and
  its answer follows on the same connection whenever it is ready; only after
  ``max_turn_ms`` the turn is given up with an apology;
* ``user_speech_started`` marks the connection as interrupted, which stops an answer that
  is still being streamed (in another invocation, or another thread) before its next
  sentence;
* a save that lost a race after something was already sent is merged with the newer record
  instead of running the handler again (the caller must not hear the answer twice).
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from ..assistant import Assistant, Reply
from ..call import Call, merge_docs, now_ms
from ..deadline import NO_ANSWER_EXPECTED
from ..errors import EventParseError
from ..protocol.actions import Action, AudioAction, SpeakAction, reply_body
from ..protocol.events import BaseEvent, parse_event
from ..redact import log_failure
from ..store.base import CallStore, ConflictError, StoredCall, StoreError
from ..webhook import DEFAULT_MAX_BODY_BYTES, STATEFUL_EVENTS, HttpReply, TokenSource, check_token
from . import stream
from .connections import Connections
from .stream import Channel, ConnectionGone, Sender, SendFailed

logger = logging.getLogger("aiflow.ws")

DEFAULT_FILLER_AFTER_MS = 2500
DEFAULT_MAX_TURN_MS = 25_000
_SPEECH = (SpeakAction, AudioAction)


@dataclass
class WsOutcome:
    """What happened for one received frame (for logs, metrics and tests)."""

    event_type: str | None = None
    session_id: str | None = None
    actions: list[str] = field(default_factory=list)
    frames: int = 0
    streamed: int = 0
    fallback: bool = False
    interrupted: bool = False
    error: str | None = None
    handler_ms: float = 0.0
    store_requests: int = 0
    conflicts: int = 0
    fillers: int = 0

    def as_http_reply(self) -> HttpReply:
        """The same facts in the shape :class:`aiflow.lambda_.observability.Observer` logs."""
        return HttpReply(
            status=200 if self.actions else 204,
            event_type=self.event_type,
            session_id=self.session_id,
            actions=self.actions,
            fallback=self.fallback,
            error=self.error,
            handler_ms=self.handler_ms,
            store_requests=self.store_requests,
            conflicts=self.conflicts,
        )


class _Frames:
    """Counts and remembers what was sent (around the transport's sender)."""

    def __init__(self, sender: Sender, outcome: WsOutcome) -> None:
        self.sender = sender
        self.outcome = outcome

    def __call__(self, body: str) -> None:
        self.sender(body)
        self.outcome.frames += 1
        decoded = json.loads(body)
        for action in decoded if isinstance(decoded, list) else [decoded]:
            self.outcome.actions.append(str(action.get("type")))


class WebSocketTransport:
    """Runs an assistant behind a WebSocket. See the module docstring.

    Args:
        assistant: the assistant whose handlers run.
        store: the call records.
        connections: the per-connection records (call binding, interruptions).
        token: the expected ``X-API-TOKEN`` (or a function returning it); ``None`` refuses
            every connection.
        filler_after_ms: silence of a running handler after which a filler is sent.
        max_turn_ms: a handler still running after this long is given up (apology).
        lookahead_ms: how long a streamed sentence waits to see whether it is the last.
        cancel_on_speech: ``user_speech_started`` stops an answer being streamed.
        max_body_bytes: larger frames are ignored (logged).
        max_attempts: how often a save that lost a race is retried.
    """

    def __init__(
        self,
        assistant: Assistant,
        *,
        store: CallStore,
        connections: Connections,
        token: str | TokenSource | None,
        filler_after_ms: int = DEFAULT_FILLER_AFTER_MS,
        max_turn_ms: int = DEFAULT_MAX_TURN_MS,
        lookahead_ms: int = int(stream.DEFAULT_LOOKAHEAD_S * 1000),
        cancel_on_speech: bool = True,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_attempts: int = 8,
    ) -> None:
        self.assistant = assistant
        self.store = store
        self.connections = connections
        self._token: TokenSource = token if callable(token) else (lambda: token)
        self.filler_after_ms = filler_after_ms
        self.max_turn_ms = max_turn_ms
        self.lookahead_ms = lookahead_ms
        self.cancel_on_speech = cancel_on_speech
        self.max_body_bytes = max_body_bytes
        self.max_attempts = max_attempts
        self.on_event: Callable[[BaseEvent], None] | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- connection lifecycle ---------------------------------------------------------------

    def connect(self, headers: Mapping[str, str]) -> HttpReply | None:
        """Check the upgrade request's token: None to accept, else the refusal (401/503)."""
        try:
            expected = self._token()
        except Exception:
            log_failure(logger, "the API token could not be read; connection refused")
            body = {"code": "token_unavailable", "message": "the API token could not be read"}
            return HttpReply(status=503, body=json.dumps(body), error="token_unavailable")
        return check_token(headers, expected)

    def disconnect(self, connection_id: str) -> str | None:
        """Forget the connection (this also stops nothing: a closed socket refuses frames)."""
        try:
            return self.connections.forget(connection_id)
        except StoreError as exc:
            logger.warning("could not forget connection: %s", exc.code)
            return None

    # --- events -----------------------------------------------------------------------------

    def receive(
        self,
        connection_id: str,
        body: bytes | str | None,
        sender: Sender,
        *,
        received_at_ms: int | None = None,
        max_turn_ms: float | None = None,
    ) -> WsOutcome:
        """Handle one text frame of the platform. Never raises.

        Args:
            connection_id: the connection the frame came on.
            body: the frame (a JSON event).
            sender: sends one frame back on this connection.
            received_at_ms: when the frame arrived (API Gateway's ``requestTimeEpoch``), the
                reference for interruptions; default now.
            max_turn_ms: give up after this long (e.g. the Lambda's remaining time).
        """
        received_at = received_at_ms if received_at_ms is not None else now_ms()
        outcome = WsOutcome()
        raw = body.encode() if isinstance(body, str) else (body or b"")
        if len(raw) > self.max_body_bytes:
            logger.warning("frame of %d bytes ignored (limit %d)", len(raw), self.max_body_bytes)
            outcome.error = "body_too_large"
            return outcome
        try:
            event = parse_event(raw)
        except EventParseError as exc:
            logger.warning("frame is not an event, ignored: %s", exc.code)
            outcome.error = exc.code
            return outcome
        outcome.event_type, outcome.session_id = event.type, event.session.id
        if self.on_event is not None:
            self.on_event(event)
        self._track(connection_id, event, received_at)
        if event.type not in STATEFUL_EVENTS and self.assistant.handler_for(event) is None:
            return outcome  # nothing would read or change the call
        frames = _Frames(sender, outcome)

        def interrupted() -> bool:
            return self.cancel_on_speech and self.connections.interrupted_since(
                connection_id, received_at
            )

        limit = max_turn_ms if max_turn_ms is not None else self.max_turn_ms
        deadline = time.monotonic() + limit / 1000
        try:
            self._process(event, frames, interrupted, deadline, outcome)
        except ConnectionGone:
            outcome.error = "connection_gone"
        except SendFailed:
            outcome.error = "send_failed"
        except Exception:
            log_failure(logger, "unexpected failure in the WebSocket transport")
            outcome.error = "internal_error"
        return outcome

    def _track(self, connection_id: str, event: BaseEvent, received_at: int) -> None:
        try:
            if event.type == "session_start":
                self.connections.bind(connection_id, event.session.id)
            elif event.type == "user_speech_started" and self.cancel_on_speech:
                self.connections.interrupt(connection_id, received_at)
        except StoreError as exc:
            logger.warning("connection record not updated: %s", exc.code)

    def _process(
        self,
        event: BaseEvent,
        frames: _Frames,
        interrupted: Callable[[], bool],
        deadline: float,
        outcome: WsOutcome,
    ) -> None:
        session_id = event.session.id
        for attempt in range(self.max_attempts):
            try:
                stored = self.store.load(session_id)
                outcome.store_requests += 1
                call = self._call_for(event, stored)
                before = call.to_doc() if stored else None
                channel = Channel(
                    self.assistant,
                    call,
                    frames,
                    cancelled=interrupted,
                    lookahead=self.lookahead_ms / 1000,
                )
                reply = self._run(event, call, channel, deadline, outcome)
                outcome.streamed = len(channel.sent)
                outcome.interrupted = channel.closed == "interrupted"
                if channel.closed == "gone":
                    raise ConnectionGone("the connection closed while the answer streamed")
                if reply is None:
                    return  # given up; the caller heard the apology, the call is unchanged
                _settle(call, channel, reply)
                after = call.to_doc()
                if after != before:
                    self._save(session_id, before, after, stored, channel, outcome)
            except ConflictError:
                outcome.conflicts += 1
                time.sleep(0.005 * (attempt + 1))
                continue  # nothing was sent yet: run the handler again on the newer record
            except StoreError as exc:
                logger.warning("call store failed; the caller hears the fallback: %s", exc.code)
                self._fallback(event, frames, outcome, exc.code)
                return
            outcome.fallback = reply.fallback
            outcome.handler_ms = reply.handler_ms
            if reply.actions and event.type != "session_end":
                frames(_body(reply.actions))
            return
        logger.warning("gave up after %d conflicting saves", outcome.conflicts)
        self._fallback(event, frames, outcome, "store_conflict")

    def _run(
        self,
        event: BaseEvent,
        call: Call,
        channel: Channel,
        deadline: float,
        outcome: WsOutcome,
    ) -> Reply | None:
        """Run the handler in a worker thread; fillers while it is silent; None if given up."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="aiflow-ws")
        context = contextvars.copy_context()
        context.run(stream._CURRENT.set, channel)
        future: Future[Reply] = self._pool.submit(context.run, self.assistant.handle, event, call)
        filler_after = self.filler_after_ms / 1000
        while True:
            can_fill = (
                event.type not in NO_ANSWER_EXPECTED
                and outcome.fillers < self.assistant.max_fillers
            )
            remaining = deadline - time.monotonic()
            wait = remaining
            if can_fill:
                wait = min(remaining, filler_after - channel.idle_seconds())
            try:
                return future.result(timeout=max(wait, 0.001))
            except FutureTimeout:
                pass
            if time.monotonic() >= deadline:
                channel.close("given_up")
                logger.warning("handler exceeded the turn limit; the caller hears an apology")
                outcome.error = "turn_timeout"
                if event.type not in NO_ANSWER_EXPECTED:
                    apology = self.assistant.speech(self.assistant.slow_apology)
                    channel.sender(_body([apology.for_session(call.session_id)]))
                return None
            if can_fill and channel.idle_seconds() >= filler_after:
                fillers = self.assistant.fillers
                text = fillers[min(outcome.fillers, len(fillers) - 1)]
                outcome.fillers += 1
                channel.send([self.assistant.speech(text, wait_for_caller=False)], record=False)

    def _save(
        self,
        session_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        stored: StoredCall | None,
        channel: Channel,
        outcome: WsOutcome,
    ) -> None:
        outcome.store_requests += 1
        version = stored.version if stored else 0
        if not channel.sent:
            self.store.save(session_id, after, version=version)  # a conflict reruns the turn
            return
        # The caller already heard part of this turn: merge into newer records, never rerun.
        for _ in range(self.max_attempts):
            try:
                self.store.save(session_id, after, version=version)
                return
            except ConflictError:
                outcome.conflicts += 1
                fresh = self.store.load(session_id)
                outcome.store_requests += 2
                if fresh is None:
                    version = 0
                    continue
                after, version = merge_docs(before or {}, after, fresh.doc), fresh.version
        raise StoreError("the streamed turn could not be saved", code="store_conflict")

    def _call_for(self, event: BaseEvent, stored: StoredCall | None) -> Call:
        if stored is None:
            model = self.assistant.state_model
            return Call.from_session(event.session, state=model() if model else {})
        return Call.from_doc(
            stored.doc, version=stored.version, state_model=self.assistant.state_model
        )

    def _fallback(self, event: BaseEvent, frames: _Frames, outcome: WsOutcome, error: str) -> None:
        outcome.error = error
        outcome.fallback = True
        if event.type not in NO_ANSWER_EXPECTED:
            frames(_body(self.assistant.fallback_reply(Call(event.session.id))))

    def close(self) -> None:
        """Stop the worker threads (the dev server on shutdown; tests)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _settle(call: Call, channel: Channel, reply: Reply) -> None:
    """Fold what the channel sent or held back into the call, as the core does for a reply."""
    if channel.later:
        # Held back by the channel before the core's own held-back actions of the tail.
        cut = len(call.pending) - len(reply.deferred)
        call.pending[cut:cut] = channel.later
    if channel.later or reply.deferred:
        # Wait for the end of every speech of this turn, streamed ones included.
        speeches = channel.speeches + sum(isinstance(a, _SPEECH) for a in reply.actions)
        call.pending_after = max(call.pending_after, speeches, 1)


def _body(actions: list[Action]) -> str:
    body = reply_body(actions)
    assert body is not None
    return body
