"""Side effects that must happen once per call, even when a handler runs twice.

A handler can run more than once for one event: when its save lost a race that a merge
cannot settle, the engine reruns it on the newer record; when it outran the turn budget, the
worker reruns it (while the abandoned run may still be finishing). For most handlers that
is harmless. For a side effect, booking an appointment or sending an e-mail, it is not::

    @assistant.on_user_speak
    def book(event: UserSpeakEvent, call: Call[Booking]):
        booking_id = call.once(f"book:{call.state.slot}", lambda: calendar.book(call.state.slot))
        return f"Booked, your number is {booking_id}."

``call.once(key, fn)`` runs ``fn`` at most once per call and key, and returns its result
(which must be JSON-serialisable) to every run after the first. Why that holds:

* within one event, the engine keeps the results of the first run in memory, so a rerun
  after a conflicting save reuses them without touching the store;
* across processes (the worker, another Lambda instance), the first run *claims* the key in
  the call store with a conditional create before calling ``fn`` and stores the result
  after. A second run finds the claim: it returns the stored result, or, while the first run
  is still busy, waits for it (up to ``wait_s``) and then fails the turn rather than run
  ``fn`` again (the caller hears the fallback; the effect is never doubled).
* if ``fn`` raises, the claim is withdrawn, so a later turn may try again.

So the guarantee is at most once; a process that dies between ``fn`` and storing its result
leaves the claim in place, and later runs fail instead of repeating the effect.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .errors import AiflowError
from .plain import Plain

T = TypeVar("T")


class OnceInProgress(AiflowError):
    """Another run holds the claim on this side effect and has not finished it."""

    code = "once_in_progress"


class OnceRecord(Plain):
    """A claimed side effect: who claimed it and, once done, its result."""

    __slots__ = ("owner", "done", "result")

    def __init__(self, owner: str, done: bool, result: Any = None) -> None:
        self.owner = owner
        self.done = done
        self.result = result


class OnceJournal(Protocol):
    """Durable claims and results of once-only side effects (a call store provides it)."""

    def once_get(self, session_id: str, key: str) -> OnceRecord | None:
        """The claim on ``key`` of the call, if any."""
        ...

    def once_claim(self, session_id: str, key: str, owner: str) -> bool:
        """Claim ``key`` for ``owner``; False if it is claimed already."""
        ...

    def once_complete(self, session_id: str, key: str, owner: str, result: Any) -> None:
        """Store the result of ``owner``'s claim."""
        ...

    def once_abandon(self, session_id: str, key: str, owner: str) -> None:
        """Withdraw ``owner``'s claim (the effect failed and may be tried again)."""
        ...


class Effects:
    """The once-only side effects of one event's processing (the engine makes one per turn).

    Args:
        journal: where claims live (the call store); None keeps them in this object only.
        session_id: the call.
        wait_s: how long a run waits for another run's unfinished effect.
    """

    def __init__(
        self, journal: OnceJournal | None, session_id: str, *, wait_s: float = 2.0
    ) -> None:
        self.journal = journal
        self.session_id = session_id
        self.wait_s = wait_s
        self.owner = uuid.uuid4().hex
        self.ran: list[str] = []  # keys whose function ran in this turn (for reports/tests)
        self._results: dict[str, Any] = {}
        self._lock = threading.Lock()

    def once(self, key: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` unless it ran for ``key`` in this call already; see the module docstring."""
        with self._lock:
            if key in self._results:
                return self._results[key]  # type: ignore[no-any-return]
        if self.journal is None:
            result = fn()
            _check_json(key, result)
            self.ran.append(key)
        else:
            result = self._durably(key, fn)
        with self._lock:
            self._results[key] = result
        return result

    def _durably(self, key: str, fn: Callable[[], T]) -> T:
        assert self.journal is not None
        deadline = time.monotonic() + self.wait_s
        while True:
            record = self.journal.once_get(self.session_id, key)
            if record is not None and record.done:
                return record.result  # type: ignore[no-any-return]
            if record is None and self.journal.once_claim(self.session_id, key, self.owner):
                break
            if time.monotonic() >= deadline:
                raise OnceInProgress(
                    f"the side effect {key!r} is being run by another run of this handler"
                )
            time.sleep(0.05)
        try:
            result = fn()
            _check_json(key, result)
        except BaseException:
            self.journal.once_abandon(self.session_id, key, self.owner)
            raise
        self.ran.append(key)
        self.journal.once_complete(self.session_id, key, self.owner, result)
        return result


def _check_json(key: str, result: Any) -> None:
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        raise TypeError(
            f"call.once({key!r}, ...) returned {type(result).__name__}, which cannot be stored; "
            "return JSON data (str, number, bool, None, list, dict)"
        ) from None
