"""What the console knows about calls: the turns this dev server answered, and a call as stored.

:class:`SeenCalls` listens to the turn engine (``engine.listeners``): one entry per report,
kept in memory for this dev server's lifetime, bounded. :func:`stored_call` reads the call
item from the call store as it is now (DynamoDB: the item itself, one strongly consistent
``GetItem``, its document decoded with :func:`aiflow.store.dynamodb.item_doc`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...awsclients import error_code
from ...report import TurnReport
from ...store.base import CallStore, StoreError
from ...store.dynamodb import DynamoDBStore, item_doc

# A dev session holds a few dozen calls; these bound a runaway script, not a person.
MAX_CALLS = 200
MAX_TURNS_PER_CALL = 500


@dataclass
class SeenCall:
    """One call as the engine reported it: its turns in order (the oldest dropped first)."""

    session_id: str
    first_at: float  # Unix ms of the first answer
    last_at: float
    turns: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    ended: bool = False

    def summary(self) -> dict[str, Any]:
        """The call's line in the "Past calls" list."""
        last = self.turns[-1]["event_type"] if self.turns else None
        return {
            "session_id": self.session_id,
            "first_at": round(self.first_at),
            "last_at": round(self.last_at),
            "turns": len(self.turns) + self.dropped,
            "last_event": last,
            "ended": self.ended,
        }


class SeenCalls:
    """The calls this dev server answered, from the turn engine's reports.

    Register an instance in ``engine.listeners``; it is called with every
    :class:`~aiflow.report.TurnReport` (from the request threads, hence the lock).

    Args:
        max_calls: the oldest call is forgotten beyond this many.
        max_turns: per call; the oldest turns are dropped beyond this many.
        clock: Unix seconds (when a report arrives, the turn has just been answered).
    """

    def __init__(
        self,
        *,
        max_calls: int = MAX_CALLS,
        max_turns: int = MAX_TURNS_PER_CALL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_calls = max_calls
        self.max_turns = max_turns
        self.clock = clock
        self._calls: OrderedDict[str, SeenCall] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, report: TurnReport) -> None:
        """Take one report (the engine listener)."""
        if not report.session_id:
            return
        at = self.clock() * 1000
        turn = turn_entry(report, at)
        with self._lock:
            call = self._calls.get(report.session_id)
            if call is None:
                call = SeenCall(report.session_id, first_at=at, last_at=at)
                self._calls[report.session_id] = call
                while len(self._calls) > self.max_calls:
                    self._calls.popitem(last=False)
            call.turns.append(turn)
            call.last_at = at
            if report.event_type == "session_end":
                call.ended = True
            if len(call.turns) > self.max_turns:
                del call.turns[0]
                call.dropped += 1

    def listing(self) -> list[dict[str, Any]]:
        """Every call's summary, the most recently active first."""
        with self._lock:
            calls = [call.summary() for call in self._calls.values()]
        return sorted(calls, key=lambda c: c["last_at"], reverse=True)

    def turns(self, session_id: str) -> list[dict[str, Any]] | None:
        """The turns of one call in order; None for a call this server never answered."""
        with self._lock:
            call = self._calls.get(session_id)
            return None if call is None else [dict(turn) for turn in call.turns]


def turn_entry(report: TurnReport, at_ms: float) -> dict[str, Any]:
    """A report as JSON: when, which event, what was answered and how long it took."""
    entry: dict[str, Any] = {
        "at": round(at_ms),
        "event_type": report.event_type,
        "total_ms": round(report.total_ms, 1),
        "handler_ms": round(report.handler_ms, 1),
        "store_requests": report.store_requests,
        "actions": [_wire(action) for action in report.actions],
    }
    if report.streamed:
        entry["streamed"] = [_wire(action) for action in report.streamed]
    for flag in ("fallback", "ignored", "deferred", "interrupted"):
        if getattr(report, flag):
            entry[flag] = True
    if report.reason:
        entry["reason"] = report.reason
    if report.conflicts:
        entry["conflicts"] = report.conflicts
    return entry


def _wire(action: Any) -> dict[str, Any]:
    wire: dict[str, Any] = action.to_wire()
    wire.pop("session_id", None)  # the same in every action of the call
    return wire


def stored_call(
    store: CallStore, session_id: str, *, clock: Callable[[], float] = time.time
) -> dict[str, Any] | None:
    """The call as stored now, or None when the store has no such call.

    From DynamoDB: the item's own attributes (``version``, ``status``, ``expires_at``, how
    the document is stored) and the decoded document. From any other store: what its
    ``load`` returns.

    Raises:
        StoreError: the store could not be read.
    """
    if isinstance(store, DynamoDBStore):
        return _dynamodb_item(store, session_id, clock())
    loaded = store.load(session_id)
    if loaded is None:
        return None
    return {
        "session_id": session_id,
        "store": type(store).__name__,
        "version": loaded.version,
        "status": loaded.doc.get("status"),
        "doc": loaded.doc,
    }


def _dynamodb_item(store: DynamoDBStore, session_id: str, now: float) -> dict[str, Any] | None:
    try:
        found = store.client.get_item(
            TableName=store.table_name,
            Key={"session_id": {"S": session_id}},
            ConsistentRead=True,
        )
    except Exception as exc:  # botocore's errors, a refused connection: say which, no trace
        code = error_code(exc)
        raise StoreError(f"DynamoDB GetItem failed: {code}") from None
    item = found.get("Item")
    if not item or not ("doc" in item or "docz" in item):
        return None  # no such item, or one that is no call (a once-claim, a connection)
    expires_at = int(item["expires_at"]["N"]) if "expires_at" in item else None
    compressed = "docz" in item
    stored_bytes = len(bytes(item["docz"]["B"])) if compressed else len(item["doc"]["S"].encode())
    return {
        "session_id": session_id,
        "store": f"DynamoDB table {store.table_name}",
        "version": int(item["version"]["N"]),
        "status": item.get("status", {}).get("S"),
        "expires_at": expires_at,
        "expired": expires_at is not None and expires_at <= now,
        "compressed": compressed,
        "stored_bytes": stored_bytes,
        "doc": item_doc(item),
    }
