"""Loading and saving one turn's call within the turn's deadline.

The turn engine's only door to the call store. Every request is waited for no longer than
the deadline (the request itself may go on in the background; botocore's own timeouts end
it); a save that lost a race is merged into the newer record (:mod:`aiflow.merge`) or sent
back for a rerun; a save whose answer never came is *settled*: the record is read back and
the save's id (``turn`` in the document) tells whether it landed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any, TypeVar

from .merge import merge_docs
from .plain import Plain
from .report import TurnReport
from .store.base import CallStore, ConflictError, StoredCall, StoreError, WriteUnknown

R = TypeVar("R")
LOAD_SHARE = 0.6  # of the answer budget, the most one read may take
# A write is waited for until this long before the deadline, so that a write whose answer
# never comes can still be settled by reading the record back before the caller is answered.
SETTLE_RESERVE_S = 0.3


class Rerun(Exception):
    """The save lost a race that no merge settles: run the handler again."""


class Saving(Plain):
    """What one save needs to know about its turn."""

    __slots__ = ("session_id", "report", "deadline", "keep")

    def __init__(
        self, session_id: str, report: TurnReport, deadline: float, keep: bool = False
    ) -> None:
        self.session_id = session_id
        self.report = report
        self.deadline = deadline  # monotonic
        self.keep = keep  # the caller heard part of the turn: ours wins, never rerun


class CallPersistence:
    """Deadline-bound loads and saves of call records.

    Args:
        store: the call store.
        answer_budget_ms: the turn's whole budget (a read may take :data:`LOAD_SHARE`).
        max_attempts: saves that lost a race before giving up.
    """

    def __init__(self, store: CallStore, *, answer_budget_ms: int, max_attempts: int) -> None:
        self.store = store
        self.answer_budget_ms = answer_budget_ms
        self.max_attempts = max_attempts
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def load(self, session_id: str, report: TurnReport, deadline: float) -> StoredCall | None:
        """The stored call, or None; raises :class:`StoreError` (also when out of time)."""
        report.store_requests += 1
        # A read that takes more than a share of the budget leaves no time for an answer
        # anyway: give up on it early, so the caller hears the fallback sooner.
        cap = time.monotonic() + self.answer_budget_ms * LOAD_SHARE / 1000
        return self.bounded(lambda: self.store.load(session_id), min(deadline, cap))

    def save(
        self,
        saving: Saving,
        loaded: dict[str, Any] | None,
        doc: dict[str, Any],
        version: int,
    ) -> dict[str, Any]:
        """Save ``doc`` over ``version``; merge into a newer record; return what was saved.

        Raises:
            Rerun: a newer record changed what we changed, and nothing was heard yet.
            StoreError: the store failed, or the save's outcome could not be settled.
        """
        report = saving.report
        for _ in range(self.max_attempts):
            turn_id = uuid.uuid4().hex[:12]
            doc = {**doc, "turn": turn_id}
            try:
                report.store_requests += 1
                self.bounded(
                    partial(self.store.save, saving.session_id, doc, version=version),
                    _write_deadline(saving.deadline),
                    write=True,
                )
                return doc
            except ConflictError:
                report.conflicts += 1
                fresh = self.load(saving.session_id, report, saving.deadline)
                if fresh is None:
                    if not saving.keep:
                        raise Rerun() from None
                    loaded, version = None, 0
                    continue
                merged = merge_docs(loaded or {}, doc, fresh.doc, prefer_ours=saving.keep)
                if merged is None:
                    raise Rerun() from None
                report.merges += 1
                loaded, doc, version = fresh.doc, merged, fresh.version
            except WriteUnknown:
                outcome = self.settle(saving, turn_id, version)
                report.settled = outcome
                if outcome == "landed":
                    return doc
                if outcome != "not_landed":
                    raise
                # Not applied: try again while there is time (bounded() checks the deadline).
        raise StoreError(
            f"gave up after {report.conflicts} conflicting saves", code="store_conflict"
        )

    def put(
        self,
        session_id: str,
        doc: dict[str, Any],
        version: int,
        report: TurnReport,
        deadline: float,
    ) -> None:
        """One conditional save, no merge (the worker merges on its own terms); raises
        :class:`ConflictError` when the record moved."""
        report.store_requests += 1
        self.bounded(
            partial(self.store.save, session_id, doc, version=version), deadline, write=True
        )

    def settle(self, saving: Saving, turn_id: str, version: int) -> str:
        """Did a save whose answer never came land? ``landed``, ``not_landed`` or
        ``unknown`` (the record could not be read, or someone saved after it)."""
        try:
            fresh = self.load(saving.session_id, saving.report, saving.deadline)
        except StoreError:
            return "unknown"
        if fresh is not None and fresh.doc.get("turn") == turn_id:
            return "landed"
        if (fresh.version if fresh is not None else 0) == version:
            return "not_landed"
        return "unknown"

    def bounded(self, request: Callable[[], R], deadline: float, *, write: bool = False) -> R:
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

    def close(self) -> None:
        """Stop the waiting threads."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _io(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(16, thread_name_prefix="aiflow-io")
            return self._pool


def _write_deadline(deadline: float) -> float:
    """How long to wait for a write: to :data:`SETTLE_RESERVE_S` before the deadline when
    there is time for that (to settle a write whose answer never comes), else all of it."""
    if deadline - time.monotonic() > SETTLE_RESERVE_S + 0.15:
        return deadline - SETTLE_RESERVE_S
    return deadline
