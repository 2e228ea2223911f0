"""How a simulated platform reaches an assistant: through the local API Gateway in process
(HTTP, or the WebSocket API's Lambda handler), over real HTTP with ``urllib``, or over a real
WebSocket; and :func:`load_object` for ``module:name``.

Every transport answers an event with a :class:`Delivery` (status, body, headers); the
WebSocket ones collect the frames sent for an event into one JSON array (200), or 204.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..clock import Clock
from ..errors import AiflowError
from .gateway import LocalContext, LocalGateway, http_api_event, lambda_response
from .websocket import clear_metrics, websocket_event

# The platform's own notifications: they rarely get an answer.
_PLATFORM_EVENTS = frozenset({"assistant_speak", "assistant_speech_ended", "session_end"})

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class SimulatorError(AiflowError):
    """The simulated call cannot do what was asked (not started, already over, no server)."""

    code = "simulator"


@dataclass(frozen=True)
class Delivery:
    """The answer to one request (or, over a WebSocket, the frames sent for one event).

    Attributes:
        status: the HTTP status (a WebSocket: 200 with frames, 204 without).
        body: the body (a WebSocket: the actions of every frame, as one JSON array).
        headers: the answer's headers, names in lower case.
        request_id: in process, the Lambda request id of the invocation.
    """

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None


class Transport(Protocol):
    """Delivers one event of a call; see :class:`Delivery`."""

    description: str

    def post(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """Send ``body`` (one JSON event) and return the answer."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class RawTransport(Transport, Protocol):
    """An HTTP transport that can also send requests that are not events."""

    def request(
        self,
        method: str,
        path: str | None,
        headers: Mapping[str, str],
        body: bytes | str | None,
        *,
        base64_encoded: bool = False,
        context: LocalContext | None = None,
    ) -> Delivery:
        """Send any request (see :meth:`InProcessTransport.request`)."""
        ...


class InProcessTransport:
    """The Lambda handler behind a local API Gateway (HTTP API, payload 2.0), in this process.

    Args:
        handler: the Lambda handler.
        path: where events are posted.
        name: for :attr:`description`.
        timeout_ms: the simulated Lambda timeout.
    """

    def __init__(
        self,
        handler: LambdaHandler,
        *,
        path: str = "/webhook",
        name: str = "",
        timeout_ms: int = 10_000,
    ) -> None:
        self.handler = handler
        self.path = path
        self.timeout_ms = timeout_ms
        self.gateway = LocalGateway(handler, timeout_ms=timeout_ms)
        self.description = f"in-process {name}".strip()

    def post(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """See :class:`Transport`."""
        return self.request("POST", self.path, headers, body)

    def request(
        self,
        method: str,
        path: str | None,
        headers: Mapping[str, str],
        body: bytes | str | None,
        *,
        base64_encoded: bool = False,
        context: LocalContext | None = None,
    ) -> Delivery:
        """Invoke the handler with the API Gateway event of any request.

        Args:
            method: ``POST``, ``GET``, ...
            path: the request path (None: the webhook's).
            headers: exactly these headers (names lower-cased, as API Gateway does).
            body: ``None`` for an event without ``body``; text as it is; bytes decoded as
                UTF-8 (base64-encoded when ``base64_encoded`` or when they are not UTF-8).
            base64_encoded: mark the body ``isBase64Encoded`` (a text body is then taken to
                be base64 already, valid or not: how API Gateway's edge cases look).
            context: the Lambda context (e.g. ``LocalContext(timeout_ms=450)`` for a Lambda
                close to its timeout); default a fresh one with the transport's timeout.
        """
        event = http_api_event(method, path or self.path, headers, b"")
        if isinstance(body, bytes) and not base64_encoded:
            try:
                body = body.decode("utf-8")
            except UnicodeDecodeError:  # API Gateway passes such a body base64-encoded
                base64_encoded = True
        if isinstance(body, bytes):
            body = base64.b64encode(body).decode()
        if body is not None:
            event["body"] = body
        event["isBase64Encoded"] = base64_encoded
        context = context or LocalContext(timeout_ms=self.timeout_ms)
        response = self.gateway.invoke(event, context)
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return Delivery(response.status, response.body, headers_out, context.aws_request_id)

    def close(self) -> None:
        """Nothing to release."""


class HttpTransport:
    """A webhook URL over real HTTP (``urllib``)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.description = url

    def post(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """See :class:`Transport`."""
        return self._send(self.url, "POST", headers, body)

    def request(
        self,
        method: str,
        path: str | None,
        headers: Mapping[str, str],
        body: bytes | str | None,
        *,
        base64_encoded: bool = False,
        context: LocalContext | None = None,
    ) -> Delivery:
        """Send any request to ``path`` (None: the webhook's) on the webhook's host; base64
        bodies and Lambda contexts exist only in process."""
        if base64_encoded or context is not None:
            raise SimulatorError(
                "base64_encoded and context exist only in process", code="in_process_only"
            )
        parts = urllib.parse.urlsplit(self.url)
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path or parts.path, "", ""))
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self._send(url, method, headers, data)

    def _send(
        self, url: str, method: str, headers: Mapping[str, str], body: bytes | None
    ) -> Delivery:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                found = {k.lower(): v for k, v in response.headers.items()}
                return Delivery(int(response.status), response.read(), found)
        except urllib.error.HTTPError as exc:
            with exc:
                found = {k.lower(): v for k, v in exc.headers.items()}
                return Delivery(int(exc.code), exc.read(), found)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SimulatorError(f"cannot reach {self.url}: {reason}", code="unreachable") from None

    def close(self) -> None:
        """Nothing to release (urllib opens a connection per request)."""


class InProcessWebSocketTransport:
    """The WebSocket Lambda handler (:func:`aiflow.lambda_.websocket_handler`) driven in
    process, as API Gateway's WebSocket API drives it: ``$connect`` with the headers of the
    first event (the token), one ``$default`` invocation per event, ``$disconnect`` on
    :meth:`close`. Replies, which the Management API would post to the connection, are
    recorded by a sender; :meth:`post` returns the frames sent during its invocation as one
    array. No socket, no waiting: the handler returns when the turn is done.

    Args:
        handler: the WebSocket handler; its ``sender_for`` is pointed at this transport.
        name: for :attr:`description`.
        clock: the time of each frame (``requestTimeEpoch``, the reference for
            interruptions); default the system clock.
        timeout_ms: the simulated Lambda timeout.
    """

    def __init__(
        self,
        handler: Any,
        *,
        name: str = "",
        clock: Clock | None = None,
        timeout_ms: int = 60_000,
    ) -> None:
        self.handler = handler
        self.clock = clock
        self.timeout_ms = timeout_ms
        self.description = f"in-process WebSocket {name}".strip()
        self.connection_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
        self.connected = False
        self._frames: dict[str, list[str]] = {}
        self._late: list[str] = []  # frames of an earlier event still being streamed
        self._lock = threading.Lock()
        handler.sender_for = self._sender_for

    def post(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """See :class:`Transport`; the first event also connects (a refusal is its answer)."""
        if not self.connected:
            refused = self._connect(headers)
            if refused is not None:
                return refused
        request_id = uuid.uuid4().hex
        with self._lock:
            self._frames[request_id] = []
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        event = websocket_event(
            "$default",
            self.connection_id,
            body=text if text is not None else base64.b64encode(body).decode(),
            binary=text is None,
            request_id=request_id,
            at=self._now(),
        )
        try:
            self.handler(event, LocalContext(timeout_ms=self.timeout_ms))
        finally:
            clear_metrics()
            with self._lock:
                frames = [*self._late, *self._frames.pop(request_id, [])]
                self._late = []
        actions: list[Any] = []
        for frame in frames:
            decoded = json.loads(frame)
            actions.extend(decoded if isinstance(decoded, list) else [decoded])
        if not actions:
            return Delivery(204, b"", {}, request_id)
        data = json.dumps(actions, ensure_ascii=False).encode("utf-8")
        return Delivery(200, data, {"content-type": "application/json"}, request_id)

    def close(self) -> None:
        """The platform hangs up: ``$disconnect``."""
        if self.connected:
            self.connected = False
            event = websocket_event("$disconnect", self.connection_id, at=self._now())
            with contextlib.suppress(Exception):  # closing must not hide a test's failure
                self.handler(event, LocalContext(timeout_ms=self.timeout_ms))
            clear_metrics()

    def _connect(self, headers: Mapping[str, str]) -> Delivery | None:
        event = websocket_event("$connect", self.connection_id, headers=headers, at=self._now())
        try:
            result = self.handler(event, LocalContext(timeout_ms=self.timeout_ms))
        finally:
            clear_metrics()
        response = lambda_response(result)
        if response.status != 200:
            found = {k.lower(): v for k, v in response.headers.items()}
            return Delivery(response.status, response.body, found)
        self.connected = True
        return None

    def _now(self) -> int:
        return self.clock.now_ms() if self.clock is not None else int(time.time() * 1000)

    def _sender_for(self, request_context: Mapping[str, Any]) -> Callable[[str], None]:
        request_id = str(request_context.get("requestId"))

        def send(body: str) -> None:
            with self._lock:
                if request_id in self._frames:
                    self._frames[request_id].append(body)
                else:  # an earlier event's turn is still streaming: it comes with the next
                    self._late.append(body)

        return send


def load_object(spec: str) -> Any:
    """Import ``module:attribute`` (attribute default ``assistant``)."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SimulatorError(
                f"cannot import {module_name!r} (from {spec!r}); is its folder on sys.path?",
                code="bad_target",
            ) from None
        raise
    obj = module
    for part in (attribute or "assistant").split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SimulatorError(
                f"{module_name} has no attribute {attribute or 'assistant'!r}", code="bad_target"
            ) from None
    return obj


class WebSocketClientTransport:
    """A :class:`Transport` over a real WebSocket, for the call simulator (``aiflow call --ws``).

    The platform's side of a WebSocket call: connect once with ``X-API-TOKEN``, send each
    event as a frame. There is no answer as such, so :meth:`post` collects the frames that
    arrive until none came for ``quiet_s`` (or, if none comes at all, for ``first_s``) and
    returns them as one reply (200 and an array, or 204). Frames that arrive later are
    returned with the next event's. The time that matters to a caller is the one to the
    first frame (the quiet wait after the last one is ours): :attr:`first_frame_ms` has it
    for every :meth:`post`, None when no frame came.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        token: the ``X-API-TOKEN``.
        first_s: how long to wait for the first frame of an answer.
        quiet_s: after a frame, how long the line must stay quiet to end the answer.
        on_frame: called with each frame's actions and the seconds since the event was sent.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        first_s: float = 3.0,
        quiet_s: float = 0.6,
        on_frame: Callable[[list[dict[str, Any]], float], None] | None = None,
    ) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        self.url = url
        self.description = url
        self.first_s = first_s
        self.quiet_s = quiet_s
        self.on_frame = on_frame
        self.first_frame_ms: list[float | None] = []
        self._frames: queue.Queue[str | None] = queue.Queue()
        self._stack = contextlib.ExitStack()  # a connection lives as a context manager
        try:
            self.connection = self._stack.enter_context(
                connect(
                    url,
                    additional_headers={"X-API-TOKEN": token},
                    proxy=None,
                    compression=None,
                    open_timeout=10,
                )
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            detail = bytes(exc.response.body or b"").decode("utf-8", errors="replace")
            raise SimulatorError(
                f"{url} refused the connection: HTTP {status} {detail}".strip(), code="refused"
            ) from None
        except OSError as exc:
            raise SimulatorError(f"cannot reach {url}: {exc}", code="unreachable") from None
        self._reader = threading.Thread(target=self._read, name="aiflow-ws-client", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for message in self.connection:
                text = message if isinstance(message, str) else message.decode("utf-8")
                self._frames.put(text)
        except ConnectionClosed:
            pass
        finally:
            self._frames.put(None)

    def post(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """Send one event; return the frames that answered it (see the class docstring)."""
        from websockets.exceptions import ConnectionClosed

        event = json.loads(body)
        kind = event.get("type") if isinstance(event, dict) else None
        started = time.monotonic()
        try:
            self.connection.send(body.decode("utf-8"))
        except ConnectionClosed:
            raise SimulatorError(f"{self.url} closed the connection", code="unreachable") from None
        actions: list[dict[str, Any]] = []
        first: float | None = None
        # The platform's own notifications rarely get an answer (at most held-back actions,
        # which come at once): do not wait long for one.
        timeout = self.first_s if kind not in _PLATFORM_EVENTS else min(self.quiet_s, 0.3)
        while True:
            try:
                text = self._frames.get(timeout=timeout)
            except queue.Empty:
                break
            if text is None:
                self._frames.put(None)  # closed: tell later calls too
                break
            decoded = json.loads(text)
            frame = decoded if isinstance(decoded, list) else [decoded]
            actions.extend(frame)
            if first is None:
                first = (time.monotonic() - started) * 1000
            if self.on_frame is not None:
                self.on_frame(frame, time.monotonic() - started)
            timeout = self.quiet_s
        self.first_frame_ms.append(first)
        if not actions:
            return Delivery(204, b"")
        return Delivery(200, json.dumps(actions, ensure_ascii=False).encode("utf-8"))

    def close(self) -> None:
        """Close the connection (the platform hangs up)."""
        self._stack.close()
        self._reader.join(timeout=5)
