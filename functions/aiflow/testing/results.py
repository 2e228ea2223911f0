"""What a simulated call records: each request (:class:`Exchange`) and each caller turn
(:class:`TurnResult`), with the ``expect`` cursor to check a turn's actions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ..errors import AiflowError
from ..local.transports import Delivery
from ..protocol.actions import Action, AudioAction, SpeakAction, parse_reply
from ..report import TurnReport
from .describe import describe_action, speech_settings, speech_text, without_session
from .expect import SPEECH_ENDED, Expect

A = TypeVar("A", bound=Action)


@dataclass
class Exchange:
    """One webhook request of the call and what came back.

    Attributes:
        by: ``caller`` for what the caller did, ``platform`` for what the platform sends
            on its own (speech started/ended, ``session_end`` after a hangup, ...).
        event: the event as sent (wire form; ``{"raw": ...}`` for a body that is none).
        status: the HTTP status of the answer.
        body: the answer body as text (``""`` for none).
        actions: the parsed actions.
        latency_ms: time from sending the request to having the answer.
        error: why the answer could not be used (not valid actions), if so.
        headers: the answer's headers, names in lower case.
        reports: in process, the turn engine's reports for this request (the handler's
            exception is ``reports[i].error``).
        request_id: in process, the Lambda request id of the invocation.
    """

    by: Literal["caller", "platform"]
    event: dict[str, Any]
    status: int
    body: str
    actions: list[Action]
    latency_ms: float
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reports: list[TurnReport] = field(default_factory=list)
    request_id: str | None = None

    @classmethod
    def of(
        cls,
        by: Literal["caller", "platform"],
        event: dict[str, Any],
        delivery: Delivery,
        latency_ms: float,
        reports: list[TurnReport],
    ) -> Exchange:
        """The exchange of ``event`` answered with ``delivery`` (its actions parsed)."""
        text = delivery.body.decode("utf-8", errors="replace")
        actions: list[Action] = []
        error = None
        if delivery.status == 200:
            try:
                actions = parse_reply(text)
            except (ValueError, AiflowError) as exc:
                error = f"the 200 answer is not valid actions: {exc}"
        return cls(
            by,
            event,
            delivery.status,
            text,
            actions,
            latency_ms,
            error,
            headers=dict(delivery.headers),
            reports=reports,
            request_id=delivery.request_id,
        )

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body)."""
        return json.loads(self.body) if self.body else None

    @property
    def types(self) -> list[str]:
        """The ``type`` of each action, in order."""
        return [action.type for action in self.actions]

    @property
    def said(self) -> list[str]:
        """What the caller hears: the texts of the ``speak`` actions, in order."""
        return [speech_text(a) for a in self.actions if isinstance(a, SpeakAction)]

    @property
    def handler_error(self) -> BaseException | None:
        """The exception a handler raised for this request (in process), if any."""
        return next((r.error for r in self.reports if r.error is not None), None)

    @property
    def fallback(self) -> str | None:
        """Why the caller heard the fallback for this request (in process), if they did."""
        return next((r.reason or "fallback" for r in self.reports if r.fallback), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, without the repeated session fields."""
        event = {k: v for k, v in self.event.items() if k != "session"}
        doc: dict[str, Any] = {
            "by": self.by,
            "event": event,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 1),
            "actions": [without_session(a.to_wire()) for a in self.actions],
        }
        if self.error:
            doc["error"] = self.error
        elif self.status >= 400:
            doc["body"] = self.body
        if self.fallback:
            doc["fallback"] = self.fallback
        error = self.handler_error
        if error is not None:
            doc["handler_error"] = f"{type(error).__name__}: {error}"
        return doc


@dataclass
class TurnResult:
    """What happened after one caller action: the requests sent and the actions heard.

    Attributes:
        number: 1 for the first turn of the call.
        label: what the caller did, e.g. ``says "Hallo"``.
        said: the caller's words, for a turn where they spoke.
        exchanges: the caller's request(s) first, then what the platform sent on its own.
    """

    number: int
    label: str
    said: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def actions(self) -> list[Action]:
        """Every action of the turn, in the order the platform got them."""
        return [action for exchange in self.exchanges for action in exchange.actions]

    @property
    def spoken(self) -> list[str]:
        """The texts of the turn's ``speak`` actions."""
        return [speech_text(a) for a in self.actions if isinstance(a, SpeakAction)]

    @property
    def text(self) -> str:
        """Everything the caller heard in this turn, as one string."""
        return " ".join(self.spoken)

    @property
    def sequence(self) -> list[str]:
        """Action types and the speech ends between them, in order, e.g.
        ``["speak", "(speech ended)", "hangup"]``."""
        out: list[str] = []
        for exchange in self.exchanges:
            if exchange.event.get("type") == "assistant_speech_ended":
                out.append(SPEECH_ENDED)
            out += exchange.types
        return out

    def only(self, kind: type[A]) -> A:
        """The one action of type ``kind`` in this turn (AssertionError if not exactly one)."""
        __tracebackhide__ = True
        found = [a for a in self.actions if isinstance(a, kind)]
        if len(found) != 1:
            raise AssertionError(
                f"turn {self.number} ({self.label}): expected one {kind.__name__}, "
                f"got {len(found)} in {self.sequence}"
            )
        return found[0]

    @property
    def status(self) -> int:
        """The status of the answer to the caller's (last) request."""
        mine = [e for e in self.exchanges if e.by == "caller"]
        return mine[-1].status if mine else 0

    @property
    def latency_ms(self) -> float:
        """The slowest answer to a caller request of this turn."""
        return max((e.latency_ms for e in self.exchanges if e.by == "caller"), default=0.0)

    @property
    def expect(self) -> Expect:
        """A cursor that checks the turn's actions one after another."""
        return Expect(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "turn": self.number,
            "caller": self.label,
            "latency_ms": round(self.latency_ms, 1),
            "exchanges": [e.to_dict() for e in self.exchanges],
        }


def conversation(turns: list[TurnResult], ended_by: str | None = None) -> list[dict[str, str]]:
    """A call in reading order: ``{who, text}`` entries where ``who`` is ``caller``,
    ``assistant`` or ``platform``; assistant entries also carry ``action`` (its type) and,
    for speech, ``settings`` (voice, barge-in, timeout in compact form)."""
    lines: list[dict[str, str]] = []
    for turn in turns:
        said = turn.said if turn.said is not None else f"({turn.label})"
        lines.append({"who": "caller", "text": said})
        for exchange in turn.exchanges:
            if exchange.status >= 400 or exchange.error:
                problem = exchange.error or f"HTTP {exchange.status} {exchange.body}"
                lines.append({"who": "platform", "text": problem})
            error = exchange.handler_error
            if error is not None:
                raised = f"the handler raised {type(error).__name__}: {error}"
                lines.append({"who": "platform", "text": raised})
            for action in exchange.actions:
                entry = {"who": "assistant", "action": action.type}
                if isinstance(action, SpeakAction):
                    entry["text"] = speech_text(action)
                else:
                    entry["text"] = describe_action(action)
                if isinstance(action, SpeakAction | AudioAction) and speech_settings(action):
                    entry["settings"] = speech_settings(action)
                lines.append(entry)
    if ended_by and ended_by.startswith("transferred"):
        lines.append({"who": "platform", "text": ended_by})
    return lines
