"""The turn engine: one load → run → save path under every transport.

For each event the engine loads the call, runs the assistant within a budget, settles the
held actions, saves what changed, resolves a lost race and returns one
:class:`~aiflow.report.TurnReport`. The transports are thin siblings over it: the HTTP
webhook (:mod:`aiflow.webhook`) turns the report into a status and a body, the WebSocket
transport (:mod:`aiflow.ws`) into frames, and the slow-turn worker calls
:meth:`TurnEngine.finish_slow_turn`.

What the engine guarantees, whatever a dependency does:

* **An answer within the answer budget** (2.8 s by default; the platform tolerates about 5):
  every store request and the worker start are waited for only until the deadline, and
  the handler gets the turn budget (2.5 s) minus what the save needs.
* **The stored call agrees with what the caller heard.** A save whose answer never came is
  settled by reading the record back (the turn id tells whether it landed) before
  answering; a worker that cannot be started leaves no marker; our own failures leave the
  record as it was and the caller hears the fallback.
* **No rerun where a merge will do.** A save that lost a race to another event of the call
  is merged three-way (:mod:`aiflow.merge`) when the two changed different parts; only an
  overlap reruns the handler (:meth:`aiflow.Call.once` keeps side effects to one run).
* **No stuck call.** An ended call answers nothing; a call whose store keeps failing ends
  politely (:class:`aiflow.policy.OutagePolicy`); a record over its size limits fails the
  turn with an error naming what grew, instead of failing every later turn.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from . import deadline as slow
from .assistant import Assistant
from .call import Call
from .clock import SYSTEM_CLOCK, Clock
from .effects import Effects, OnceJournal
from .errors import AiflowError
from .merge import merge_docs
from .protocol.actions import Action, BargeInPolicy, hangup, speak
from .protocol.events import BaseEvent, parse_event
from .redact import log_failure
from .replies import Reply
from .report import TurnReport
from .store.base import (
    CallStore,
    ConflictError,
    RecordTooLarge,
    StoredCall,
    StoreError,
    WriteUnknown,
)
from .streaming import DEFAULT_LOOKAHEAD_S, Channel, ConnectionGone, Sender

logger = logging.getLogger("aiflow.turns")
R = TypeVar("R")

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
_RELEASE_EVENTS = frozenset({"assistant_speech_ended", "user_input_timeout"})
LOAD_SHARE = 0.6  # of the answer budget, the most one read may take
_NOT_INTERRUPTIBLE = BargeInPolicy(strategy="none")


@dataclass(frozen=True)
class TurnLimits:
    """The engine's budgets (milliseconds unless said otherwise).

    Attributes:
        turn_budget_ms: the handler's time before the deadline guard takes over.
        answer_budget_ms: the whole turn, from the event to the answer (HTTP).
        save_reserve_ms: kept free after the handler for saving.
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
    max_attempts: int = 8
    filler_after_ms: int = 2500
    max_turn_ms: int = 25_000
    lookahead_ms: int = int(DEFAULT_LOOKAHEAD_S * 1000)
    worker_wait_ms: int = 5000
    once_wait_s: float = 2.0


@dataclass
class StreamTarget:
    """Where a streaming transport's frames go while the handler runs.

    Attributes:
        send: sends one JSON text frame (raises :class:`ConnectionGone` when it left).
        cancelled: whether the caller started talking since the event (stops a stream).
        max_turn_ms: give up after this long (e.g. the Lambda's remaining time).
    """

    send: Sender
    cancelled: Callable[[], bool] = lambda: False
    max_turn_ms: float | None = None


class TurnTimeout(AiflowError):
    """The handler did not finish within the turn's time budget."""

    code = "turn_timeout"


class StateTooLarge(AiflowError):
    """``call.state`` grew over the policy's limit; the message names the largest key."""

    code = "state_too_large"


class WorkerUnavailable(AiflowError):
    """The slow-turn worker could not be started."""

    code = "worker_unavailable"


class _Rerun(Exception):
    """The save lost a race that no merge settles: run the handler again."""


@dataclass
class _Turn:
    """What one event's processing carries from step to step."""

    event: BaseEvent
    report: TurnReport
    answer_by: float  # monotonic deadline for the answer
    handler_by: float  # monotonic deadline for the handler
    effects: Effects
    target: StreamTarget | None = None
    ids: list[str] = field(default_factory=list)  # turn ids of this event's save attempts


class TurnEngine:
    """Runs an assistant's turns against a call store. Thread-safe; one per process.

    Args:
        assistant: whose handlers run.
        store: where call records live.
        limits: budgets and attempts.
        deferrer: starts the worker for a turn that outran the budget; without one, the
            caller hears the fallback.
        clock: wall time for timestamps (tests pass a :class:`~aiflow.clock.FakeClock`).
        redact_logs: log failures without personal data (the observer's setting).

    Attributes:
        listeners: called with every report (the dev server's line, call records, tests).
    """

    def __init__(
        self,
        assistant: Assistant,
        store: CallStore,
        *,
        limits: TurnLimits | None = None,
        deferrer: slow.Deferrer | None = None,
        clock: Clock | None = None,
        redact_logs: bool = True,
    ) -> None:
        self.assistant = assistant
        self.store = store
        self.limits = limits or TurnLimits()
        self.deferrer = deferrer
        self.clock = clock or SYSTEM_CLOCK
        self.redact_logs = redact_logs
        self.listeners: list[Callable[[TurnReport], None]] = []
        self._journal: OnceJournal | None = (
            store if all(hasattr(store, m) for m in _ONCE_METHODS) else None  # type: ignore[assignment]
        )
        self._handler_pool: ThreadPoolExecutor | None = None
        self._io_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._outages = _Outages()

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
        handler_by = min(
            started + self.limits.turn_budget_ms / 1000,
            answer_by - self.limits.save_reserve_ms / 1000,
        )
        if budget_ms is not None and budget_ms <= 0:
            handler_by = started  # the Lambda is about to time out: no time, not the default
        turn = self._turn(event, answer_by, handler_by)
        return self._drive(turn, started)

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
        report = turn.report
        try:
            self._finish_slow(turn, str(payload["turn_id"]), bool(payload.get("is_new")))
        except StoreError as exc:
            report.reason = exc.code
            log_failure(logger, "slow turn not delivered", error=exc, redact=self.redact_logs)
        report.total_ms = (time.monotonic() - started) * 1000
        self._notify(report)
        return report

    def close(self) -> None:
        """Stop the thread pools (the dev server on shutdown; tests)."""
        with self._pool_lock:
            for pool in (self._handler_pool, self._io_pool):
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
            self._handler_pool = self._io_pool = None

    # --- one event ------------------------------------------------------------------------

    def _turn(self, event: BaseEvent, answer_by: float, handler_by: float) -> _Turn:
        report = TurnReport(event_type=event.type, session_id=event.session.id)
        effects = Effects(self._journal, event.session.id, wait_s=self.limits.once_wait_s)
        return _Turn(event, report, answer_by, handler_by, effects)

    def _drive(self, turn: _Turn, started: float) -> TurnReport:
        event, report = turn.event, turn.report
        try:
            if event.type not in STATEFUL_EVENTS and self.assistant.handler_for(event) is None:
                pass  # nothing would read or change the call: no storage request
            elif not self._outages.answer(event, report, self.assistant):
                self._process(turn)
                self._outages.succeeded(event.session.id)
        except StoreError as exc:
            self._store_failed(turn, exc)
        except (TurnTimeout, StateTooLarge, WorkerUnavailable) as exc:
            logger.warning("the caller hears the fallback: %s", exc.code)
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

    def _process(self, turn: _Turn) -> None:
        event, report = turn.event, turn.report
        session_id = event.session.id
        for attempt in range(self.limits.max_attempts):
            stored = self._load(session_id, turn)
            if stored is not None and stored.doc.get("status") == "ended":
                report.ignored = True  # events after session_end: answered, never stored
                return
            call = self._call_for(event, stored)
            call.effects = turn.effects
            before = call.to_doc() if stored is not None else None
            try:
                call, reply = self._decide(turn, call, stored)
            except TurnTimeout:
                if self.deferrer is None or event.type in slow.NO_ANSWER_EXPECTED:
                    raise
                call, reply = self._defer(turn, stored)
            if reply is None:
                return  # a streaming turn was given up; the apology is in the report
            self._account(turn, reply)
            after = call.to_doc()
            self._check_state(after)
            unknown_end = stored is None and event.type == "session_end"
            if after != before and not unknown_end:
                try:
                    self._save(turn, before, after, stored, keep=bool(reply.streamed))
                except _Rerun:
                    report.reruns += 1
                    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                    continue
            report.actions = [] if event.type == "session_end" else reply.actions
            return
        raise StoreError(
            f"gave up after {report.conflicts} conflicting saves", code="store_conflict"
        )

    def _decide(
        self, turn: _Turn, call: Call[Any], stored: StoredCall | None
    ) -> tuple[Call[Any], Reply | None]:
        """The reply: a filler while the worker is busy, else the handler's."""
        waiting = slow.while_waiting(self.assistant, turn.event, call)
        if waiting is not None:
            return call, waiting
        if turn.target is not None:
            return call, self._run_streaming(turn, call)
        return call, self._run_handler(turn, call)

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
                assistant=self.assistant.name,
            )

    # --- running the handler --------------------------------------------------------------

    def _run_handler(self, turn: _Turn, call: Call[Any]) -> Reply:
        remaining = turn.handler_by - time.monotonic()
        if remaining <= 0:
            raise TurnTimeout("no time left for the handler")
        future = self._handlers().submit(self.assistant.handle, turn.event, call)
        try:
            return future.result(timeout=remaining)
        except FutureTimeout:
            raise TurnTimeout("the handler did not finish in time") from None

    def _run_streaming(self, turn: _Turn, call: Call[Any]) -> Reply | None:
        """Run the handler with a channel; fillers while it is silent; None if given up."""
        assert turn.target is not None
        target, report, event = turn.target, turn.report, turn.event
        channel = Channel(
            call,
            target.send,
            defaults=lambda action: self.assistant.with_defaults(action, last=False),
            cancelled=target.cancelled,
            lookahead=self.limits.lookahead_ms / 1000,
        )
        future: Future[Reply] = self._handlers().submit(
            self.assistant.handle, event, call, channel=channel
        )
        filler_after = self.limits.filler_after_ms / 1000
        while True:
            can_fill = (
                event.type not in slow.NO_ANSWER_EXPECTED
                and report.fillers < self.assistant.max_fillers
            )
            wait = turn.answer_by - time.monotonic()
            if can_fill:
                wait = min(wait, filler_after - channel.idle_seconds())
            try:
                reply = future.result(timeout=max(wait, 0.001))
                break
            except FutureTimeout:
                pass
            if time.monotonic() >= turn.answer_by:
                channel.close("given_up")
                logger.warning("handler exceeded the turn limit; the caller hears an apology")
                report.reason = "turn_timeout"
                if event.type not in slow.NO_ANSWER_EXPECTED:
                    apology = self.assistant.speech(self.assistant.slow_apology)
                    report.actions = [apology.for_session(call.session_id)]
                return None
            if can_fill and channel.idle_seconds() >= filler_after:
                fillers = self.assistant.fillers
                text = fillers[min(report.fillers, len(fillers) - 1)]
                report.fillers += 1
                channel.send([self.assistant.speech(text, wait_for_caller=False)], record=False)
        report.interrupted = channel.closed == "interrupted"
        if channel.closed == "gone":
            raise ConnectionGone("the connection closed while the answer streamed")
        return reply

    def _defer(self, turn: _Turn, stored: StoredCall | None) -> tuple[Call[Any], Reply]:
        """The handler outran the budget: start the worker, then mark the call and say a
        filler. The worker is started first, so that a failed start leaves no marker."""
        assert self.deferrer is not None
        call = self._call_for(turn.event, stored)  # forget what the abandoned run changed
        call.effects = turn.effects
        payload = slow.start_slow_turn(turn.event, call)
        try:
            self._bounded(lambda: self.deferrer(payload), turn.answer_by)  # type: ignore[misc]
        except Exception as exc:
            log_failure(
                logger,
                "the slow-turn worker could not be started",
                error=exc,
                redact=self.redact_logs,
            )
            raise WorkerUnavailable("the worker could not be started") from None
        turn.report.deferred = True
        return call, slow.filler(self.assistant)

    # --- the worker -----------------------------------------------------------------------

    def _finish_slow(self, turn: _Turn, turn_id: str, is_new: bool) -> None:
        report, event = turn.report, turn.event
        session_id = event.session.id
        wait_until = time.monotonic() + self.limits.worker_wait_ms / 1000
        while True:
            stored = self._load(session_id, turn)
            marker = (stored.doc.get("slow_turn") or {}) if stored else {}
            if marker.get("id") == turn_id:
                break
            if (marker or time.monotonic() >= wait_until) or (
                stored is not None and stored.doc.get("status") == "ended"
            ):
                report.abandoned = True  # answered otherwise meanwhile, or never marked
                return
            time.sleep(0.05)  # the webhook saves the marker right after starting us
        assert stored is not None
        call = self._call_for(event, stored)
        call.is_new = is_new
        call.slow_turn = None
        call.effects = turn.effects
        loaded = call.to_doc()
        loaded["slow_turn"] = stored.doc.get("slow_turn")
        reply = self.assistant.handle(event, call, hold_all=True)
        self._account(turn, reply)
        ours, version = call.to_doc(), stored.version
        for _ in range(self.limits.max_attempts):
            try:
                report.store_requests += 1
                self.store.save(session_id, ours, version=version)
                report.stored = ours
                logger.info("slow turn delivered", extra={"actions": len(call.pending)})
                return
            except ConflictError:
                # The webhook answered speech ends meanwhile (fillers): merge, never rerun.
                report.conflicts += 1
                fresh = self._load(session_id, turn)
                if fresh is None or (fresh.doc.get("slow_turn") or {}).get("id") != turn_id:
                    report.abandoned = True
                    return
                merged = merge_docs(loaded, ours, fresh.doc, prefer_ours=True)
                assert merged is not None
                report.merges += 1
                loaded, ours, version = fresh.doc, merged, fresh.version
        raise StoreError("the slow turn's result could not be saved", code="store_conflict")

    # --- the store ------------------------------------------------------------------------

    def _load(self, session_id: str, turn: _Turn) -> StoredCall | None:
        turn.report.store_requests += 1
        # A read that takes more than a share of the budget leaves no time for an answer
        # anyway: give up on it early, so the caller hears the fallback sooner.
        cap = time.monotonic() + self.limits.answer_budget_ms * LOAD_SHARE / 1000
        return self._bounded(lambda: self.store.load(session_id), min(turn.answer_by, cap))

    def _save(
        self,
        turn: _Turn,
        loaded: dict[str, Any] | None,
        doc: dict[str, Any],
        stored: StoredCall | None,
        *,
        keep: bool,
    ) -> None:
        """Save ``doc``; merge into a newer record, or raise :class:`_Rerun`.

        Args:
            keep: the caller already heard part of this turn: merge even over a conflicting
                change (ours wins), never rerun.
        """
        report, session_id = turn.report, turn.event.session.id
        version = stored.version if stored is not None else 0
        for _ in range(self.limits.max_attempts):
            turn_id = uuid.uuid4().hex[:12]
            doc = {**doc, "turn": turn_id}
            turn.ids.append(turn_id)
            try:
                report.store_requests += 1
                self._bounded(
                    partial(self.store.save, session_id, doc, version=version),
                    turn.answer_by,
                    write=True,
                )
                report.stored = doc
                return
            except ConflictError:
                report.conflicts += 1
                fresh = self._load(session_id, turn)
                if fresh is None:
                    if not keep:
                        raise _Rerun() from None
                    loaded, version = None, 0
                    continue
                merged = merge_docs(loaded or {}, doc, fresh.doc, prefer_ours=keep)
                if merged is None:
                    raise _Rerun() from None
                report.merges += 1
                loaded, doc, version = fresh.doc, merged, fresh.version
            except WriteUnknown:
                outcome = self._settle(turn, turn_id, version)
                report.settled = outcome
                if outcome == "landed":
                    report.stored = doc
                    return
                if outcome != "not_landed":
                    raise
                # Not applied: try again while there is time (the loop re-checks the deadline).

    def _settle(self, turn: _Turn, turn_id: str, version: int) -> str:
        """Did a save whose answer never came land? Read the record back and look."""
        try:
            fresh = self._load(turn.event.session.id, turn)
        except StoreError:
            return "unknown"
        if fresh is not None and fresh.doc.get("turn") == turn_id:
            return "landed"
        if (fresh.version if fresh is not None else 0) == version:
            return "not_landed"
        return "unknown"  # someone saved after it; whether ours is underneath is unknown

    def _bounded(self, request: Callable[[], R], deadline: float, *, write: bool = False) -> R:
        """``request()``, waited for no longer than ``deadline`` (monotonic)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StoreError("no time left for the call store", code="store_unavailable")
        future = self._io().submit(request)
        try:
            return future.result(timeout=remaining)
        except FutureTimeout:
            if write:
                raise WriteUnknown("no answer before the deadline") from None
            raise StoreError("no answer before the deadline", code="store_unavailable") from None

    # --- failures -------------------------------------------------------------------------

    def _store_failed(self, turn: _Turn, exc: StoreError) -> None:
        report = turn.report
        if isinstance(exc, RecordTooLarge):
            log_failure(logger, "call record too large", error=exc, redact=self.redact_logs)
        else:
            logger.warning("call store failed; the caller hears the fallback: %s", exc.code)
        code = "store_write_unknown" if isinstance(exc, WriteUnknown) else exc.code
        if exc.code in ("store_unavailable", "store_throttled", "store_write_unknown"):
            outage = self._outages.failed(turn.event, self.assistant)
            if outage is not None:
                report.actions, report.fallback, report.reason = outage, True, "outage"
                return
        self._fallback(turn, code)

    def _fallback(self, turn: _Turn, reason: str) -> None:
        report = turn.report
        report.fallback, report.reason = True, reason
        if turn.event.type in slow.NO_ANSWER_EXPECTED:
            report.actions = []
        else:
            report.actions = self.assistant.fallback_reply(turn.event.session.id)

    # --- helpers --------------------------------------------------------------------------

    def _call_for(self, event: BaseEvent, stored: StoredCall | None) -> Call[Any]:
        if stored is None:
            return Call.from_session(
                event.session, state=self.assistant.new_state(), clock=self.clock
            )
        return Call.from_doc(
            stored.doc,
            version=stored.version,
            state_model=self.assistant.state_model,
            clock=self.clock,
        )

    def _check_state(self, doc: dict[str, Any]) -> None:
        limit = self.assistant.policy.state_max_bytes
        state = doc.get("state")
        size = _json_size(state)
        if size <= limit:
            return
        largest = ""
        if isinstance(state, dict) and state:
            largest = max(state, key=lambda k: _json_size(state[k]))
            largest = f"; the largest key is {largest!r} ({_json_size(state[largest])} bytes)"
        raise StateTooLarge(
            f"call.state has {size} bytes as JSON, over the limit of {limit} "
            f"(TurnPolicy.state_max_bytes){largest}"
        )

    def _handlers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._handler_pool is None:
                # Handlers run in threads, so the engine can stop waiting for a slow one.
                self._handler_pool = ThreadPoolExecutor(32, thread_name_prefix="aiflow-turn")
            return self._handler_pool

    def _io(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._io_pool is None:
                self._io_pool = ThreadPoolExecutor(16, thread_name_prefix="aiflow-io")
            return self._io_pool

    def _notify(self, report: TurnReport) -> None:
        for listener in self.listeners:
            try:
                listener(report)
            except Exception as exc:
                log_failure(logger, "a turn listener failed", error=exc, redact=self.redact_logs)


class _Outages:
    """Consecutive store failures per call, as far as this process can tell, and the
    hangup/transfer owed after an outage sentence (kept here: the store is down)."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._failures: OrderedDict[str, int] = OrderedDict()
        self._owed: OrderedDict[str, list[Action]] = OrderedDict()
        self._lock = threading.Lock()

    def answer(self, event: BaseEvent, report: TurnReport, assistant: Assistant) -> bool:
        """Answer ``event`` of a call being ended for an outage; False if it is not."""
        with self._lock:
            owed = self._owed.get(event.session.id)
            if owed is None:
                return False
            if event.type in _RELEASE_EVENTS:
                del self._owed[event.session.id]
                report.actions = owed
            report.reason = "outage"
            return True

    def failed(self, event: BaseEvent, assistant: Assistant) -> list[Action] | None:
        """Count a store failure; the outage sentence when the policy says the call ends."""
        policy = assistant.policy.outage
        session_id = event.session.id
        with self._lock:
            count = self._failures.pop(session_id, 0) + 1
            self._failures[session_id] = count
            while len(self._failures) > self.size:
                self._failures.popitem(last=False)
            if not policy.after_failures or count < policy.after_failures:
                return None
            if event.type in slow.NO_ANSWER_EXPECTED:
                return None
            sentence = policy.sentence or assistant.outage_sentence
            then: Action = policy.transfer if policy.transfer is not None else hangup()
            self._owed[session_id] = [then.for_session(session_id)]
            while len(self._owed) > self.size:
                self._owed.popitem(last=False)
        farewell = assistant.with_defaults(speak(sentence, barge_in=_NOT_INTERRUPTIBLE), last=False)
        return [farewell.for_session(session_id)]

    def succeeded(self, session_id: str) -> None:
        """The store worked for this call again."""
        with self._lock:
            self._failures.pop(session_id, None)


_ONCE_METHODS = ("once_get", "once_claim", "once_complete", "once_abandon")


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
