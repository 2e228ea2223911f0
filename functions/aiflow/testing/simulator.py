"""``CallSimulator``: a phone call against an assistant, playing the sipgate platform.

    with CallSimulator(assistant) as call:
        call.start().expect.speak(contains="Hallo")
        call.say("Tschüss").expect.speak(contains="Wiederhören").hangup().no_more_actions()

Every event goes through the real gateway: in process, the Lambda handler built by
:func:`aiflow.lambda_.lambda_handler` behind a local API Gateway (so auth, parsing and
status codes are covered); or over real HTTP to a URL, e.g. a deployed stack. The simulator
does what the platform does between caller turns: after each speech it sends
``assistant_speak`` and ``assistant_speech_ended`` and collects the actions released then
(a deferred ``hangup`` or ``transfer``); after a ``hangup`` it sends ``session_end``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..assistant import Assistant
from ..errors import AiflowError
from ..local.transports import (
    HttpTransport,
    InProcessTransport,
    LambdaHandler,
    SimulatorError,
    Transport,
    load_object,
)
from ..protocol.actions import (
    Action,
    AudioAction,
    HangupAction,
    SpeakAction,
    TransferAction,
    parse_reply,
)
from .describe import (
    audio_duration_ms,
    describe_action,
    speech_settings,
    speech_text,
    without_session,
)

if TYPE_CHECKING:
    from ..store.base import CallStore
    from .expect import Expect

CallState = Literal["new", "active", "transferring", "ended"]
DIGITS = frozenset("0123456789*#")
__all__ = ["CallOptions", "CallSimulator", "Exchange", "SimulatorError", "TurnResult"]


@dataclass(frozen=True)
class CallOptions:
    """Who calls whom, and how the simulated platform behaves.

    Attributes:
        caller: ``from_phone_number`` of the call.
        called: the AI Flow number (``phone_number`` and ``to_phone_number``).
        account_id: ``session.account_id``.
        direction: ``inbound`` or ``outbound``.
        session_id: the call id (default: a new UUID per simulator).
        transfer_fails: every transfer fails: with a ``timeout`` the caller comes back (a
            second ``session_start``), without one the call ends.
        ms_per_char: speech duration estimate for ``assistant_speak.duration_ms``.
        http_timeout_s: how long to wait for a remote webhook.
    """

    caller: str = "+4917612345678"
    called: str = "+4921198765400"
    account_id: str = "local-account"
    direction: Literal["inbound", "outbound"] = "inbound"
    session_id: str | None = None
    transfer_fails: bool = False
    ms_per_char: int = 65
    http_timeout_s: float = 10.0


@dataclass
class Exchange:
    """One webhook request of the call and what came back.

    Attributes:
        by: ``caller`` for what the caller did, ``platform`` for what the platform sends
            on its own (speech started/ended, ``session_end`` after a hangup, ...).
        event: the event as sent (wire form).
        status: the HTTP status of the answer.
        body: the answer body as text.
        actions: the parsed actions.
        latency_ms: time from sending the request to having the answer.
        error: why the answer could not be used (not valid actions), if so.
    """

    by: Literal["caller", "platform"]
    event: dict[str, Any]
    status: int
    body: str
    actions: list[Action]
    latency_ms: float
    error: str | None = None

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
        from .expect import Expect

        return Expect(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "turn": self.number,
            "caller": self.label,
            "latency_ms": round(self.latency_ms, 1),
            "exchanges": [e.to_dict() for e in self.exchanges],
        }


class CallSimulator:
    """A simulated phone call; each caller verb returns the :class:`TurnResult`.

    Args:
        target: an :class:`~aiflow.Assistant`; a Lambda handler; ``"module:object"`` naming
            either; or the ``http(s)://`` URL of a webhook.
        store: the call store of an in-process assistant (default: in memory; pass a
            :class:`~aiflow.store.dynamodb.DynamoDBStore`, e.g. from
            :class:`aiflow.local.embedded.EmbeddedDynamoDB`, to go through DynamoDB).
        token: the ``X-API-TOKEN`` to send. In process a random one is generated; for a URL
            (or a Lambda handler) the default is ``AIFLOW_API_TOKEN``.
        options: numbers, session id and platform behaviour.
    """

    def __init__(
        self,
        target: Assistant | LambdaHandler | str,
        *,
        store: CallStore | None = None,
        token: str | None = None,
        options: CallOptions | None = None,
    ) -> None:
        __tracebackhide__ = True
        self.options = options or CallOptions()
        self.session_id = self.options.session_id or str(uuid.uuid4())
        self.store = store
        self.turns: list[TurnResult] = []
        self.state: CallState = "new"
        self.ended_by: str | None = None
        self.transfer: TransferAction | None = None
        self.handler: LambdaHandler | None = None
        if isinstance(target, str) and target.startswith(("http://", "https://")):
            self.token = token if token is not None else os.environ.get("AIFLOW_API_TOKEN", "")
            self.transport: Transport = HttpTransport(target, timeout_s=self.options.http_timeout_s)
            return
        resolved = load_object(target) if isinstance(target, str) else target
        if isinstance(resolved, Assistant):
            from ..lambda_ import Settings, lambda_handler
            from ..store.memory import MemoryStore

            self.token = token or secrets.token_urlsafe(18)
            self.store = store if store is not None else MemoryStore()
            settings = Settings(api_token=self.token)
            self.handler = lambda_handler(
                resolved, store=self.store, token=self.token, settings=settings
            )
            name = resolved.name
        elif callable(resolved):
            self.token = token if token is not None else os.environ.get("AIFLOW_API_TOKEN", "")
            self.handler = resolved
            name = getattr(resolved, "__name__", "handler")
        else:
            raise SimulatorError(
                f"cannot call {type(resolved).__name__}: pass an Assistant, a Lambda handler, "
                "'module:object' or an http(s):// URL",
                code="bad_target",
            )
        self.transport = InProcessTransport(self.handler, name=name)

    # --- context manager --------------------------------------------------------------

    def __enter__(self) -> CallSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the call the way the platform would (``session_end``) if it is still up."""
        if self.state in ("active", "transferring"):
            with suppress(Exception):  # closing must never hide the test's own failure
                self._turn("hangs up", [self._event("session_end")])
            self.state = "ended"
            self.ended_by = self.ended_by or "caller"
        self.transport.close()

    # --- caller verbs -----------------------------------------------------------------

    def start(self) -> TurnResult:
        """The call connects: ``session_start``."""
        __tracebackhide__ = True
        if self.state != "new":
            raise SimulatorError("the call was already started", code="already_started")
        self.state = "active"
        return self._turn("calls", [self._event("session_start", full_session=True)])

    def say(self, text: str, *, barged_in: bool = False) -> TurnResult:
        """The caller says ``text`` (``barged_in``: they interrupted the assistant)."""
        __tracebackhide__ = True
        self._require_active()
        fields: dict[str, Any] = {"text": text}
        if barged_in:
            fields["barged_in"] = True
        label = f"interrupts: {text!r}" if barged_in else f"says {text!r}"
        return self._turn(label, [self._event("user_speak", **fields)], said=text)

    def press(self, keys: str) -> TurnResult:
        """The caller presses keys: one ``dtmf_received`` per digit (``0-9 * #``)."""
        __tracebackhide__ = True
        self._require_active()
        wrong = sorted(set(keys) - DIGITS)
        if not keys or wrong:
            raise SimulatorError(
                f"press() takes keys from 0-9, * and #, got {keys!r}", code="bad_keys"
            )
        events = [self._event("dtmf_received", digit=key) for key in keys]
        return self._turn(f"presses {keys}", events)

    def stay_silent(self) -> TurnResult:
        """The caller says nothing until the input timeout: ``user_input_timeout``."""
        __tracebackhide__ = True
        self._require_active()
        return self._turn("stays silent", [self._event("user_input_timeout")])

    def hang_up(self) -> TurnResult:
        """The caller hangs up: ``session_end``."""
        __tracebackhide__ = True
        if self.state not in ("active", "transferring"):
            self._require_active()
        turn = self._turn("hangs up", [self._event("session_end")])
        self.state, self.ended_by = "ended", "caller"
        return turn

    def fail_transfer(self) -> TurnResult:
        """The transfer the assistant asked for was not answered in time: the caller is back
        (``session_start`` again, same call id)."""
        __tracebackhide__ = True
        if self.state != "transferring" or self.transfer is None:
            raise SimulatorError("fail_transfer() needs a transfer in progress", code="no_transfer")
        if self.transfer.timeout is None:
            raise SimulatorError(
                "the transfer has no timeout: when it fails the call ends, nobody comes back",
                code="no_transfer_timeout",
            )
        self.state = "active"
        label = f"transfer to {self.transfer.target_phone_number} fails"
        return self._turn(label, [self._event("session_start", full_session=True)])

    def send(self, event: Mapping[str, Any]) -> TurnResult:
        """Send any event as it is (``session`` is added when missing)."""
        __tracebackhide__ = True
        raw = dict(event)
        raw.setdefault("session", self._session(full=False))
        if self.state == "new" and raw.get("type") == "session_start":
            self.state = "active"
        return self._turn(f"sends {raw.get('type', '?')}", [raw])

    # --- results ----------------------------------------------------------------------

    @property
    def actions(self) -> list[Action]:
        """Every action of the call so far."""
        return [a for turn in self.turns for a in turn.actions]

    @property
    def target(self) -> str:
        """Where the events go (a URL or ``in-process <assistant>``)."""
        return self.transport.description

    def conversation(self) -> list[dict[str, str]]:
        """The call in reading order: ``{who, text}`` entries where ``who`` is ``caller``,
        ``assistant`` or ``platform``; assistant entries also carry ``action`` (its type)
        and, for speech, ``settings`` (voice, barge-in, timeout in compact form)."""
        lines: list[dict[str, str]] = []
        for turn in self.turns:
            said = turn.said if turn.said is not None else f"({turn.label})"
            lines.append({"who": "caller", "text": said})
            for exchange in turn.exchanges:
                if exchange.status >= 400 or exchange.error:
                    problem = exchange.error or f"HTTP {exchange.status} {exchange.body}"
                    lines.append({"who": "platform", "text": problem})
                for action in exchange.actions:
                    entry = {"who": "assistant", "action": action.type}
                    if isinstance(action, SpeakAction):
                        entry["text"] = speech_text(action)
                    else:
                        entry["text"] = describe_action(action)
                    if isinstance(action, SpeakAction | AudioAction) and speech_settings(action):
                        entry["settings"] = speech_settings(action)
                    lines.append(entry)
        return lines

    def transcript(self) -> dict[str, Any]:
        """The whole call as a JSON-ready dict (what ``aiflow call --transcript`` saves)."""
        return {
            "session_id": self.session_id,
            "target": self.target,
            "caller": self.options.caller,
            "called": self.options.called,
            "state": self.state,
            "ended_by": self.ended_by,
            "conversation": self.conversation(),
            "turns": [turn.to_dict() for turn in self.turns],
        }

    # --- the platform -----------------------------------------------------------------

    def _require_active(self) -> None:
        __tracebackhide__ = True
        if self.state == "new":
            raise SimulatorError("the call has not started: call start() first", code="not_started")
        if self.state == "transferring" and self.transfer is not None:
            raise SimulatorError(
                f"the call was transferred to {self.transfer.target_phone_number}; "
                "use fail_transfer() to bring the caller back, or hang_up()",
                code="transferred",
            )
        if self.state == "ended":
            raise SimulatorError(f"the call is over (ended by {self.ended_by})", code="call_over")

    def _turn(
        self, label: str, events: list[dict[str, Any]], *, said: str | None = None
    ) -> TurnResult:
        turn = TurnResult(len(self.turns) + 1, label, said)
        self.turns.append(turn)
        for event in events:
            if self.state == "ended" and event["type"] != "session_end":
                break  # e.g. the assistant hung up after the first of several key presses
            exchange = self._exchange("caller", event)
            turn.exchanges.append(exchange)
            self._play(turn, exchange.actions)
        return turn

    def _play(self, turn: TurnResult, actions: list[Action]) -> None:
        """Do what the platform does with a reply, sending the events that follow from it."""
        for action in actions:
            if len(turn.exchanges) > 50:
                raise SimulatorError(
                    "more than 50 requests in one turn: the assistant keeps answering "
                    "the platform's events with more speech",
                    code="runaway_turn",
                )
            if isinstance(action, SpeakAction | AudioAction):
                self._follow(turn, self._speech_started(action))
                self._follow(turn, self._event("assistant_speech_ended"))
            elif isinstance(action, HangupAction):
                self.state, self.ended_by = "ended", "assistant"
                self._follow(turn, self._event("session_end"))
                return  # a hangup takes effect at once
            elif isinstance(action, TransferAction):
                self.transfer = action
                self.state = "transferring"
                if self.options.transfer_fails:
                    if action.timeout is None:
                        self.state, self.ended_by = "ended", "failed transfer"
                        self._follow(turn, self._event("session_end"))
                    else:
                        self.state = "active"
                        self._follow(turn, self._event("session_start", full_session=True))
                return
            if self.state in ("ended", "transferring"):
                return

    def _follow(self, turn: TurnResult, event: dict[str, Any]) -> None:
        exchange = self._exchange("platform", event)
        turn.exchanges.append(exchange)
        self._play(turn, exchange.actions)

    def _exchange(self, by: Literal["caller", "platform"], event: dict[str, Any]) -> Exchange:
        body = json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-API-TOKEN": self.token}
        started = time.perf_counter()
        status, raw = self.transport.post(body, headers)
        latency = (time.perf_counter() - started) * 1000
        text = raw.decode("utf-8", errors="replace")
        actions: list[Action] = []
        error = None
        if status == 200:
            try:
                actions = parse_reply(text)
            except (ValueError, AiflowError) as exc:
                error = f"the 200 answer is not valid actions: {exc}"
        return Exchange(by, event, status, text, actions, latency, error)

    def _speech_started(self, action: SpeakAction | AudioAction) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if isinstance(action, SpeakAction):
            if action.text is not None:
                fields["text"] = action.text
            if action.ssml is not None:
                fields["ssml"] = action.ssml
            duration = max(400, len(speech_text(action)) * self.options.ms_per_char)
        else:
            duration = audio_duration_ms(action.audio)
        started = time.time_ns() // 1_000_000
        return self._event(
            "assistant_speak", duration_ms=duration, speech_started_at=started, **fields
        )

    def _event(self, kind: str, *, full_session: bool = False, **fields: Any) -> dict[str, Any]:
        return {"type": kind, **fields, "session": self._session(full=full_session)}

    def _session(self, *, full: bool) -> dict[str, Any]:
        session: dict[str, Any] = {
            "id": self.session_id,
            "account_id": self.options.account_id,
            "phone_number": self.options.called,
        }
        if full:
            session["direction"] = self.options.direction
            session["from_phone_number"] = self.options.caller
            session["to_phone_number"] = self.options.called
        return session
