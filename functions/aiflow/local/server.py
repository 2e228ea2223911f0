"""The dev server: real HTTP on loopback in front of the real Lambda handler.

Each request becomes an API Gateway HTTP API (v2) event (see :mod:`aiflow.local.gateway`),
so what runs locally is exactly what runs in Lambda. Standard library only
(``http.server.ThreadingHTTPServer``). With a WebSocket handler, ``ws://host:port/ws`` is
served on the same port as an API Gateway WebSocket API (see :mod:`aiflow.local.websocket`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .gateway import GatewayResponse, LambdaHandler, LocalGateway
from .requestlog import RequestLog, action_types, peek_event

if TYPE_CHECKING:
    from .console import CallConsole

MAX_BODY_BYTES = 10 * 1024 * 1024  # what API Gateway accepts
READ_TIMEOUT_S = 30  # a client that stops sending mid-request does not hold a thread forever


class _Server(ThreadingHTTPServer):
    # The listen backlog: the default of 5 drops connections when a load test or the
    # platform opens many at once (API Gateway queues thousands).
    request_queue_size = 128
    daemon_threads = True


class BadRequest(Exception):
    """A request the dev server cannot hand to the gateway (its length is unknown or wrong)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DevServer:
    """Serves a Lambda handler on ``http://host:port`` (every path goes to the handler,
    whose router answers 404 for anything but ``POST /webhook``).

    Args:
        handler: the Lambda handler, e.g. ``lambda_handler(assistant)``.
        host: the address to bind; loopback unless you mean to expose it.
        port: 0 picks a free port (see :attr:`port` after construction).
        on_request: called with a :class:`RequestLog` after each request.
        websocket: the WebSocket Lambda handler (:func:`aiflow.lambda_.websocket_handler`)
            to serve at ``/ws``; None: no WebSocket.
        console: the browser call console (:class:`aiflow.local.console.CallConsole`),
            which answers ``/`` and ``/__aiflow/...``; None: every path goes to the handler.
    """

    def __init__(
        self,
        handler: LambdaHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        on_request: Callable[[RequestLog], None] | None = None,
        websocket: Any | None = None,
        console: CallConsole | None = None,
    ) -> None:
        self.gateway = LocalGateway(handler)
        self.console = console
        self.on_request = on_request
        self.websocket = None
        if websocket is not None:
            from .websocket import LocalWebSocketGateway

            self.websocket = LocalWebSocketGateway(websocket, on_request=on_request)
        self.httpd = _Server((host, port), _handler_class(self))
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        """The URL to give the platform (or ``aiflow call``)."""
        return f"{self.url}/webhook"

    @property
    def ws_url(self) -> str:
        """The WebSocket URL (``ws://host:port/ws``), served when a handler was given."""
        return "ws" + self.url[len("http") :] + "/ws"

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (or Ctrl-C)."""
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> DevServer:
        """Serve in a background thread; returns ``self``."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="aiflow-dev-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.websocket is not None:
            self.websocket.close_all()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> GatewayResponse:
        """Answer one request through the gateway and report it."""
        started = time.perf_counter()
        at = time.time()
        response = self.gateway.request(method, target, headers, body)
        latency = (time.perf_counter() - started) * 1000
        if self.on_request is not None:
            event_type, session_id = peek_event(body)
            log = RequestLog(
                at=at,
                method=method,
                path=target.split("?", 1)[0],
                status=response.status,
                latency_ms=latency,
                event_type=event_type,
                session_id=session_id,
                actions=action_types(response.body) if response.status == 200 else [],
            )
            try:
                self.on_request(log)
            except Exception:  # a broken log callback must not fail the request
                pass
        return response


def _handler_class(server: DevServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "aiflow-dev"
        timeout = READ_TIMEOUT_S

        def _serve(self) -> None:
            if server.websocket is not None and server.websocket.wants(self):
                self.close_connection = True
                server.websocket.serve(self)  # until the WebSocket closes
                return
            try:
                body = self._body()
            except BadRequest as bad:
                error = json.dumps({"code": bad.code, "message": bad.message}).encode()
                status = 413 if bad.code == "body_too_large" else 400
                self._send(status, error, close=True)  # the rest of the stream is unreadable
                return
            except (TimeoutError, OSError):
                self.close_connection = True  # the client stopped sending: nobody to answer
                return
            if server.console is not None and server.console.wants(self.path):
                headers = dict(self.headers.items())
                answer = server.console.respond(
                    self.command, self.path, headers, self.client_address[0]
                )
                self._send(answer.status, answer.body, headers=answer.headers)
                return
            response = server.handle(self.command, self.path, dict(self.headers.items()), body)
            self._send(response.status, response.body, headers=response.headers)

        def _body(self) -> bytes:
            """The request body, read as its headers say (``Content-Length`` or chunked)."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._chunked()
            raw = self.headers.get("Content-Length")
            if raw is None:
                if self.command in ("POST", "PUT", "PATCH"):
                    raise BadRequest(
                        "length_required", f"a {self.command} needs a Content-Length header"
                    )
                return b""
            if not raw.strip().isdigit():  # also refuses "-1", "12abc", "1e3", " "
                raise BadRequest("bad_content_length", "Content-Length is not a byte count")
            length = int(raw.strip())
            if length > MAX_BODY_BYTES:
                raise BadRequest("body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                raise BadRequest("incomplete_body", "the body is shorter than Content-Length")
            return body

        def _chunked(self) -> bytes:
            parts: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                try:
                    chunk = int(line, 16)
                except ValueError:
                    raise BadRequest("bad_chunk", "a chunk size is not hexadecimal") from None
                if chunk == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return b"".join(parts)
                size += chunk
                if size > MAX_BODY_BYTES:
                    raise BadRequest("body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
                parts.append(self.rfile.read(chunk))
                self.rfile.readline(1024)  # the CRLF after the chunk

        def _send(
            self,
            status: int,
            body: bytes,
            *,
            headers: dict[str, str] | None = None,
            close: bool = False,
        ) -> None:
            self.send_response(status)
            sent = {k.lower() for k in (headers or {})}
            for name, value in (headers or {}).items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            if body and "content-type" not in sent:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the dev server prints its own one-line log

    return Handler
