"""The AI Flow WebSocket transport, independent of where it runs (Lambda or the dev server).

The platform connects once per call (``X-API-TOKEN`` on the upgrade request, checked exactly
like the HTTP webhook's), then sends one JSON text frame per event. Replies are text frames
holding one action or an array, sent whenever they are ready: there is no request/response
pairing, and "no action" means sending nothing.

This module keeps only what is particular to WebSockets: frames, and interruptions. For each
frame :meth:`WebSocketTransport.receive` parses the event, records on the connection when
the caller starts talking, and lets the turn engine (:meth:`aiflow.turns.TurnEngine.stream`)
run the turn with a sender, so handlers can stream sentences or send a filler first; then
it sends the report's final actions as one frame. A ``user_speech_started`` marks the
connection as interrupted, which stops an answer still being streamed (in another
invocation, or another thread) before its next sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from ..auth import Refusal, TokenSource, check_token, clean_token
from ..errors import EventParseError
from ..protocol.actions import reply_body
from ..protocol.events import BaseEvent, parse_event
from ..redact import log_failure
from ..report import TurnReport
from ..store.base import Connections, StoreError
from ..streaming import ConnectionGone, Sender, SendFailed
from ..turns import StreamTarget, TurnEngine

logger = logging.getLogger("aiflow.ws")

DEFAULT_MAX_FRAME_BYTES = 256 * 1024


class _Frames:
    """Counts what was sent (around the transport's sender)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.count = 0

    def __call__(self, body: str) -> None:
        self.sender(body)
        self.count += 1


class WebSocketTransport:
    """Runs an assistant's turns behind a WebSocket. See the module docstring.

    Args:
        engine: runs the turns.
        connections: the per-connection records (call binding, interruptions).
        token: the expected ``X-API-TOKEN`` (or a function returning it); ``None`` refuses
            every connection.
        cancel_on_speech: ``user_speech_started`` stops an answer being streamed.
        max_frame_bytes: larger frames are ignored (logged).
    """

    def __init__(
        self,
        engine: TurnEngine,
        *,
        connections: Connections,
        token: str | TokenSource | None,
        cancel_on_speech: bool = True,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.engine = engine
        self.connections = connections
        self._token: TokenSource = token if callable(token) else (lambda: token)
        self.cancel_on_speech = cancel_on_speech
        self.max_frame_bytes = max_frame_bytes
        self.on_event: Callable[[BaseEvent], None] | None = None

    # --- connection lifecycle ---------------------------------------------------------------

    def connect(self, headers: Mapping[str, str]) -> Refusal | None:
        """Check the upgrade request's token: None to accept, else the refusal (401)."""
        try:
            configured = self._token()
            expected = None if configured is None else clean_token(configured)
        except Exception:
            log_failure(logger, "the API token could not be read; connection refused")
            return Refusal(401, "token_unavailable", "the API token could not be read")
        return check_token(headers, expected)

    def disconnect(self, connection_id: str) -> str | None:
        """Forget the connection (a closed socket refuses frames anyway)."""
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
    ) -> TurnReport:
        """Handle one text frame of the platform. Never raises.

        Args:
            connection_id: the connection the frame came on.
            body: the frame (a JSON event).
            sender: sends one frame back on this connection.
            received_at_ms: when the frame arrived (API Gateway's ``requestTimeEpoch``), the
                reference for interruptions; default now.
            max_turn_ms: give up after this long (e.g. the Lambda's remaining time).
        """
        received_at = received_at_ms if received_at_ms is not None else self.engine.clock.now_ms()
        try:
            raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        except UnicodeEncodeError:
            return TurnReport(reason="invalid_unicode")
        if len(raw) > self.max_frame_bytes:
            logger.warning("frame of %d bytes ignored (limit %d)", len(raw), self.max_frame_bytes)
            return TurnReport(reason="body_too_large")
        try:
            event = parse_event(raw)
        except EventParseError as exc:
            logger.warning("frame is not an event, ignored: %s", exc.code)
            return TurnReport(reason=exc.code)
        if self.on_event is not None:
            self.on_event(event)
        self._track(connection_id, event, received_at)
        frames = _Frames(sender)

        def interrupted() -> bool:
            return self.cancel_on_speech and self.connections.interrupted_since(
                connection_id, received_at
            )

        target = StreamTarget(frames, cancelled=interrupted, max_turn_ms=max_turn_ms)
        report = self.engine.stream(event, target)
        if report.actions and event.type != "session_end" and not report.ignored:
            body_out = reply_body(report.actions)
            assert body_out is not None
            try:
                frames(body_out)
            except ConnectionGone:
                report.reason = "connection_gone"
            except SendFailed:
                report.reason = "send_failed"
        report.frames = frames.count
        return report

    def _track(self, connection_id: str, event: BaseEvent, received_at: int) -> None:
        try:
            if event.type == "session_start":
                self.connections.bind(connection_id, event.session.id)
            elif event.type == "user_speech_started" and self.cancel_on_speech:
                self.connections.interrupt(connection_id, received_at)
        except StoreError as exc:
            logger.warning("connection record not updated: %s", exc.code)

    def close(self) -> None:
        """Stop the engine's threads (the dev server on shutdown; tests)."""
        self.engine.close()
