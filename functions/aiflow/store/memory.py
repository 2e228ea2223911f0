"""An in-memory call store for unit tests of assistants and for single-process tools."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from .base import ConflictError, StoredCall

DEFAULT_TTL_SECONDS = 24 * 3600


class MemoryStore:
    """Thread-safe, versioned, with the same TTL semantics as the DynamoDB store.

    Args:
        ttl_seconds: a call record expires this long after its last save.
        clock: returns Unix seconds (tests pass a fake clock to test expiry).
    """

    def __init__(
        self, *, ttl_seconds: int = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.requests = 0
        self._items: dict[str, tuple[str, int, float]] = {}
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
        with self._lock:
            self.requests += 1
            item = self._items.get(session_id)
            current = item[1] if item is not None and item[2] > self.clock() else 0
            if current != version:
                raise ConflictError(f"call record is at version {current}, not {version}")
            # JSON round trip: what a real backend would store, so tests catch non-JSON state.
            self._items[session_id] = (
                json.dumps(copy.deepcopy(doc)),
                version + 1,
                self.clock() + self.ttl_seconds,
            )
            return version + 1

    def get(self, session_id: str) -> dict[str, Any] | None:
        """The stored document (for assertions in tests)."""
        found = self.load(session_id)
        return found.doc if found else None
