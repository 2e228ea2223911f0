"""``CallSimulator``: a phone call against an assistant, playing the sipgate platform.

    with CallSimulator(assistant) as call:
        call.start().expect.speak(contains="Hallo")
        call.say("Tschüss").expect.speak(contains="Wiederhören").hangup().no_more_actions()

Every event goes through a real entry point (see :mod:`aiflow.local.transports`): in process,
the Lambda handler :func:`aiflow.lambda_.lambda_handler` builds, behind a local API Gateway
(so auth, parsing and status codes are covered), or the WebSocket handler driven as API
Gateway's WebSocket API drives it; or over real HTTP (or a WebSocket) to a URL, e.g.
``aiflow dev`` on loopback or a deployed stack. The simulator does what the platform does
between caller turns: after each speech it sends ``assistant_speak`` and
``assistant_speech_ended`` and collects the actions released then (a held ``hangup`` or
``transfer``); after a ``hangup`` it sends ``session_end``. With a fake clock, playback moves
it by the length of the speech. In process, a turn that outruns its budget is finished by the
slow-turn worker right here (or when the test says, :meth:`CallSimulator.run_worker`), and a
handler's exception is raised in the test instead of being heard as the fallback.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..assistant import Assistant
from ..clock import Clock
from ..local.transports import Delivery, LambdaHandler, SimulatorError, Transport
from ..protocol.actions import Action, AudioAction, HangupAction, SpeakAction, TransferAction
from ..report import TurnReport
from ..routing import Router
from .inprocess import connect
from .logs import quiet_logs
from .options import CallOptions, session_of
from .playback import raise_handler_error, speech_fields
from .results import Exchange, TurnResult, conversation

if TYPE_CHECKING:
    from ..call import Call
    from ..local.gateway import LocalContext
    from ..settings import Settings
    from ..store.base import CallStore

CallState = Literal["new", "active", "transferring", "ended"]
DIGITS = frozenset("0123456789*#")
__all__ = ["CallOptions", "CallSimulator", "Exchange", "SimulatorError", "TurnResult"]


@dataclass
class _Playing:
    """A speech the platform started and has not finished (cut, or held for the worker)."""

    started_at: int
    duration_ms: int
    played_ms: int


class CallSimulator:
    """A simulated phone call; each caller verb returns the :class:`TurnResult`.

    Args:
        target: an :class:`~aiflow.Assistant` or :class:`~aiflow.Router` (run in process);
            a Lambda handler (HTTP or WebSocket); ``"module:object"`` naming one of them; or
            the ``http(s)://`` or ``ws(s)://`` URL of a webhook.
        store: the call store of an in-process assistant (default: in memory; pass a
            :class:`~aiflow.store.dynamodb.DynamoDBStore`, e.g. from
            :class:`aiflow.local.embedded.EmbeddedDynamoDB`, to go through DynamoDB).
        token: the ``X-API-TOKEN`` to send. In process a random one is generated; for a URL
            (or a Lambda handler) the default is ``AIFLOW_API_TOKEN``, and none is sent
            without one.
        options: numbers, session id and platform behaviour.
        clock: the engine's clock for an in-process assistant, e.g. a
            :class:`~aiflow.FakeClock` (pass the same one to what the assistant reads the
            time from); playback advances a fake clock by each speech's length.
        settings: budgets and limits of an in-process assistant (its token is ``token``).
        transport: for an assistant built here, ``"http"`` (its webhook in process),
            ``"loopback"`` (the same served by a dev server on a free loopback port, over
            real HTTP) or ``"websocket"`` (the WebSocket API's handler in process); or any
            transport object.
        raise_errors: in process, a handler's exception is raised here (with a note
            naming the turn) instead of being heard as the fallback; ``False`` for tests
            of the fallback itself.
        quiet_logs: in process, the framework's logs go to pytest's log capture instead
            of stdout (see :mod:`aiflow.testing.logs`); ``False`` for tests of the logs.
    """

    def __init__(
        self,
        target: Assistant | Router | LambdaHandler | str,
        *,
        store: CallStore | None = None,
        token: str | None = None,
        options: CallOptions | None = None,
        clock: Clock | None = None,
        settings: Settings | None = None,
        transport: Literal["http", "loopback", "websocket"] | Transport = "http",
        raise_errors: bool = True,
        quiet_logs: bool = True,
    ) -> None:
        __tracebackhide__ = True
        self.options = options or CallOptions()
        self.session_id = self.options.session_id or str(uuid.uuid4())
        self.store = store
        self.clock = clock
        self.raise_errors = raise_errors
        self.turns: list[TurnResult] = []
        self.state: CallState = "new"
        self.ended_by: str | None = None
        self.transfer: TransferAction | None = None
        self.playing: _Playing | None = None
        connected = connect(
            target,
            self.session_id,
            options=self.options,
            store=store,
            token=token,
            clock=clock,
            settings=settings,
            transport=transport,
        )
        self.transport: Transport = connected.transport
        self.inprocess = connected.inprocess
        self.handler = connected.handler
        self.token = connected.token
        self.store = connected.store
        self._quiet = quiet_logs and connected.in_process

    # --- context manager --------------------------------------------------------------

    def __enter__(self) -> CallSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the call the way the platform would (``session_end``) if it is still up: a
        transfer in progress was answered, else the caller hangs up."""
        with suppress(Exception):  # closing must never hide the test's own failure
            if self.state == "transferring":
                self.complete_transfer()
            elif self.state == "active":
                self.hang_up()
        if self.state != "new":
            self.state = "ended"
        with self._logs():  # a WebSocket's $disconnect is an invocation too
            self.transport.close()
        if self.inprocess is not None:
            self.inprocess.close()

    # --- caller verbs -----------------------------------------------------------------

    def start(self, *, interrupt_after_ms: int | None = None) -> TurnResult:
        """The call connects: ``session_start``. An outbound call with ``outbound_data``
        first leaves its context where the engine takes it, as ``aiflow.outbound.dial``
        does. ``interrupt_after_ms``: see :meth:`say`."""
        __tracebackhide__ = True
        if self.state != "new":
            raise SimulatorError("the call was already started", code="already_started")
        if self.options.direction == "outbound" and self.options.outbound_data is not None:
            self._leave_outbound_context()
        self.state = "active"
        label = "answers the call" if self.options.direction == "outbound" else "calls"
        event = self.event("session_start")
        return self._turn(label, [event], interrupt_after_ms=interrupt_after_ms)

    def say(
        self,
        text: str,
        *,
        barged_in: bool | None = None,
        interrupt_after_ms: int | None = None,
    ) -> TurnResult:
        """The caller says ``text``.

        Args:
            text: the words.
            barged_in: they interrupted the assistant; default: whether a speech is still
                playing (cut by ``interrupt_after_ms``, or a filler held for the worker).
            interrupt_after_ms: the caller talks over the answer: its first speech is cut
                after this long (a fake clock moves by this much), no speech end is sent,
                and the next ``say`` interrupts it.
        """
        __tracebackhide__ = True
        self._require_active()
        interrupting = self.playing is not None if barged_in is None else barged_in
        fields: dict[str, Any] = {"text": text}
        if interrupting:
            fields["barged_in"] = True
        label = f"interrupts: {text!r}" if interrupting else f"says {text!r}"
        event = self.event("user_speak", **fields)
        return self._turn(label, [event], said=text, interrupt_after_ms=interrupt_after_ms)

    def press(self, keys: str) -> TurnResult:
        """The caller presses keys: one ``dtmf_received`` per digit (``0-9 * #``)."""
        __tracebackhide__ = True
        self._require_active()
        wrong = sorted(set(keys) - DIGITS)
        if not keys or wrong:
            raise SimulatorError(
                f"press() takes keys from 0-9, * and #, got {keys!r}", code="bad_keys"
            )
        events = [self.event("dtmf_received", digit=key) for key in keys]
        return self._turn(f"presses {keys}", events)

    def stay_silent(self) -> TurnResult:
        """The caller says nothing until the input timeout: ``user_input_timeout``."""
        __tracebackhide__ = True
        self._require_active()
        return self._turn("stays silent", [self.event("user_input_timeout")])

    def hang_up(self) -> TurnResult:
        """The caller hangs up: ``session_end``."""
        __tracebackhide__ = True
        if self.state not in ("active", "transferring"):
            self._require_active()
        self.state, self.ended_by = "ended", "caller"
        return self._turn("hangs up", [self.event("session_end")])

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
        return self._turn(label, [self.event("session_start")])

    def complete_transfer(self) -> TurnResult:
        """The transfer target answered: the call leaves the assistant (``session_end``),
        and the transcript says where it went."""
        __tracebackhide__ = True
        if self.state != "transferring" or self.transfer is None:
            raise SimulatorError(
                "complete_transfer() needs a transfer in progress", code="no_transfer"
            )
        number = self.transfer.target_phone_number
        self.state, self.ended_by = "ended", f"transferred to {number}"
        return self._turn(
            f"transfer to {number} is answered", [self.event("session_end")], by="platform"
        )

    def send(self, event: Mapping[str, Any]) -> TurnResult:
        """Send any event as it is (``session`` is added when missing), and play what comes
        back as the platform would."""
        __tracebackhide__ = True
        raw = dict(event)
        raw.setdefault(
            "session",
            session_of(self.options, self.session_id, full=raw.get("type") == "session_start"),
        )
        if self.state == "new" and raw.get("type") == "session_start":
            self.state = "active"
        return self._turn(f"sends {raw.get('type', '?')}", [raw])

    def run_worker(self) -> TurnResult:
        """Run the slow-turn worker now (``worker="manual"``), then let the filler that was
        held end: its ``assistant_speech_ended`` gets the answer the worker left."""
        __tracebackhide__ = True
        if self.inprocess is None or not self.inprocess.slow_turns:
            raise SimulatorError("no slow turn is waiting for the worker", code="no_slow_turn")
        turn = self._new_turn("the worker finishes the slow turn")
        with self._logs():
            self.inprocess.run_slow_turns()
            reports = self.inprocess.take_reports()
        self._raise_handler_error(turn, reports)
        if self.playing is not None and self.state == "active":
            self._speech_ends(turn)
        return turn

    # --- single requests (no platform around them) --------------------------------------

    def deliver(self, kind: str, *, context: LocalContext | None = None, **fields: Any) -> Exchange:
        """Deliver one event of this call exactly as given, and nothing else: no speech is
        played, nothing follows (for tests of the webhook's answers and records).

        Args:
            kind: the event type, e.g. ``"user_speak"``.
            context: in process, the Lambda context (e.g. one close to its timeout).
            fields: the event's fields, e.g. ``text="Hallo"``.
        """
        __tracebackhide__ = True
        event = self.event(kind, **fields)
        if kind == "session_start" and self.state == "new":
            self.state = "active"
        elif kind == "session_end" and self.state != "ended":
            self.state, self.ended_by = "ended", self.ended_by or "caller"
        turn = self._new_turn(f"delivers {kind}")
        if context is None:
            return self._exchange("caller", event, turn)
        body = json.dumps(event, ensure_ascii=False)
        return self._post(body, None, "POST", None, False, context, turn)

    def post(
        self,
        body: str | bytes | None,
        *,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        path: str | None = None,
        base64_encoded: bool = False,
        context: LocalContext | None = None,
    ) -> Exchange:
        """Send one raw request, event or not (for tests of bad input, auth and routing).

        Args:
            body: the body as it is (``None``: no body at all).
            headers: exactly these headers; default JSON with this call's token.
            method: the HTTP method.
            path: default the webhook's path.
            base64_encoded: in process, API Gateway's ``isBase64Encoded`` (see
                :meth:`aiflow.local.transports.InProcessTransport.request`).
            context: in process, the Lambda context.
        """
        __tracebackhide__ = True
        turn = self._new_turn(f"sends {method} {path or 'the webhook'}")
        return self._post(body, headers, method, path, base64_encoded, context, turn)

    def _post(
        self,
        body: str | bytes | None,
        headers: Mapping[str, str] | None,
        method: str,
        path: str | None,
        base64_encoded: bool,
        context: LocalContext | None,
        turn: TurnResult,
    ) -> Exchange:
        __tracebackhide__ = True
        request = getattr(self.transport, "request", None)
        if request is None:
            raise SimulatorError(
                f"{self.target} takes events only, not raw requests", code="no_raw_requests"
            )
        sent = self._headers() if headers is None else dict(headers)
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        event = parsed if isinstance(parsed, dict) else {"raw": (text or "")[:200]}

        def send() -> Delivery:
            return request(  # type: ignore[no-any-return]
                method,
                path,
                sent,
                body,
                base64_encoded=base64_encoded,
                context=context,
            )

        return self._record("caller", event, turn, send)

    # --- results ----------------------------------------------------------------------

    @property
    def actions(self) -> list[Action]:
        """Every action of the call so far."""
        return [a for turn in self.turns for a in turn.actions]

    @property
    def target(self) -> str:
        """Where the events go (a URL or ``in-process <assistant>``)."""
        return self.transport.description

    @property
    def stored(self) -> Call[Any]:
        """In process: the call as its record is stored now (``history``, ``state`` in the
        assistant's state model, ``pending``, ...)."""
        __tracebackhide__ = True
        if self.inprocess is None:
            raise SimulatorError(
                f"{self.target} is not in process: its records are out of reach",
                code="not_in_process",
            )
        call = self.inprocess.stored_call()
        if call is None:
            raise SimulatorError("the call has no record (yet)", code="no_record")
        return call

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The wire form of an event of this call (the full session on ``session_start``)."""
        session = session_of(self.options, self.session_id, full=kind == "session_start")
        return {"type": kind, **fields, "session": session}

    def conversation(self) -> list[dict[str, str]]:
        """The call in reading order (see :func:`aiflow.testing.results.conversation`)."""
        return conversation(self.turns, self.ended_by)

    def transcript(self) -> dict[str, Any]:
        """The whole call as a JSON-ready dict (what ``aiflow call --transcript`` saves)."""
        return {
            "session_id": self.session_id,
            "target": self.target,
            "direction": self.options.direction,
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
                "use fail_transfer() to bring the caller back, complete_transfer() or "
                "hang_up()",
                code="transferred",
            )
        if self.state == "ended":
            raise SimulatorError(f"the call is over (ended by {self.ended_by})", code="call_over")

    def _new_turn(self, label: str, said: str | None = None) -> TurnResult:
        turn = TurnResult(len(self.turns) + 1, label, said)
        self.turns.append(turn)
        return turn

    def _turn(
        self,
        label: str,
        events: list[dict[str, Any]],
        *,
        said: str | None = None,
        interrupt_after_ms: int | None = None,
        by: Literal["caller", "platform"] = "caller",
    ) -> TurnResult:
        __tracebackhide__ = True
        turn = self._new_turn(label, said)
        self.playing = None  # whatever played was interrupted, or is over
        for event in events:
            if self.state == "ended" and event["type"] != "session_end":
                break  # e.g. the assistant hung up after the first of several key presses
            exchange = self._exchange(by, event, turn)
            self._play(turn, exchange.actions, interrupt_after_ms)
        return turn

    def _play(
        self, turn: TurnResult, actions: list[Action], interrupt_after_ms: int | None = None
    ) -> None:
        """Do what the platform does with a reply, sending the events that follow from it."""
        __tracebackhide__ = True
        for action in actions:
            if len(turn.exchanges) > 50:
                raise SimulatorError(
                    "more than 50 requests in one turn: the assistant keeps answering "
                    "the platform's events with more speech",
                    code="runaway_turn",
                )
            if isinstance(action, SpeakAction | AudioAction):
                started = self._speech_started(action)
                self._follow(turn, started)
                if self.state != "active":
                    return
                playing = _Playing(
                    int(started["speech_started_at"]),
                    int(started["duration_ms"]),
                    0,
                )
                if interrupt_after_ms is not None:
                    self._advance(interrupt_after_ms)
                    playing.played_ms = interrupt_after_ms
                    self.playing = playing  # cut: no speech end, the caller talks
                    return
                if self._holds_for_worker():
                    self.playing = playing  # ends in run_worker()
                    return
                self.playing = playing
                self._speech_ends(turn)
            elif isinstance(action, HangupAction):
                self.state, self.ended_by = "ended", "assistant"
                self._follow(turn, self.event("session_end"))
                return  # a hangup takes effect at once
            elif isinstance(action, TransferAction):
                self.transfer = action
                self.state = "transferring"
                if self.options.transfer_fails:
                    if action.timeout is None:
                        self.state, self.ended_by = "ended", "failed transfer"
                        self._follow(turn, self.event("session_end"))
                    else:
                        self.state = "active"
                        self._follow(turn, self.event("session_start"))
                return
            if self.state in ("ended", "transferring"):
                return

    def _speech_ends(self, turn: TurnResult) -> None:
        """The speech playing now is heard to its end: ``assistant_speech_ended``."""
        __tracebackhide__ = True
        playing = self.playing
        assert playing is not None
        left = max(0, playing.duration_ms - playing.played_ms)
        if self.options.real_time:
            time.sleep(left / 1000)
        self._advance(left)
        self.playing = None
        self._follow(turn, self.event("assistant_speech_ended"))

    def _follow(self, turn: TurnResult, event: dict[str, Any]) -> None:
        __tracebackhide__ = True
        exchange = self._exchange("platform", event, turn)
        self._play(turn, exchange.actions)

    def _exchange(
        self, by: Literal["caller", "platform"], event: dict[str, Any], turn: TurnResult
    ) -> Exchange:
        __tracebackhide__ = True
        body = json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = self._headers()
        return self._record(by, event, turn, lambda: self.transport.post(body, headers))

    def _record(
        self,
        by: Literal["caller", "platform"],
        event: dict[str, Any],
        turn: TurnResult,
        send: Callable[[], Delivery],
    ) -> Exchange:
        """Send, time and record one request; run an inline worker; raise a handler's error."""
        __tracebackhide__ = True
        reports: list[TurnReport] = []
        with self._logs():
            started = time.perf_counter()
            delivery = send()
            latency = (time.perf_counter() - started) * 1000
            if self.inprocess is not None:
                reports = self.inprocess.take_reports()
                if self.options.worker == "inline" and self.inprocess.run_slow_turns():
                    reports += self.inprocess.take_reports()
        exchange = Exchange.of(by, event, delivery, latency, reports)
        turn.exchanges.append(exchange)
        self._raise_handler_error(turn, reports)
        return exchange

    def _raise_handler_error(self, turn: TurnResult, reports: list[TurnReport]) -> None:
        __tracebackhide__ = True
        if self.raise_errors:
            raise_handler_error(turn, reports, self.session_id)

    def _holds_for_worker(self) -> bool:
        return (
            self.options.worker == "manual"
            and self.inprocess is not None
            and bool(self.inprocess.slow_turns)
        )

    def _logs(self) -> AbstractContextManager[None]:
        return quiet_logs() if self._quiet else nullcontext()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token is not None:
            headers["X-API-TOKEN"] = self.token
        return headers

    def _leave_outbound_context(self) -> None:
        __tracebackhide__ = True
        if self.inprocess is None:
            raise SimulatorError(
                "outbound_data needs an assistant in process (a remote webhook takes the "
                "context aiflow.outbound.dial left in its own table)",
                code="not_in_process",
            )
        self.inprocess.leave_outbound_context(
            to=self.options.caller,
            data=dict(self.options.outbound_data or {}),
            flow_id=self.options.flow_id,
            device="e0",
        )

    def _now(self) -> int:
        return self.clock.now_ms() if self.clock is not None else time.time_ns() // 1_000_000

    def _advance(self, ms: int) -> None:
        advance = getattr(self.clock, "advance", None)
        if callable(advance):
            advance(ms)

    def _speech_started(self, action: SpeakAction | AudioAction) -> dict[str, Any]:
        fields = speech_fields(action, self.options.ms_per_char)
        return self.event("assistant_speak", speech_started_at=self._now(), **fields)
