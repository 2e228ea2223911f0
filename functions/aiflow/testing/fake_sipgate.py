"""A fake of sipgate's outbound-call REST endpoint, on loopback, for tests.

    from aiflow.outbound import SipgateClient, dial
    from aiflow.testing.fake_sipgate import Answer, FakeSipgate

    with FakeSipgate(flows={"flow-1": "+4921155660"}) as sipgate:
        client = SipgateClient(sipgate.token, base_url=sipgate.url, device="e2")
        dial("flow-1", "+4915790000687", client=client)
        assert sipgate.requests[0].json == {"billingDevice": "e2", "toPhoneNumber": "4915790000687"}

It answers as the documentation describes: a wrong or missing ``Bearer`` token gets 401, an
unknown AI Flow 404, a flow without a phone number 400, anything else 201 (empty body, since
the real body is undocumented). Scripted answers (``sipgate.answer(429, Answer(500), ...)``)
are used first, one per request, for rate limits, outages and stalls. Every request is
recorded. Real HTTP on a free port of 127.0.0.1, a thread per request.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CALL_PATH = re.compile(r"^/v3/ai-flows/([^/]+)/call$")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None if it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Answer:
    """A scripted answer.

    Attributes:
        status: the HTTP status.
        body: JSON-serialisable (sent as JSON), ``str``/``bytes`` (sent as is) or None.
        headers: extra headers, e.g. ``{"Retry-After": "1"}``.
        delay: seconds to wait before answering (a stalled server).
    """

    status: int = 201
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeSipgate:
    """sipgate's ``POST /v3/ai-flows/{aiFlowId}/call`` on loopback.

    Args:
        token: the only token accepted (``Authorization: Bearer <token>``).
        flows: AI Flow id -> its phone number (None: a flow without number, answered 400).
        created_body: the body of a 201 (default: none).
    """

    def __init__(
        self,
        *,
        token: str = "test-sipgate-token",
        flows: Mapping[str, str | None] | None = None,
        created_body: Any = None,
    ) -> None:
        self.token = token
        self.flows: dict[str, str | None] = dict(flows or {})
        self.created_body = created_body
        self.requests: list[RecordedRequest] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:<port>``), for ``AIFLOW_SIPGATE_API_URL``."""
        if self._server is None:
            raise RuntimeError("FakeSipgate is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, *answers: Answer | int) -> None:
        """Script the next answers, one per request, before the documented behaviour."""
        with self._lock:
            self._script.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    def calls(self) -> list[RecordedRequest]:
        """The requests so far (a copy)."""
        with self._lock:
            return list(self.requests)

    def start(self) -> FakeSipgate:
        """Listen on a free loopback port."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                fake._handle(self)

            do_GET = do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; stalled answers are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSipgate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- one request ------------------------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=http.command,
            path=http.path,
            headers={name.lower(): value for name, value in http.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        answer = scripted or self._documented(request)
        if answer.delay and self._stopping.wait(answer.delay):
            return
        self._send(http, answer)

    def _documented(self, request: RecordedRequest) -> Answer:
        match = _CALL_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return Answer(404, {"message": "Not Found"})
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Answer(401, {"message": "Unauthorized"})
        flow_id = match.group(1)
        if flow_id not in self.flows:
            return Answer(404, {"message": f"AI flow {flow_id} not found"})
        if not self.flows[flow_id]:
            return Answer(400, {"message": "AI flow has no phone_number configured"})
        payload = request.json
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("billingDevice"), str)
            or not isinstance(payload.get("toPhoneNumber"), str)
        ):
            return Answer(400, {"message": "billingDevice and toPhoneNumber are required"})
        return Answer(201, self.created_body)

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, answer: Answer) -> None:
        if answer.body is None:
            data, kind = b"", None
        elif isinstance(answer.body, bytes):
            data, kind = answer.body, "application/octet-stream"
        elif isinstance(answer.body, str):
            data, kind = answer.body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(answer.body).encode(), "application/json"
        try:
            http.send_response(answer.status)
            if kind:
                http.send_header("Content-Type", kind)
            for name, value in answer.headers.items():
                http.send_header(name, value)
            http.send_header("Content-Length", str(len(data)))
            http.end_headers()
            http.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)
