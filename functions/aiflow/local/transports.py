"""How a simulated platform reaches a webhook: in process through the local API Gateway, over
real HTTP with ``urllib``, or over a WebSocket; and :func:`load_object` for ``module:name``."""

from __future__ import annotations

import contextlib
import importlib
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..errors import AiflowError

# The platform's own notifications: they rarely get an answer.
_PLATFORM_EVENTS = frozenset({"assistant_speak", "assistant_speech_ended", "session_end"})

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class SimulatorError(AiflowError):
    """The simulated call cannot do what was asked (not started, already over, no server)."""

    code = "simulator"


class Transport(Protocol):
    """Delivers one webhook request; returns status and body."""

    description: str

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Send ``body`` and return the answer."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class InProcessTransport:
    """The Lambda handler behind a local API Gateway, in this process."""

    def __init__(self, handler: LambdaHandler, *, path: str = "/webhook", name: str = "") -> None:
        from .gateway import LocalGateway  # standard library only

        self.gateway = LocalGateway(handler)
        self.path = path
        self.description = f"in-process {name}".strip()

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """See :class:`Transport`."""
        response = self.gateway.request("POST", self.path, headers, body)
        return response.status, response.body

    def close(self) -> None:
        """Nothing to release."""


class HttpTransport:
    """A webhook URL over real HTTP (``urllib``)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.description = url

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """See :class:`Transport`."""
        request = urllib.request.Request(self.url, data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return int(exc.code), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SimulatorError(f"cannot reach {self.url}: {reason}", code="unreachable") from None

    def close(self) -> None:
        """Nothing to release (urllib opens a connection per request)."""


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
    """A :class:`aiflow.local.transports.Transport` over a WebSocket, for the call simulator.

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

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
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
            return 204, b""
        return 200, json.dumps(actions, ensure_ascii=False).encode("utf-8")

    def close(self) -> None:
        """Close the connection (the platform hangs up)."""
        self._stack.close()
        self._reader.join(timeout=5)
