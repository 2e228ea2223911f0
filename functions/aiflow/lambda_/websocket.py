"""The Lambda handler for the WebSocket transport (API Gateway WebSocket API).

One function serves the three routes::

    $connect     checks X-API-TOKEN exactly like the HTTP webhook (same token source);
                 401 refuses the connection, nothing is stored
    $default     one AI Flow event per frame: runs the assistant (aiflow.ws.WebSocketTransport)
                 and sends the replies with the Management API's PostToConnection
    $disconnect  forgets the connection record

Replies go to ``https://{domainName}/{stage}`` (``AIFLOW_WS_ENDPOINT`` overrides it, e.g. for a
custom domain). The role needs ``execute-api:ManageConnections`` on this API only, plus the
call table and the token secret (see ``infra/websocket.yaml``)::

    websocket = websocket_handler(assistant)

Everything is built on the first invocation, so importing this in the HTTP webhook's
process (one ``app.py`` for all functions) costs nothing there.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..assistant import Assistant
from ..auth import TokenSource
from ..clock import Clock
from ..routing import Router
from ..settings import Settings
from ..store.base import CallStore, Connections
from ..streaming import Sender
from ..ws.transport import WebSocketTransport
from .aws import ManagementApi, token_source
from .observability import Observer
from .wiring import build_engine, connections_of

SenderFactory = Callable[[Mapping[str, Any]], Sender]
"""Returns the sender for the connection of an API Gateway ``requestContext``."""

_SAFETY_MS = 1000  # keep this much of the Lambda timeout for the apology and the save


class WebSocketHandler:
    """The Lambda handler object (see the module docstring); built on first use.

    Attributes:
        sender_for: how replies reach a connection; the dev server replaces it.
    """

    def __init__(
        self,
        assistant: Assistant | Router,
        *,
        store: CallStore | None = None,
        connections: Connections | None = None,
        token: str | TokenSource | None = None,
        settings: Settings | None = None,
        sender_for: SenderFactory | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.assistant = assistant
        self._clock = clock
        self._sender_for = sender_for
        self._store = store
        self._connections = connections
        self._token = token
        self._settings = settings
        self._transport: WebSocketTransport | None = None
        self._observer: Observer | None = None
        self._lock = threading.Lock()

    @property
    def transport(self) -> WebSocketTransport:
        """The transport (created on first use)."""
        if self._transport is None:
            self._build()
        assert self._transport is not None
        return self._transport

    @property
    def sender_for(self) -> SenderFactory:
        """How replies reach a connection (the Management API unless replaced)."""
        if self._sender_for is None:
            self._sender_for = ManagementApi(self._settings or Settings.from_env())
        return self._sender_for

    @sender_for.setter
    def sender_for(self, value: SenderFactory) -> None:
        self._sender_for = value

    def _build(self) -> None:
        with self._lock:
            if self._transport is not None:
                return
            settings = self._settings or Settings.from_env()
            self._settings = settings
            engine = build_engine(self.assistant, settings, store=self._store, clock=self._clock)
            observer = Observer(self.assistant.name, settings)
            transport = WebSocketTransport(
                engine,
                connections=self._connections or connections_of(engine.store),
                token=self._token if self._token is not None else token_source(settings),
                max_frame_bytes=settings.max_body_bytes,
            )
            transport.on_event = observer.event
            self._observer = observer
            self._transport = transport

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        transport = self.transport
        observer = self._observer
        assert observer is not None
        observer.start(context)
        started = time.perf_counter()
        try:
            request = event.get("requestContext") or {}
            route = request.get("routeKey") or request.get("eventType")
            connection_id = str(request.get("connectionId", ""))
            if route in ("$connect", "CONNECT"):
                refused = transport.connect(_headers(event))
                if refused is None:
                    observer.metrics.add_metric(name="Connects", unit="Count", value=1)
                    return {"statusCode": 200}
                elapsed = (time.perf_counter() - started) * 1000
                observer.finish(refused.status, None, elapsed, error=refused.code)
                return {
                    "statusCode": refused.status,
                    "headers": {"Content-Type": "application/json"},
                    "body": refused.body,
                }
            if route in ("$disconnect", "DISCONNECT"):
                transport.disconnect(connection_id)
                observer.metrics.add_metric(name="Disconnects", unit="Count", value=1)
                return {"statusCode": 200}
            report = transport.receive(
                connection_id,
                _body(event),
                self.sender_for(request),
                received_at_ms=_int_or_none(request.get("requestTimeEpoch")),
                max_turn_ms=_max_turn(context, transport.engine.limits.max_turn_ms),
            )
            status = 200 if report.action_types else 204
            observer.finish(status, report, (time.perf_counter() - started) * 1000)
            return {"statusCode": 200}
        finally:
            observer.metrics.flush_metrics(raise_on_empty_metrics=False)


def websocket_handler(
    assistant: Assistant | Router,
    *,
    store: CallStore | None = None,
    connections: Connections | None = None,
    token: str | TokenSource | None = None,
    settings: Settings | None = None,
    sender_for: SenderFactory | None = None,
    clock: Clock | None = None,
) -> WebSocketHandler:
    """Turn ``assistant`` into the Lambda handler of an API Gateway WebSocket API.

    Args:
        assistant: the assistant to run.
        store: call records; default DynamoDB (``AIFLOW_TABLE_NAME``), else in memory.
        connections: connection records; default in the call table (or in memory).
        token: as for :func:`aiflow.lambda_.lambda_handler` (same environment, same secret).
        settings: default :meth:`Settings.from_env`.
        sender_for: how replies are sent; default the Management API (:class:`ManagementApi`).
        clock: wall time for call timestamps (tests pass a :class:`~aiflow.FakeClock`).
    """
    return WebSocketHandler(
        assistant,
        store=store,
        connections=connections,
        token=token,
        settings=settings,
        sender_for=sender_for,
        clock=clock,
    )


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in (event.get("headers") or {}).items()}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if name not in headers and values:
            headers[str(name)] = str(values[0])
    return headers


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(str(body))
        except (binascii.Error, ValueError):
            return b"\x00not base64"
    return str(body).encode()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _max_turn(context: Any, default: int) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return float(max(0, min(default, remaining() - _SAFETY_MS)))
    return float(default)
