"""The platform's side of a call: events in through a Lambda handler, actions played out.

:class:`Phone` places one call through the webhook Lambda handler (API Gateway HTTP API
events, payload 2.0) and :class:`WsPhone` through the WebSocket handler (frames arrive via
the Management API, see :mod:`.cloud`). Both play what they get the way the platform does:
speeches one after the other, each reported with ``assistant_speak`` (its text) and
``assistant_speech_ended``; a ``hangup`` or ``transfer`` is executed at once, cutting off
whatever still plays or waits to be played. They remember what the caller heard, what was
cut off and how long every answer took.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cloud import TOKEN, Cloud

CALLER = "+4917612345678"
LINE = "+4921198765400"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    """The parts of the Lambda context the handlers and Powertools read."""

    remaining_ms: int = 10_000
    function_name: str = "aiflow-webhook"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-central-1:123456789012:function:aiflow"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Answer:
    """What one event got back."""

    event: str
    status: int
    actions: list[dict[str, Any]]
    seconds: float  # from sending the event to the answer (WebSocket: the invocation)

    @property
    def types(self) -> list[str]:
        return [a["type"] for a in self.actions]

    @property
    def said(self) -> list[str]:
        return [a.get("text") or a.get("ssml", "") for a in self.actions if a["type"] == "speak"]


class Line:
    """A call's bookkeeping on the platform, whatever the transport.

    Attributes:
        answers: every event's answer, in order.
        heard: speeches played to their end.
        playing: the speech playing now (reported with ``assistant_speak``).
        queue: speeches received and not started yet.
        cut: speeches a hangup or transfer cut off (or kept from being played).
        ended_by: ``hangup`` or ``transfer`` once the platform executed one.
        endings: every ``hangup`` and ``transfer`` the platform got.
    """

    def __init__(
        self,
        session_id: str | None = None,
        caller: str | None = CALLER,
        *,
        dialled: str | None = None,
    ) -> None:
        self.session_id = session_id or str(uuid.uuid4())
        self.caller = caller
        self.dialled = dialled  # an outbound call to this number (we placed it)
        self.answers: list[Answer] = []
        self.heard: list[str] = []
        self.playing: str | None = None
        self.queue: list[str] = []
        self.cut: list[str] = []
        self.ended_by: str | None = None
        self.endings: list[str] = []

    # --- the transport (subclasses) --------------------------------------------------------

    def deliver(self, body: dict[str, Any]) -> Answer:
        raise NotImplementedError

    # --- events ------------------------------------------------------------------------------

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        session: dict[str, Any] = {
            "id": self.session_id,
            "account_id": "acc-7731",
            "phone_number": LINE,
        }
        if kind == "session_start" and self.dialled is not None:
            session.update(direction="outbound", from_phone_number=LINE)
            session["to_phone_number"] = self.dialled
        elif kind == "session_start":
            session.update(direction="inbound", to_phone_number=LINE)
            if self.caller is not None:
                session["from_phone_number"] = self.caller
        return {"type": kind, "session": session, **fields}

    def send(self, kind: str, **fields: Any) -> Answer:
        """Deliver the next event and take in its answer."""
        answer = self.deliver(self.event(kind, **fields))
        self.answers.append(answer)
        self._take(answer.actions)
        return answer

    def start(self) -> Answer:
        return self.send("session_start")

    def say(self, text: str, *, barged_in: bool = False) -> Answer:
        """The caller speaks; talking over a speech interrupts it (it was not heard)."""
        if barged_in:
            self.playing = None
            self.queue.clear()
        return self.send("user_speak", text=text, barged_in=barged_in)

    def play(self) -> list[Answer]:
        """Play every waiting speech to its end (and what the answers bring)."""
        answers = []
        while self.queue and self.ended_by is None:
            answers += self.play_one()
        return answers

    def play_one(self) -> list[Answer]:
        """Start the next waiting speech and let it end."""
        started = self.start_speech()
        if self.ended_by is not None:
            return [started]
        return [started, self.end_speech()]

    def start_speech(self) -> Answer:
        """The next waiting speech starts playing (``assistant_speak`` with its text)."""
        text = self.queue.pop(0)
        self.playing = text
        return self.send(
            "assistant_speak",
            text=text,
            duration_ms=1200,
            speech_started_at=int(time.time() * 1000),
        )

    def end_speech(self) -> Answer:
        """The speech playing now ended."""
        if self.playing is not None:
            self.heard.append(self.playing)
            self.playing = None
        return self.send("assistant_speech_ended")

    def late_speech_end(self) -> Answer:
        """The end of an earlier speech, reported late: what plays now goes on."""
        return self.send("assistant_speech_ended")

    def hang_up(self) -> Answer:
        return self.send("session_end")

    # --- what the caller got -----------------------------------------------------------------

    @property
    def slowest(self) -> float:
        return max((a.seconds for a in self.answers), default=0.0)

    @property
    def statuses(self) -> set[int]:
        return {a.status for a in self.answers}

    def _take(self, actions: list[dict[str, Any]]) -> None:
        for action in actions:
            kind = action["type"]
            if kind == "speak":
                self.queue.append(action.get("text") or action.get("ssml", ""))
            elif kind == "barge_in":
                self.playing = None
                self.queue.clear()
            elif kind in ("hangup", "transfer"):
                self.endings.append(kind)
                if self.ended_by is not None:
                    continue
                self.cut += [t for t in (self.playing, *self.queue) if t is not None]
                self.playing = None
                self.queue.clear()
                self.ended_by = kind


class Phone(Line):
    """A call through the webhook Lambda handler."""

    def __init__(
        self,
        handler: Handler,
        *,
        session_id: str | None = None,
        caller: str | None = CALLER,
        token: str = TOKEN,
        dialled: str | None = None,
    ) -> None:
        super().__init__(session_id, caller, dialled=dialled)
        self.handler = handler
        self.token = token

    def deliver(self, body: dict[str, Any]) -> Answer:
        raw = json.dumps(body, ensure_ascii=False)
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/webhook",
            "rawQueryString": "",
            "headers": {
                "content-type": "application/json",
                "content-length": str(len(raw.encode())),
                "host": "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
                "x-api-token": self.token,
            },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "a1b2c3d4e5",
                "domainName": "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
                "http": {"method": "POST", "path": "/webhook", "sourceIp": "203.0.113.10"},
                "requestId": uuid.uuid4().hex,
                "routeKey": "$default",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "body": raw,
            "isBase64Encoded": False,
        }
        started = time.perf_counter()
        result = self.handler(event, LambdaContext())
        seconds = time.perf_counter() - started
        status = int(result["statusCode"])
        parsed = json.loads(result["body"]) if status == 200 and result.get("body") else None
        actions = parsed if isinstance(parsed, list) else ([parsed] if parsed else [])
        return Answer(body["type"], status, actions, seconds)


class WsPhone(Line):
    """A call over the WebSocket API: one connection, one invocation per event; the answer
    is what reached the connection through the Management API meanwhile."""

    def __init__(self, handler: Handler, cloud: Cloud, *, session_id: str | None = None) -> None:
        super().__init__(session_id)
        self.handler = handler
        self.cloud = cloud
        self.connection = f"conn-{uuid.uuid4().hex[:12]}"
        self.first_frame: list[float | None] = []  # seconds to the first frame, per event

    def connect(self, token: str = TOKEN) -> int:
        headers = {"Host": "abc123.execute-api.eu-central-1.amazonaws.com", "X-API-TOKEN": token}
        event = self._request("$connect", headers=headers)
        return int(self.handler(event, LambdaContext(remaining_ms=60_000))["statusCode"])

    def disconnect(self) -> None:
        self.handler(self._request("$disconnect"), LambdaContext(remaining_ms=60_000))

    def deliver(self, body: dict[str, Any]) -> Answer:
        seen = len(self.cloud.frames)
        event = self._request("$default", body=json.dumps(body, ensure_ascii=False))
        started = time.monotonic()
        result = self.handler(event, LambdaContext(remaining_ms=60_000))
        seconds = time.monotonic() - started
        frames = [f for f in self.cloud.frames[seen:] if f.connection == self.connection]
        self.first_frame.append(frames[0].at - started if frames else None)
        actions = [a for frame in frames for a in frame.actions]
        return Answer(body["type"], int(result["statusCode"]), actions, seconds)

    def _request(self, route: str, **extra: Any) -> dict[str, Any]:
        kinds = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
        now = int(time.time() * 1000)
        return {
            "requestContext": {
                "routeKey": route,
                "eventType": kinds.get(route, "MESSAGE"),
                "connectionId": self.connection,
                "domainName": "abc123.execute-api.eu-central-1.amazonaws.com",
                "stage": "live",
                "apiId": "abc123",
                "requestId": uuid.uuid4().hex,
                "requestTimeEpoch": now,
                "connectedAt": now,
            },
            "isBase64Encoded": False,
            **extra,
        }
