"""Writing the call record as the call goes: a turn-engine recorder and listener.

:class:`CallRecorder` is wired into the turn engine (:func:`aiflow.lambda_.wiring.build_engine`)
when an assistant's calls are recorded:

* :meth:`CallRecorder.record` runs before each save (``engine.recorders``) and updates the
  record in ``call.extras["record"]``, which is saved with the call document: **no request of
  its own**. Events that change nothing else (a speech end with nothing held, the start of a
  sentence whose length is unknown) leave the record alone, so they stay without a write.
* :meth:`CallRecorder.finish` runs after each turn (``engine.listeners``): after the
  ``session_end`` turn it writes the finished record, as saved, to the record store (**one
  PutItem per call**), so it outlives the call item's TTL. It also notes store failures of
  this process, which the next turn that reaches the store adds to the record.

A failure here never reaches the caller: it is logged (type and frames only) and the turn
goes on without its record.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..call import Call
from ..clock import SystemClock
from ..protocol.events import (
    BaseEvent,
    DtmfReceivedEvent,
    UserBargeInEvent,
    UserSpeakEvent,
)
from ..protocol.phone import to_e164
from ..redact import log_failure
from ..report import TurnReport
from . import document as records
from .document import RECORD_KEY
from .policy import RecordPolicy
from .store import RecordStore

logger = logging.getLogger("aiflow.records")

MAX_REPLY_ITEMS = 30
# Reasons of turns that did not reach the store (the record cannot say so at the time).
_STORE_REASONS = frozenset(
    {"store_unavailable", "store_throttled", "store_conflict", "store_write_unknown", "outage"}
)
# Events whose entry is only worth its write when the assistant did something then.
_QUIET_EVENTS = frozenset({"assistant_speech_ended", "session_end"})


class CallRecorder:
    """Keeps the records of the calls of the assistants it has a policy for.

    Args:
        policies: assistant name -> how its calls are recorded (others are not).
        store: where finished records go.
        retention_days: how long a finished record is kept (unless the policy says).
        redact_logs: log failures without personal data.
        remembered: calls whose store failures are remembered in this process.
    """

    def __init__(
        self,
        policies: Mapping[str, RecordPolicy],
        store: RecordStore,
        *,
        retention_days: int = 30,
        redact_logs: bool = True,
        remembered: int = 1000,
    ) -> None:
        self.policies = dict(policies)
        self.store = store
        self.retention_days = retention_days
        self.redact_logs = redact_logs
        self.remembered = remembered
        self._troubles: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    # --- before each save ------------------------------------------------------------------

    def record(self, call: Call[Any], event: BaseEvent, report: TurnReport) -> None:
        """The turn engine's recorder: update ``call.extras["record"]`` for this turn."""
        policy = self.policies.get(call.assistant or "")
        if policy is None:
            return
        try:
            self._record(call, event, report, policy)
        except Exception as exc:
            log_failure(logger, "call record not updated", error=exc, redact=self.redact_logs)

    def _record(
        self, call: Call[Any], event: BaseEvent, report: TurnReport, policy: RecordPolicy
    ) -> None:
        existing = call.extras.get(RECORD_KEY)
        at = _arrival(call, report)
        doc = existing if isinstance(existing, dict) else self._new(call, policy, at)
        trouble = self._take_trouble(call.session_id)
        if trouble is not None:
            noted = records.new_entry("store_trouble", at)
            noted.update(trouble)
            doc["turns"].append(noted)
        kind = event.type
        entry: dict[str, Any] | None = None
        if kind == "assistant_speak":
            if call.playback is not None:  # a sentence of known length: saved anyway
                records.mark_playing(doc, call.playback.text, call.playback)
        elif kind == "user_speech_started":
            records.note_caller_started(doc, call.caller_started_at)
        elif self._worker_finished(doc, call, event, report):
            pass  # the slow turn's entry got the worker's result
        else:
            entry = self._entry(doc, call, event, report, policy, at)
        if entry is not None:
            doc["turns"].append(entry)
        if kind == "session_end":
            doc["ended_at"] = at
            doc.pop("playing", None)
            doc.pop("caller_started_at", None)
            doc["outcome"] = records.outcome(doc)
        records.bound(doc, policy.max_bytes)
        call.extras[RECORD_KEY] = doc  # the same object when it existed: changed in place

    def _new(self, call: Call[Any], policy: RecordPolicy, at: int) -> dict[str, Any]:
        return records.new_record(
            session_id=call.session_id,
            # A new call started when its first event arrived (the call object is made later).
            started_at=min(at, call.started_at) if call.is_new else call.started_at,
            direction=call.direction,
            caller=call.caller,
            called=call.called,
            assistant=call.assistant,
            mask=policy.mask_numbers,
        )

    def _entry(
        self,
        doc: dict[str, Any],
        call: Call[Any],
        event: BaseEvent,
        report: TurnReport,
        policy: RecordPolicy,
        at: int,
    ) -> dict[str, Any] | None:
        """This event's entry; None for one that would only cost a write to say nothing."""
        kind = event.type
        actions = [*report.streamed, *report.actions]
        quiet = not actions and not report.fallback and not report.deferred
        if kind in _QUIET_EVENTS and quiet:
            return None
        entry = records.new_entry(kind, at)
        if isinstance(event, UserSpeakEvent | UserBargeInEvent):
            if isinstance(event, UserBargeInEvent) or event.barged_in:
                entry["barged_in"] = True
                records.note_interruption(doc, now=at)
            else:
                records.forget_playback(doc)
            if event.text:
                entry["caller"] = records.cut_text(event.text, policy.max_text_chars)
        elif isinstance(event, DtmfReceivedEvent):
            entry["keys"] = event.digit if policy.record_keys else "•"
        elif kind == "session_start" and call.resumed:
            entry["resumed"] = True
            if call.previous_status == "transferring" and call.transferred_to:
                entry["transfer_failed"] = to_e164(call.transferred_to)
        reply = records.reply_items(
            actions, max_text_chars=policy.max_text_chars, mask=policy.mask_numbers
        )
        if len(reply) > MAX_REPLY_ITEMS:
            entry["more"] = len(reply) - MAX_REPLY_ITEMS
            reply = reply[:MAX_REPLY_ITEMS]
        if reply:
            entry["reply"] = reply
        if report.handler_ms:
            entry["handler_ms"] = round(report.handler_ms, 1)
        entry["answer_ms"] = round(report.elapsed_ms, 1)
        if report.fallback:
            entry["fallback"] = report.reason or "fallback"
        if report.error is not None:
            entry["error"] = type(report.error).__name__  # never the message: personal data
        if report.deferred:
            entry["slow"] = "waiting"
        if report.fillers:
            entry["fillers"] = report.fillers
        if report.interrupted:
            entry["interrupted"] = True
        return entry

    def _worker_finished(
        self, doc: dict[str, Any], call: Call[Any], event: BaseEvent, report: TurnReport
    ) -> bool:
        """In the slow-turn worker: note the result on the waiting entry (the answer itself
        is recorded when it is delivered, on a speech end)."""
        if call.slow_turn is not None or call.pending.source != "slow_turn" or report.deferred:
            return False
        for entry in reversed(doc["turns"]):
            if entry.get("slow") == "waiting" and entry.get("event") == event.type:
                entry["slow"] = "ready"
                entry["worker_ms"] = round(report.handler_ms, 1)
                if report.error is not None:
                    entry["error"] = type(report.error).__name__
                return True
        return False

    # --- after each turn -------------------------------------------------------------------

    def finish(self, report: TurnReport) -> None:
        """The turn engine's listener: note store failures; after ``session_end``, write the
        finished record to the record store."""
        try:
            self._finish(report)
        except Exception as exc:
            log_failure(logger, "call record not written", error=exc, redact=self.redact_logs)

    def _finish(self, report: TurnReport) -> None:
        if report.session_id and report.reason in _STORE_REASONS:
            self._note_trouble(report.session_id, report.reason)
        if report.event_type != "session_end" or report.stored is None:
            return
        doc = report.stored.get(RECORD_KEY)
        if not isinstance(doc, dict):
            return
        policy = self.policies.get(str(report.stored.get("assistant") or ""))
        if policy is None:
            return
        retention = policy.retention_days or self.retention_days
        self.store.put(doc, retention_days=retention)

    # --- store failures of this process ----------------------------------------------------

    def _note_trouble(self, session_id: str, reason: str | None) -> None:
        with self._lock:
            trouble = self._troubles.pop(session_id, None) or {"failures": 0}
            trouble["failures"] += 1
            if reason == "outage":
                trouble["outage"] = True
            self._troubles[session_id] = trouble
            while len(self._troubles) > self.remembered:
                self._troubles.popitem(last=False)

    def _take_trouble(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._troubles.pop(session_id, None)


def _arrival(call: Call[Any], report: TurnReport) -> int:
    """When the event arrived (Unix ms): now, less the time the turn has taken so far. A
    fake clock stands still during a turn, so there now is the arrival."""
    now = call.clock.now_ms()
    if isinstance(call.clock, SystemClock):
        return now - int(report.elapsed_ms)
    return now


def recorder_of(engine: Any) -> CallRecorder | None:
    """The :class:`CallRecorder` wired into a turn engine (``handler.engine``), or None."""
    for hook in getattr(engine, "recorders", []):
        owner = getattr(hook, "__self__", None)
        if isinstance(owner, CallRecorder):
            return owner
    return None
