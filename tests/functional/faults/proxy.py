"""A TCP proxy on loopback that delays, swallows or cuts the traffic of one dependency.

Put in front of a server (moto, a fake model endpoint) and handed to boto3 as the endpoint
URL, it passes bytes through unchanged until a fault is injected::

    proxy.inject("delay", seconds=3, direction="response", match=b"PutItem", times=1)

Faults are decided per HTTP request (a chunk from the client that starts with a method) and
apply to the request and its response:

``pass``       forward both ways.
``delay``      hold the request (``direction="request"``), its answer (``"response"``: the
               request is applied at once, the answer comes late) or each (``"both"``) for
               ``seconds`` before forwarding.
``blackhole``  accept and read, never forward and never answer (``"response"``: forward the
               request, swallow the answer: a write that lands and is never confirmed).
``close``      close the connection instead of forwarding the request (``"response"``: after
               forwarding it, instead of its answer).

``match`` limits a fault to requests whose bytes contain it (e.g. the ``X-Amz-Target`` of
one DynamoDB operation), ``times`` to the first N of them. :meth:`FaultProxy.heal` goes back
to passing and lets held requests through at once (the network is back: a request that was
delayed still arrives, as a late TCP segment would), and :meth:`FaultProxy.quiet` waits until
nothing is held any more.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

Mode = Literal["pass", "delay", "blackhole", "close"]
Direction = Literal["request", "response", "both"]
_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"PATCH ")


@dataclass
class Fault:
    """What happens to the requests that match."""

    mode: Mode = "pass"
    seconds: float = 0.0
    direction: Direction = "both"
    match: bytes | None = None
    times: int | None = None  # None: every matching request

    def takes(self, request: bytes) -> bool:
        """Whether this fault applies to a request starting with ``request``."""
        if self.mode == "pass" or self.times == 0:
            return False
        return self.match is None or self.match in request


PASS = Fault()


class FaultProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``; see the module docstring.

    Attributes:
        url: ``http://127.0.0.1:<port>``, the endpoint URL for boto3.
        requests: the first line and the fault of every request seen (for test messages).
    """

    def __init__(self, upstream: tuple[str, int], name: str = "proxy") -> None:
        self.upstream = upstream
        self.name = name
        self.fault = PASS
        self.requests: list[tuple[bytes, Mode]] = []
        self._lock = threading.Condition()
        self._held = 0  # chunks waiting in a delay
        self._healed = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._server.settimeout(0.1)
        self._closed = threading.Event()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, name=f"{name}-accept", daemon=True)
        self._thread.start()

    # --- control -------------------------------------------------------------------------

    def inject(
        self,
        mode: Mode,
        *,
        seconds: float = 0.0,
        direction: Direction = "both",
        match: bytes | None = None,
        times: int | None = None,
    ) -> None:
        """From now on, treat matching requests with this fault."""
        with self._lock:
            self._healed.clear()
            self.fault = Fault(mode, seconds, direction, match, times)

    def heal(self) -> None:
        """Pass everything again; delayed requests and answers go through now."""
        with self._lock:
            self.fault = PASS
            self._healed.set()

    def quiet(self, timeout: float = 5.0) -> None:
        """Wait until no delayed chunk is held (a late write has landed)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: {self._held} chunks still held")
                self._lock.wait(left)

    def close(self) -> None:
        """Stop listening and cut every connection (waiting clients fail at once)."""
        self._closed.set()
        self._healed.set()
        self._thread.join()
        self._server.close()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)
            self._sockets.clear()

    # --- connections -----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            answers: deque[Fault] = deque()
            for source, target, forward in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump,
                    args=(source, target, forward, answers),
                    name=f"{self.name}-{'up' if forward else 'down'}",
                    daemon=True,
                ).start()

    def _pump(
        self, source: socket.socket, target: socket.socket, forward: bool, answers: deque[Fault]
    ) -> None:
        """Copy ``source`` to ``target``, applying the fault of each request (``forward``)
        or of the request each answer belongs to."""
        current = PASS  # the fault of the request (or answer) these bytes belong to
        swallowing = False  # an answer was swallowed: the client must not learn of its end
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    swallowing = current.mode == "blackhole" and not forward
                    break
                if forward and chunk.startswith(_METHODS):
                    current = self._decide(chunk)
                    answers.append(current)
                elif not forward and chunk.startswith(b"HTTP/"):
                    current = answers.popleft() if answers else PASS
                sides = ("request", "both") if forward else ("response", "both")
                if current.direction not in sides:
                    target.sendall(chunk)  # the fault is on the other side
                    continue
                if current.mode == "blackhole":
                    continue
                if current.mode == "close":
                    break
                if current.mode == "delay":
                    self._wait(current.seconds)
                    current = Fault("pass", direction=current.direction)  # once per message
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(source)
            if not swallowing:
                _close(target)  # else the client's side ends when the client gives up
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)

    def _decide(self, request: bytes) -> Fault:
        with self._lock:
            fault = self.fault
            first_line = request.split(b"\r\n", 1)[0]
            if not fault.takes(request):
                self.requests.append((first_line, "pass"))
                return PASS
            if fault.times is not None:
                self.fault = Fault(
                    fault.mode, fault.seconds, fault.direction, fault.match, fault.times - 1
                )
            self.requests.append((first_line, fault.mode))
            return fault

    def _wait(self, seconds: float) -> None:
        with self._lock:
            self._held += 1
        try:
            self._healed.wait(seconds)
        finally:
            with self._lock:
                self._held -= 1
                self._lock.notify_all()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
