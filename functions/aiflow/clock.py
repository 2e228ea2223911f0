"""Wall time, injectable: the framework asks a :class:`Clock`, so tests can pass a fake one.

Timestamps in call records, barge-in estimates and record timings are Unix milliseconds
(the unit the platform uses) read from the clock the engine was given. A test that checks
what a caller heard of an interrupted sentence passes a :class:`FakeClock` and moves it,
instead of patching module functions and sleeping. (Budgets and deadlines wait for real:
they use ``time.monotonic`` directly.)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Where the framework gets the time from."""

    def now_ms(self) -> int:
        """Unix time in milliseconds."""
        ...


class SystemClock:
    """The real time."""

    def now_ms(self) -> int:
        """See :meth:`Clock.now_ms`."""
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock that moves only when told to (tests).

    Args:
        now_ms: the Unix ms it starts at.
    """

    def __init__(self, now_ms: int = 1_767_355_200_000) -> None:
        self._now_ms = now_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """See :meth:`Clock.now_ms`."""
        with self._lock:
            return self._now_ms

    def advance(self, ms: float) -> None:
        """Move the clock forward by ``ms`` milliseconds."""
        with self._lock:
            self._now_ms += int(ms)

    def set(self, now_ms: int) -> None:
        """Set the clock to ``now_ms``."""
        with self._lock:
            self._now_ms = now_ms


SYSTEM_CLOCK: Clock = SystemClock()
"""The clock used when none is given."""
