"""The turn engine: one load → run → save path under every transport.

For each event the engine loads the call, runs the assistant within a budget, settles the
held actions, saves what changed, resolves a lost race and returns one
:class:`~aiflow.report.TurnReport`. The transports are thin siblings over it: the HTTP
webhook (:mod:`aiflow.webhook`) turns the report into a status and a body, the WebSocket
transport (:mod:`aiflow.ws`) into frames, and the slow-turn worker calls
:meth:`TurnEngine.finish_slow_turn`.

What the engine guarantees, whatever a dependency does:

* **An answer within the answer budget** (2.8 s by default; the platform tolerates about 5):
  every store request and the worker start are waited for only until the deadline
  (:mod:`aiflow.persistence`), and the handler gets the turn budget (2.5 s) minus what the
  save needs (:mod:`aiflow.running`).
* **The stored call agrees with what the caller heard.** A save whose answer never came is
  settled by reading the record back before answering; a worker that cannot be started
  leaves no marker; our own failures leave the record as it was and the caller hears the
  fallback.
* **No rerun where a merge will do.** A save that lost a race to another event of the call
  is merged three-way (:mod:`aiflow.merge`) when the two changed different parts; only an
  overlap reruns the handler (:meth:`aiflow.Call.once` keeps side effects to one run).
* **No stuck call.** An ended call answers nothing; a call whose store keeps failing ends
  politely (:mod:`aiflow.outages`); a record over its size limits fails the turn with an
  error naming what grew, instead of failing every later turn.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import deadline as slow
from .assistant import Assistant
from .call import Call, Outbound
from .clock import SYSTEM_CLOCK, Clock
from .effects import Effects, OnceJournal
from .errors import AiflowError
from .merge import merge_docs
from .outages import Outages
from .persistence import CallPersistence, Rerun, Saving
from .plain import FrozenValue, Plain
from .protocol.events import BaseEvent, parse_event
from .redact import log_failure
from .replies import Reply
from .report import TurnReport
from .routing import Router, as_router
from .running import Filling, HandlerRunner, StreamTarget, TurnTimeout
from .store.base import CallStore, ConflictError, RecordTooLarge, StoredCall, StoreError
from .streaming import DEFAULT_LOOKAHEAD_S, ConnectionGone

if TYPE_CHECKING:
    from .outbound.contexts import OutboundContexts

__all__ = [
    "STATEFUL_EVENTS",
    "StateTooLarge",
    "StreamTarget",
    "TurnEngine",
    "TurnLimits",
    "TurnTimeout",
    "WorkerUnavailable",
]

logger = logging.getLogger("aiflow.turns")

# Events that read or change the call even without a handler of their own.
STATEFUL_EVENTS = frozenset(
    {
        "session_start",
        "session_end",
        "user_speak",
        "user_barge_in",
        "user_speech_started",
        "assistant_speak",
        "assistant_speech_ended",
        "user_input_timeout",
        "dtmf_received",
    }
)

Recorder = Callable[[Call[Any], BaseEvent, TurnReport], None]
"""Runs on the call just before a turn's save (e.g. writes the call record into
``call.extras``), so what it adds costs no request of its own."""


@dataclass(frozen=True, eq=False, repr=False)  # FrozenValue: ==, hash, repr
class TurnLimits(FrozenValue):
    """The engine's budgets (milliseconds unless said otherwise).

    Attributes:
        turn_budget_ms: the handler's time before the deadline guard takes over.
        answer_budget_ms: the whole turn, from the event to the answer (HTTP).
        save_reserve_ms: kept free after the handler for saving.
        defer_reserve_ms: kept free after the handler, when a worker is configured, for
            starting it and marking the call (a cold Lambda client's first invoke
            included).
        max_attempts: saves that lost a race before the turn gives up.
        filler_after_ms: silence of a streaming handler after which a filler is sent.
        max_turn_ms: a streaming handler still running after this long is given up.
        lookahead_ms: how long a streamed sentence waits to see whether it is the last.
        worker_wait_ms: how long the worker waits for the slow-turn marker to appear.
        once_wait_s: how long a rerun waits for another run's unfinished side effect.
    """

    turn_budget_ms: int = 2500
    answer_budget_ms: int = 2800
    save_reserve_ms: int = 250
    defer_reserve_ms: int = 500
    max_attempts: int = 8
    filler_after_ms: int = 2500
    max_turn_ms: int = 25_000
    lookahead_ms: int = int(DEFAULT_LOOKAHEAD_S * 1000)
    worker_wait_ms: int = 5000
    once_wait_s: float = 2.0


class StateTooLarge(AiflowError):
    """``call.state`` grew over the policy's limit; the message names the largest key."""

    code = "state_too_large"


class WorkerUnavailable(AiflowError):
    """The slow-turn worker could not be started."""

    code = "worker_unavailable"


class _Turn(Plain):
    """What one event's processing carries from step to step."""

    __slots__ = (
        "event",
        "report",
        "answer_by",
        "handler_by",
        "effects",
        "assistant",
        "target",
        "outbound",
    )

    def __init__(
        self,
        event: BaseEvent,
        report: TurnReport,
        answer_by: float,
        handler_by: float,
        effects: Effects,
        assistant: Assistant,
        target: StreamTarget | None = None,
    ) -> None:
        self.event = event
        self.report = report
        self.answer_by = answer_by  # monotonic deadline for the answer
        self.handler_by = handler_by  # monotonic deadline for the handler
        self.effects = effects
        self.assistant = assistant
        self.target = target
        self.outbound: list[Outbound | None] = []  # taken once per turn

    def saving(self, *, keep: bool = False) -> Saving:
        return Saving(self.event.session.id, self.report, self.answer_by, keep=keep)


class TurnEngine:
    """Runs an assistant's turns against a call store. Thread-safe; one per process.

    Args:
        target: the assistant, or a :class:`~aiflow.routing.Router` of several.
        store: where call records live.
        limits: budgets and attempts.
        deferrer: starts the worker for a turn that outran the budget; without one, the
            caller hears the fallback.
        clock: wall time for timestamps (tests pass a :class:`~aiflow.clock.FakeClock`).
        redact_logs: log failures without personal data (the observer's setting).

    Attributes:
        outbound: returns the store of outbound call contexts (``aiflow.outbound``), taken
            on an outbound call's ``session_start`` into ``call.outbound``; None: none.
        recorders: run on the call before each save (see :data:`Recorder`).
        listeners: called with every report (the dev server's line, tests).
    """

    def __init__(
        self,
        target: Assistant | Router,
        store: CallStore,
        *,
        limits: TurnLimits | None = None,
        deferrer: slow.Deferrer | None = None,
        clock: Clock | None = None,
        redact_logs: bool = True,
    ) -> None:
        self.router = as_router(target)
        self.store = store
        self.limits = limits or TurnLimits()
        self.deferrer = deferrer
        self.clock = clock or SYSTEM_CLOCK
        self.redact_logs = redact_logs
        self.outbound: Callable[[], OutboundContexts | None] | None = None
        self.recorders: list[Recorder] = []
        self.listeners: list[Callable[[TurnReport], None]] = []
        self.persistence = CallPersistence(
            store,
            answer_budget_ms=self.limits.answer_budget_ms,
            max_attempts=self.limits.max_attempts,
        )
        self._journal: OnceJournal | None = (
            store if all(hasattr(store, m) for m in _ONCE_METHODS) else None  # type: ignore[assignment]
        )
        self._runner = HandlerRunner()
        self._outages = Outages()

    @property
    def assistant(self) -> Assistant:
        """The assistant of calls no route names (the only one, without a router)."""
        return self.router.default or self.router.assistants[0]

    def assistant_for(self, event: BaseEvent) -> Assistant:
        """The assistant a new call with this event's session would get."""
        return self.router.for_session(event.session)

    # --- the three ways in ----------------------------------------------------------------

    def run(self, event: BaseEvent, *, budget_ms: float | None = None) -> TurnReport:
        """Process ``event`` for a request/response transport (HTTP).

        Args:
            event: the parsed, authenticated event.
            budget_ms: the answer must be ready within this long (what is left of the
                request's budget, or of the Lambda's time); 0 means no time for the handler.
        """
        started = time.monotonic()
        answer_ms = float(self.limits.answer_budget_ms)
        if budget_ms is not None:
            answer_ms = min(answer_ms, max(0.0, budget_ms))
        answer_by = started + answer_ms / 1000
        reserve = float(self.limits.save_reserve_ms)
        if self.deferrer is not None:
            # At most a fifth of a short budget, so that a handler still gets most of it.
            reserve = max(reserve, min(float(self.limits.defer_reserve_ms), answer_ms * 0.2))
        handler_by = min(started + self.limits.turn_budget_ms / 1000, answer_by - reserve / 1000)
        if budget_ms is not None and budget_ms <= 0:
            handler_by = started  # the Lambda is about to time out: no time, not the default
        return self._drive(self._turn(event, answer_by, handler_by), started)

    def stream(self, event: BaseEvent, target: StreamTarget) -> TurnReport:
        """Process ``event`` for a transport that can send at any time (WebSocket).

        The handler may stream (:func:`aiflow.streaming`); a silent one makes the caller hear
        fillers; after ``max_turn_ms`` the turn is given up with an apology in the report.
        """
        started = time.monotonic()
        limit = target.max_turn_ms if target.max_turn_ms is not None else self.limits.max_turn_ms
        end = started + max(0.0, limit) / 1000
        turn = self._turn(event, end, end)
        turn.target = target
        return self._drive(turn, started)

    def finish_slow_turn(self, payload: dict[str, Any]) -> TurnReport:
        """The worker: run the handler of a slow turn without the budget and hold its answer
        for delivery on the next speech end (see :mod:`aiflow.deadline`)."""
        started = time.monotonic()
        event = parse_event(json.dumps(payload["event"]).encode("utf-8"))
        turn = self._turn(event, started + 600, started + 600)
        turn.effects.wait_s = 10.0  # the abandoned run may still be finishing an effect
        try:
            self._finish_slow(turn, str(payload["turn_id"]), bool(payload.get("is_new")))
        except StoreError as exc:
            turn.report.reason = exc.code
            log_failure(logger, "slow turn not delivered", error=exc, redact=self.redact_logs)
        turn.report.total_ms = (time.monotonic() - started) * 1000
        self._notify(turn.report)
        return turn.report

    def close(self) -> None:
        """Stop the thread pools (the dev server on shutdown; tests)."""
        self._runner.close()
        self.persistence.close()

    # --- one event ------------------------------------------------------------------------

    def _turn(self, event: BaseEvent, answer_by: float, handler_by: float) -> _Turn:
        report = TurnReport(event_type=event.type, session_id=event.session.id)
        effects = Effects(self._journal, event.session.id, wait_s=self.limits.once_wait_s)
        assistant = self.assistant_for(event)
        return _Turn(event, report, answer_by, handler_by, effects, assistant)

    def _drive(self, turn: _Turn, started: float) -> TurnReport:
        event, report = turn.event, turn.report
        try:
            owed = self._outages.ending(event)
            if owed is not None:
                report.actions, report.reason = owed, "outage"
            elif event.type in STATEFUL_EVENTS or self._handles(event):
                self._process(turn)
                self._outages.succeeded(event.session.id)
        except StoreError as exc:
            self._store_failed(turn, exc)
        except (TurnTimeout, StateTooLarge, WorkerUnavailable) as exc:
            # Our own messages (sizes and the key that grew; never call content).
            logger.warning("the caller hears the fallback: %s: %s", exc.code, exc.message)
            self._fallback(turn, exc.code)
        except ConnectionGone:
            report.reason = "connection_gone"
        except Exception as exc:
            log_failure(
                logger,
                "unexpected failure; the caller hears the fallback",
                error=exc,
                redact=self.redact_logs,
            )
            self._fallback(turn, "internal_error")
        report.total_ms = (time.monotonic() - started) * 1000
        self._notify(report)
        return report

    def _handles(self, event: BaseEvent) -> bool:
        # Nothing would read or change the call: no storage request at all.
        return any(a.handler_for(event) is not None for a in self.router.assistants)

    def _process(self, turn: _Turn) -> None:
        event, report = turn.event, turn.report
        for attempt in range(self.limits.max_attempts):
            stored = self.persistence.load(event.session.id, report, turn.answer_by)
            if stored is not None and stored.doc.get("status") == "ended":
                report.ignored = True  # events after session_end: answered, never stored
                return
            call = self._call_for(turn, stored)
            before = call.to_doc() if stored is not None else None
            try:
                call, reply = self._decide(turn, call)
            except TurnTimeout:
                if self.deferrer is None or event.type in slow.NO_ANSWER_EXPECTED:
                    raise
                call, reply = self._defer(turn, stored)
            if reply is None:
                return  # a streaming turn was given up; the apology is in the report
            self._account(turn, reply)
            # Set before the save, for the recorders; a failed save replaces it (fallback).
            report.actions = [] if event.type == "session_end" else reply.actions
            for recorder in self.recorders:
                recorder(call, event, report)
            after = call.to_doc()
            self._check_state(turn.assistant, after)
            unknown_end = stored is None and event.type == "session_end"
            if after != before and not unknown_end:
                version = stored.version if stored is not None else 0
                try:
                    saving = turn.saving(keep=bool(reply.streamed))
                    report.stored = self.persistence.save(saving, before, after, version)
                except Rerun:
                    report.reruns += 1
                    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                    continue
            return
        raise StoreError(
            f"gave up after {report.conflicts} conflicting saves", code="store_conflict"
        )

    def _decide(self, turn: _Turn, call: Call[Any]) -> tuple[Call[Any], Reply | None]:
        """The reply: a filler while the worker is busy, else the handler's."""
        assistant = turn.assistant
        waiting = slow.while_waiting(assistant, turn.event, call)
        if waiting is not None:
            return call, waiting
        if turn.target is None:
            return call, self._runner.run(assistant, turn.event, call, turn.handler_by)
        filling = Filling(
            after_s=self.limits.filler_after_ms / 1000,
            until=turn.answer_by,
            lookahead_s=self.limits.lookahead_ms / 1000,
        )
        reply = self._runner.stream(assistant, turn.event, call, turn.target, filling, turn.report)
        return call, reply

    def _account(self, turn: _Turn, reply: Reply) -> None:
        report = turn.report
        report.handler_ms = reply.handler_ms
        report.streamed = list(reply.streamed)
        if reply.fallback:
            report.fallback, report.reason, report.error = True, "handler_error", reply.error
            log_failure(
                logger,
                "handler failed; the caller hears the fallback",
                error=reply.error,
                redact=self.redact_logs,
                assistant=turn.assistant.name,
            )

    def _defer(self, turn: _Turn, stored: StoredCall | None) -> tuple[Call[Any], Reply]:
        """The handler outran the budget: start the worker, then mark the call and say a
        filler. The worker is started first, so that a failed start leaves no marker."""
        assert self.deferrer is not None
        deferrer = self.deferrer
        call = self._call_for(turn, stored)  # forget what the abandoned run changed
        payload = slow.start_slow_turn(turn.event, call)
        try:
            self.persistence.bounded(lambda: deferrer(payload), turn.answer_by)
        except Exception as exc:
            log_failure(
                logger,
                "the slow-turn worker could not be started",
                error=exc,
                redact=self.redact_logs,
            )
            raise WorkerUnavailable("the worker could not be started") from None
        turn.report.deferred = True
        return call, slow.filler(turn.assistant, call.session_id)

    # --- the worker -----------------------------------------------------------------------

    def _finish_slow(self, turn: _Turn, turn_id: str, is_new: bool) -> None:
        report, event = turn.report, turn.event
        session_id = event.session.id
        wait_until = time.monotonic() + self.limits.worker_wait_ms / 1000
        while True:
            stored = self.persistence.load(session_id, report, turn.answer_by)
            marker = (stored.doc.get("slow_turn") or {}) if stored else {}
            if marker.get("id") == turn_id:
                break
            ended = stored is not None and stored.doc.get("status") == "ended"
            if marker or ended or time.monotonic() >= wait_until:
                report.abandoned = True  # answered otherwise meanwhile, or never marked
                return
            time.sleep(0.05)  # the webhook saves the marker right after starting us
        assert stored is not None
        call = self._call_for(turn, stored)
        call.is_new = is_new
        call.slow_turn = None
        loaded = call.to_doc()
        loaded["slow_turn"] = stored.doc.get("slow_turn")
        reply = turn.assistant.handle(event, call, hold_all=True)
        self._account(turn, reply)
        for recorder in self.recorders:
            recorder(call, event, report)
        ours, version = call.to_doc(), stored.version
        for _ in range(self.limits.max_attempts):
            try:
                self.persistence.put(session_id, ours, version, report, turn.answer_by)
                report.stored = ours
                logger.info("slow turn delivered", extra={"actions": len(call.pending)})
                return
            except ConflictError:
                # The webhook answered speech ends meanwhile (fillers): merge, never rerun.
                report.conflicts += 1
                fresh = self.persistence.load(session_id, report, turn.answer_by)
                if fresh is None or (fresh.doc.get("slow_turn") or {}).get("id") != turn_id:
                    report.abandoned = True
                    return
                merged = merge_docs(loaded, ours, fresh.doc, prefer_ours=True)
                assert merged is not None
                report.merges += 1
                loaded, ours, version = fresh.doc, merged, fresh.version
        raise StoreError("the slow turn's result could not be saved", code="store_conflict")

    # --- failures -------------------------------------------------------------------------

    def _store_failed(self, turn: _Turn, exc: StoreError) -> None:
        report = turn.report
        if isinstance(exc, RecordTooLarge):
            log_failure(logger, "call record too large", error=exc, redact=self.redact_logs)
        else:
            logger.warning("call store failed; the caller hears the fallback: %s", exc.code)
        if exc.code in ("store_unavailable", "store_throttled", "store_write_unknown"):
            outage = self._outages.failed(turn.event, turn.assistant)
            if outage is not None:
                report.actions, report.fallback, report.reason = outage, True, "outage"
                return
        self._fallback(turn, exc.code)

    def _fallback(self, turn: _Turn, reason: str) -> None:
        report = turn.report
        report.fallback, report.reason = True, reason
        if turn.event.type in slow.NO_ANSWER_EXPECTED:
            report.actions = []
        else:
            report.actions = turn.assistant.fallback_reply(turn.event.session.id)

    # --- helpers --------------------------------------------------------------------------

    def _call_for(self, turn: _Turn, stored: StoredCall | None) -> Call[Any]:
        """The call as loaded (or new), for the assistant it was routed to."""
        event = turn.event
        if stored is not None:
            routed = self.router.by_name(stored.doc.get("assistant"))
            turn.assistant = routed or turn.assistant
            call = Call.from_doc(
                stored.doc,
                version=stored.version,
                state_model=turn.assistant.state_model,
                clock=self.clock,
            )
        else:
            call = Call.from_session(
                event.session, state=turn.assistant.new_state(), clock=self.clock
            )
            call.assistant = turn.assistant.name
            if event.type == "session_start":
                call.outbound = self._take_outbound(turn)
        call.effects = turn.effects
        return call

    def _take_outbound(self, turn: _Turn) -> Outbound | None:
        """The context a dial left for this call, taken once per turn (reruns reuse it)."""
        if turn.outbound:
            return turn.outbound[0]
        taken: Outbound | None = None
        session = turn.event.session
        # An inbound call has no context: it never builds the store (nor imports
        # aiflow.outbound, a cold start's cost).
        inbound = session.direction == "inbound"
        contexts = self.outbound() if self.outbound is not None and not inbound else None
        if contexts is not None:
            now = self.clock.now_ms()
            try:
                context = self.persistence.bounded(
                    lambda: contexts.take_for(session, now), turn.answer_by
                )
            except StoreError as exc:
                logger.warning("outbound context not read: %s", exc.code)
                context = None
            if context is not None:
                taken = Outbound(
                    flow_id=context.flow_id,
                    to=context.to,
                    data=context.data,
                    dialled_at=context.created_at,
                    request_id=context.request_id,
                    device=context.device,
                )
        turn.outbound.append(taken)
        return taken

    def _check_state(self, assistant: Assistant, doc: dict[str, Any]) -> None:
        limit = assistant.policy.state_max_bytes
        state = doc.get("state")
        size = _json_size(state)
        if size <= limit:
            return
        largest = ""
        if isinstance(state, dict) and state:
            key = max(state, key=lambda k: _json_size(state[k]))
            largest = f"; the largest key is {key!r} ({_json_size(state[key])} bytes)"
        raise StateTooLarge(
            f"call.state has {size} bytes as JSON, over the limit of {limit} "
            f"(TurnPolicy.state_max_bytes){largest}"
        )

    def _notify(self, report: TurnReport) -> None:
        for listener in self.listeners:
            try:
                listener(report)
            except Exception as exc:
                log_failure(logger, "a turn listener failed", error=exc, redact=self.redact_logs)


_ONCE_METHODS = ("once_get", "once_claim", "once_complete", "once_abandon")


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
