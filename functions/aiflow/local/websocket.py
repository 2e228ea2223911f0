"""A local stand-in for an API Gateway WebSocket API, served by the dev server.

:class:`LocalWebSocketGateway` serves ``ws://127.0.0.1:3000/ws`` inside the dev server: each
connection, frame and close becomes the ``$connect`` / ``$default`` / ``$disconnect`` event
API Gateway would send to the real Lambda handler (:func:`aiflow.lambda_.websocket_handler`),
every frame in its own thread (API Gateway invokes concurrently too), and the handler's
replies, which go through the Management API in AWS, are written to the socket instead. So
the token check, the transport, streaming and interruptions run exactly as deployed.

The WebSocket protocol is ``websockets``' Sans-I/O layer on the dev server's own socket, so
HTTP and WebSocket share one port.

The client side (``aiflow call --ws``) is
:class:`aiflow.local.transports.WebSocketClientTransport`.

Local-only code: it is not shipped to Lambda.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from ..streaming import ConnectionGone, Sender
from .gateway import LocalContext
from .requestlog import RequestLog, peek_event

if TYPE_CHECKING:
    from websockets.server import ServerProtocol

    from ..lambda_.websocket import WebSocketHandler

logger = logging.getLogger("aiflow.dev")

WS_PATH = "/ws"
_PLATFORM_EVENTS = frozenset({"assistant_speak", "assistant_speech_ended", "session_end"})
STAGE = "local"
MAX_FRAME_BYTES = 128 * 1024  # API Gateway's WebSocket frame limit is 32 KB; be lenient


@dataclass
class _Connection:
    """One open WebSocket connection (sans-I/O protocol plus its socket)."""

    id: str
    protocol: ServerProtocol
    write: Callable[[bytes], Any]
    connected_at: int
    source_ip: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def flush(self) -> None:
        """Write what the protocol wants to send (call with the lock held)."""
        for data in self.protocol.data_to_send():
            if data:
                self.write(data)

    def send_text(self, text: str) -> None:
        """Send one text frame; raises :class:`ConnectionGone` once the connection closed."""
        from websockets.protocol import State

        with self.lock:
            if self.closed or self.protocol.state is not State.OPEN:
                raise ConnectionGone("the WebSocket connection is closed")
            self.protocol.send_text(text.encode("utf-8"))
            try:
                self.flush()
            except OSError:
                self.closed = True
                raise ConnectionGone("the WebSocket connection is closed") from None

    def close(self) -> None:
        """Close from our side (server shutdown)."""
        with self.lock:
            if self.closed:
                return
            try:
                self.protocol.send_close(1001, "server shutting down")
                self.flush()
            except Exception:
                pass
            self.closed = True


class LocalWebSocketGateway:
    """API Gateway WebSocket API in front of a WebSocket Lambda handler, for the dev server.

    Args:
        handler: the handler of :func:`aiflow.lambda_.websocket_handler`; its ``sender_for``
            is pointed at this gateway's sockets.
        on_request: called with a :class:`~aiflow.local.requestlog.RequestLog` after each frame.
        path: the path that upgrades (``/ws``).
    """

    def __init__(
        self,
        handler: WebSocketHandler,
        *,
        on_request: Callable[[RequestLog], None] | None = None,
        path: str = WS_PATH,
    ) -> None:
        self.handler = handler
        self.on_request = on_request
        self.path = path
        self.domain = "127.0.0.1"
        self._connections: dict[str, _Connection] = {}
        self._sent: dict[str, list[str]] = {}
        self._first: dict[str, float] = {}  # request id -> when its first frame went out
        self._lock = threading.Lock()
        handler.sender_for = self._sender_for

    # --- HTTP side ----------------------------------------------------------------------

    def wants(self, request: BaseHTTPRequestHandler) -> bool:
        """Whether ``request`` is a WebSocket upgrade for this gateway's path."""
        upgrade = (request.headers.get("Upgrade") or "").lower()
        return request.path.split("?", 1)[0] == self.path and upgrade == "websocket"

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        """Run one WebSocket connection on the dev server's request thread until it closes."""
        from websockets.exceptions import InvalidHandshake
        from websockets.http11 import Request
        from websockets.server import ServerProtocol

        protocol = ServerProtocol(max_size=MAX_FRAME_BYTES)
        lines = [request.requestline, *(f"{k}: {v}" for k, v in request.headers.items())]
        protocol.receive_data(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        events = protocol.events_received()
        write = request.wfile.write
        if not events or not isinstance(events[0], Request):
            request.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        handshake = events[0]
        headers = dict(handshake.headers.raw_items())
        host = str(request.headers.get("Host") or self.domain)
        connection_id = _connection_id()
        now = int(time.time() * 1000)
        source_ip = str(request.client_address[0])
        refused = self._invoke(
            "$connect", connection_id, host=host, source_ip=source_ip, headers=headers, at=now
        )
        status = int(refused.get("statusCode", 200)) if isinstance(refused, dict) else 200
        if status != 200:
            body = str(refused.get("body") or "") if isinstance(refused, dict) else ""
            response = protocol.reject(status, body or "refused")
            protocol.send_response(response)
            for data in protocol.data_to_send():
                write(data)
            return
        response = protocol.accept(handshake)
        protocol.send_response(response)
        for data in protocol.data_to_send():
            write(data)
        if isinstance(protocol.handshake_exc, InvalidHandshake):
            return  # not a valid WebSocket handshake: the 4xx has been sent
        connection = _Connection(connection_id, protocol, write, now, source_ip)
        with self._lock:
            self._connections[connection_id] = connection
        try:
            self._read(request, connection, host)
        finally:
            with self._lock:
                self._connections.pop(connection_id, None)
            connection.closed = True
            self._invoke("$disconnect", connection_id, host=host, source_ip=source_ip)

    def close_all(self) -> None:
        """Close every open connection (the dev server stops)."""
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            connection.close()

    @property
    def open_connections(self) -> int:
        """How many clients are connected."""
        with self._lock:
            return len(self._connections)

    def _read(self, request: BaseHTTPRequestHandler, connection: _Connection, host: str) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.protocol import State

        protocol = connection.protocol
        parts: list[bytes] = []
        while True:
            try:
                data = request.rfile.read1(65536)
            except OSError:
                data = b""
            messages: list[bytes] = []
            with connection.lock:
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                for frame in protocol.events_received():
                    if not isinstance(frame, Frame):
                        continue
                    if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                        parts.append(bytes(frame.data))
                        if frame.fin:
                            messages.append(b"".join(parts))
                            parts = []
                try:
                    connection.flush()  # pongs, the close handshake
                except OSError:
                    data = b""
            for message in messages:
                threading.Thread(
                    target=self._message,
                    args=(connection, host, message),
                    name="aiflow-dev-ws",
                    daemon=True,
                ).start()
            if not data or protocol.state is State.CLOSED or protocol.close_expected():
                return  # the server closes the TCP connection after the close handshake

    # --- Lambda side --------------------------------------------------------------------

    def _message(self, connection: _Connection, host: str, message: bytes) -> None:
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        with self._lock:
            self._sent[request_id] = []
        at = time.time()
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        self._invoke(
            "$default",
            connection.id,
            host=host,
            source_ip=connection.source_ip,
            body=text if text is not None else base64.b64encode(message).decode(),
            binary=text is None,
            request_id=request_id,
            at=int(at * 1000),
        )
        finished = time.perf_counter()
        with self._lock:
            sent = self._sent.pop(request_id, [])
            first = self._first.pop(request_id, None)
        if self.on_request is not None:
            event_type, session_id = peek_event(message)
            log = RequestLog(
                at=at,
                method="WS",
                path=self.path,
                status=200 if sent else 204,
                # What the caller waits for: the first frame (a streamed answer goes on).
                latency_ms=((first if first is not None else finished) - started) * 1000,
                event_type=event_type,
                session_id=session_id,
                actions=sent,
            )
            try:
                self.on_request(log)
            except Exception:
                pass

    def _invoke(
        self,
        route: str,
        connection_id: str,
        *,
        host: str,
        source_ip: str,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        binary: bool = False,
        request_id: str | None = None,
        at: int | None = None,
    ) -> Any:
        event = websocket_event(
            route,
            connection_id,
            domain=host,
            source_ip=source_ip,
            headers=headers,
            body=body,
            binary=binary,
            request_id=request_id,
            at=at,
        )
        try:
            return self.handler(event, LocalContext(timeout_ms=60_000))
        except Exception:
            logger.exception("the WebSocket handler failed on %s", route)
            return {"statusCode": 500}
        finally:
            clear_metrics()

    def _sender_for(self, request_context: Mapping[str, Any]) -> Sender:
        connection_id = str(request_context.get("connectionId"))
        request_id = str(request_context.get("requestId"))

        def send(body: str) -> None:
            with self._lock:
                connection = self._connections.get(connection_id)
            if connection is None:
                raise ConnectionGone(f"no connection {connection_id}")
            connection.send_text(body)
            decoded = json.loads(body)
            types = [
                str(a.get("type")) for a in (decoded if isinstance(decoded, list) else [decoded])
            ]
            with self._lock:
                if request_id in self._sent:
                    self._sent[request_id].extend(types)
                    self._first.setdefault(request_id, time.perf_counter())

        return send


def websocket_event(
    route: str,
    connection_id: str,
    *,
    domain: str = "127.0.0.1",
    stage: str = STAGE,
    source_ip: str = "127.0.0.1",
    headers: Mapping[str, str] | None = None,
    body: str | None = None,
    binary: bool = False,
    request_id: str | None = None,
    at: int | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends a WebSocket API's Lambda integration for ``route``."""
    kinds = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
    now = at if at is not None else int(time.time() * 1000)
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": kinds.get(route, "MESSAGE"),
            "messageDirection": "IN",
            "connectionId": connection_id,
            "domainName": domain,
            "stage": stage,
            "apiId": "local",
            "requestId": request_id or uuid.uuid4().hex,
            "extendedRequestId": uuid.uuid4().hex,
            "requestTimeEpoch": now,
            "connectedAt": now,
            "identity": {"sourceIp": source_ip},
        },
        "isBase64Encoded": binary,
    }
    if headers is not None:
        event["headers"] = dict(headers)
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    if body is not None:
        event["body"] = body
    if route == "$default":
        event["requestContext"]["messageId"] = uuid.uuid4().hex
    return event


def _connection_id() -> str:
    """Like API Gateway's: 12 random bytes, base64 (``L0SM9cOFvHcCIhw=``)."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def clear_metrics() -> None:
    """With metrics disabled Powertools never clears its process-wide set (see run.py)."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true", "yes"):
        from aws_lambda_powertools import Metrics

        Metrics().clear_metrics()
