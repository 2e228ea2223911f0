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
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..assistant import Assistant
from ..store.base import CallStore
from ..webhook import TokenSource
from .settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

    from ..ws.connections import Connections
    from ..ws.session import WebSocketTransport
    from ..ws.stream import Sender
    from .observability import Observer

SenderFactory = Callable[[Mapping[str, Any]], "Sender"]
"""Returns the sender for the connection of an API Gateway ``requestContext``."""

_SAFETY_MS = 1000  # keep this much of the Lambda timeout for the apology and the save


class ManagementApi:
    """Sends frames with ``PostToConnection`` (one cached client per endpoint).

    Args:
        endpoint: fixed callback URL; default ``AIFLOW_WS_ENDPOINT``, else
            ``https://{domainName}/{stage}`` of each event.
        client_factory: builds the ``apigatewaymanagementapi`` client for an endpoint URL.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        client_factory: Callable[[str], ApiGatewayManagementApiClient] | None = None,
    ) -> None:
        self.endpoint = endpoint or os.environ.get("AIFLOW_WS_ENDPOINT") or None
        self._factory = client_factory or _new_client
        self._clients: dict[str, ApiGatewayManagementApiClient] = {}
        self._lock = threading.Lock()

    def endpoint_for(self, request_context: Mapping[str, Any]) -> str:
        """The callback URL for the API and stage of ``request_context``."""
        if self.endpoint:
            return self.endpoint
        return f"https://{request_context['domainName']}/{request_context['stage']}"

    def client(self, endpoint: str) -> ApiGatewayManagementApiClient:
        """The client for ``endpoint`` (created once per process)."""
        with self._lock:
            if endpoint not in self._clients:
                self._clients[endpoint] = self._factory(endpoint)
            return self._clients[endpoint]

    def __call__(self, request_context: Mapping[str, Any]) -> Sender:
        """The sender for the connection of ``request_context``."""
        from ..ws.stream import ConnectionGone, SendFailed

        client = self.client(self.endpoint_for(request_context))
        connection_id = str(request_context["connectionId"])

        def send(body: str) -> None:
            try:
                client.post_to_connection(ConnectionId=connection_id, Data=body.encode())
            except Exception as exc:
                code = _error_code(exc)
                if code == "GoneException":
                    raise ConnectionGone("the platform closed the connection") from None
                raise SendFailed(f"PostToConnection failed: {code}") from exc

        return send


class WebSocketHandler:
    """The Lambda handler object (see the module docstring); built on first use.

    Attributes:
        sender_for: how replies reach a connection; the dev server replaces it.
    """

    def __init__(
        self,
        assistant: Assistant,
        *,
        store: CallStore | None = None,
        connections: Connections | None = None,
        token: str | TokenSource | None = None,
        settings: Settings | None = None,
        sender_for: SenderFactory | None = None,
    ) -> None:
        self.assistant = assistant
        self.sender_for: SenderFactory = sender_for or ManagementApi()
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

    def _build(self) -> None:
        with self._lock:
            if self._transport is not None:
                return
            from ..ws.session import WebSocketTransport
            from .http import default_store, token_source
            from .observability import Observer

            settings = self._settings or Settings.from_env()
            store = self._store or default_store(settings)
            observer = Observer(self.assistant.name, redact_logs=settings.redact_logs)
            transport = WebSocketTransport(
                self.assistant,
                store=store,
                connections=self._connections or default_connections(store),
                token=self._token if self._token is not None else token_source(settings),
                filler_after_ms=settings.turn_budget_ms,
                max_body_bytes=settings.max_body_bytes,
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
                observer.finish(refused, (time.perf_counter() - started) * 1000)
                return {
                    "statusCode": refused.status,
                    "headers": refused.headers,
                    "body": refused.body or "",
                }
            if route in ("$disconnect", "DISCONNECT"):
                transport.disconnect(connection_id)
                observer.metrics.add_metric(name="Disconnects", unit="Count", value=1)
                return {"statusCode": 200}
            outcome = transport.receive(
                connection_id,
                _body(event),
                self.sender_for(request),
                received_at_ms=_int_or_none(request.get("requestTimeEpoch")),
                max_turn_ms=_max_turn(context, transport.max_turn_ms),
            )
            observer.finish(outcome.as_http_reply(), (time.perf_counter() - started) * 1000)
            return {"statusCode": 200}
        finally:
            observer.metrics.flush_metrics(raise_on_empty_metrics=False)


def websocket_handler(
    assistant: Assistant,
    *,
    store: CallStore | None = None,
    connections: Connections | None = None,
    token: str | TokenSource | None = None,
    settings: Settings | None = None,
    sender_for: SenderFactory | None = None,
) -> WebSocketHandler:
    """Turn ``assistant`` into the Lambda handler of an API Gateway WebSocket API.

    Args:
        assistant: the assistant to run.
        store: call records; default DynamoDB (``AIFLOW_TABLE_NAME``), else in memory.
        connections: connection records; default in the call table (or in memory).
        token: as for :func:`aiflow.lambda_.lambda_handler` (same environment, same secret).
        settings: default :meth:`Settings.from_env`.
        sender_for: how replies are sent; default the Management API (:class:`ManagementApi`).
    """
    return WebSocketHandler(
        assistant,
        store=store,
        connections=connections,
        token=token,
        settings=settings,
        sender_for=sender_for,
    )


def default_connections(store: CallStore) -> Connections:
    """Connection records next to the calls: the same DynamoDB table, or memory."""
    from ..store.dynamodb import DynamoDBStore
    from ..ws.connections import DynamoDBConnections, MemoryConnections

    if isinstance(store, DynamoDBStore):
        return DynamoDBConnections(
            store.table_name, client=store.client, ttl_seconds=store.ttl_seconds
        )
    return MemoryConnections()


def _new_client(endpoint: str) -> ApiGatewayManagementApiClient:
    import boto3
    from botocore.config import Config

    # A caller is waiting: short timeouts, one retry.
    config = Config(
        connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2}
    )
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=config)


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


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return type(exc).__name__
