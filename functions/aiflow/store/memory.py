"""In-memory storage for unit tests of assistants and for single-process tools: call
records, once-only side effects and WebSocket connection records, with the semantics of
the DynamoDB backend (versions, TTL, conditional claims)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..effects import OnceRecord
from .base import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_TTL_SECONDS,
    ConflictError,
    RecordTooLarge,
    StoredCall,
)

__all__ = ["DEFAULT_TTL_SECONDS", "MemoryConnections", "MemoryStore"]


class MemoryStore:
    """Thread-safe, versioned, with the same TTL semantics as the DynamoDB store.

    Args:
        ttl_seconds: a call record expires this long after its last save.
        clock: returns Unix seconds (tests pass a fake clock to test expiry).
        max_record_bytes: larger documents (as JSON) are refused.

    Attributes:
        requests: load/save requests so far (tests count them).
    """

    def __init__(
        self,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.max_record_bytes = max_record_bytes
        self.requests = 0
        self._items: dict[str, tuple[str, int, float]] = {}
        self._once: dict[tuple[str, str], OnceRecord] = {}
        self._connections = MemoryConnections()
        self._lock = threading.Lock()

    def load(self, session_id: str) -> StoredCall | None:
        """See :meth:`aiflow.store.CallStore.load`."""
        with self._lock:
            self.requests += 1
            item = self._items.get(session_id)
            if item is None or item[2] <= self.clock():
                return None
            return StoredCall(json.loads(item[0]), item[1])

    def save(self, session_id: str, doc: dict[str, Any], *, version: int) -> int:
        """See :meth:`aiflow.store.CallStore.save`."""
        # JSON round trip: what a real backend would store, so tests catch non-JSON state.
        encoded = json.dumps(copy.deepcopy(doc), ensure_ascii=False)
        size = len(encoded.encode("utf-8"))
        if size > self.max_record_bytes:
            raise RecordTooLarge(
                f"the call record has {size} bytes; the store accepts {self.max_record_bytes}"
            )
        with self._lock:
            self.requests += 1
            item = self._items.get(session_id)
            current = item[1] if item is not None and item[2] > self.clock() else 0
            if current != version:
                raise ConflictError(f"call record is at version {current}, not {version}")
            self._items[session_id] = (encoded, version + 1, self.clock() + self.ttl_seconds)
            return version + 1

    def get(self, session_id: str) -> dict[str, Any] | None:
        """The stored document (for assertions in tests)."""
        found = self.load(session_id)
        return found.doc if found else None

    # --- once-only side effects (aiflow.effects.OnceJournal) ---------------------------

    def once_get(self, session_id: str, key: str) -> OnceRecord | None:
        """See :meth:`aiflow.effects.OnceJournal.once_get`."""
        with self._lock:
            self.requests += 1
            return self._once.get((session_id, key))

    def once_claim(self, session_id: str, key: str, owner: str) -> bool:
        """See :meth:`aiflow.effects.OnceJournal.once_claim`."""
        with self._lock:
            self.requests += 1
            if (session_id, key) in self._once:
                return False
            self._once[(session_id, key)] = OnceRecord(owner=owner, done=False)
            return True

    def once_complete(self, session_id: str, key: str, owner: str, result: Any) -> None:
        """See :meth:`aiflow.effects.OnceJournal.once_complete`."""
        with self._lock:
            self.requests += 1
            self._once[(session_id, key)] = OnceRecord(
                owner=owner, done=True, result=json.loads(json.dumps(result))
            )

    def once_abandon(self, session_id: str, key: str, owner: str) -> None:
        """See :meth:`aiflow.effects.OnceJournal.once_abandon`."""
        with self._lock:
            self.requests += 1
            record = self._once.get((session_id, key))
            if record is not None and record.owner == owner and not record.done:
                del self._once[(session_id, key)]

    # --- WebSocket connection records --------------------------------------------------

    def connections(self) -> MemoryConnections:
        """The connection records kept next to these calls."""
        return self._connections


@dataclass
class _Connection:
    call: str | None = None
    interrupted_at: int = 0


class MemoryConnections:
    """WebSocket connection records in this process (dev server, tests)."""

    def __init__(self) -> None:
        self._records: dict[str, _Connection] = {}
        self._lock = threading.Lock()

    def bind(self, connection_id: str, session_id: str) -> None:
        """See :meth:`aiflow.store.Connections.bind`."""
        with self._lock:
            self._records.setdefault(connection_id, _Connection()).call = session_id

    def interrupt(self, connection_id: str, at_ms: int) -> None:
        """See :meth:`aiflow.store.Connections.interrupt`."""
        with self._lock:
            record = self._records.setdefault(connection_id, _Connection())
            record.interrupted_at = max(record.interrupted_at, at_ms)

    def interrupted_since(self, connection_id: str, since_ms: int) -> bool:
        """See :meth:`aiflow.store.Connections.interrupted_since`."""
        with self._lock:
            record = self._records.get(connection_id)
            return record is not None and record.interrupted_at > since_ms

    def forget(self, connection_id: str) -> str | None:
        """See :meth:`aiflow.store.Connections.forget`."""
        with self._lock:
            record = self._records.pop(connection_id, None)
            return record.call if record else None

    def call_of(self, connection_id: str) -> str | None:
        """The call on ``connection_id`` (for tests and the dev server's log)."""
        with self._lock:
            record = self._records.get(connection_id)
            return record.call if record else None
