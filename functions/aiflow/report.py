"""The one report of one turn: what the caller hears, what happened, what it cost.

Every transport gets a :class:`TurnReport` from the turn engine and builds its answer from
it (HTTP: status and body; WebSocket: frames); logs, metrics, the dev server's line, call
records and the test simulator read the same object.
"""

from __future__ import annotations

import time
from typing import Any

from .plain import Plain
from .protocol.actions import Action

# Why the caller heard the fallback (or nothing), as ``TurnReport.reason``.
REASONS = (
    "handler_error",
    "turn_timeout",
    "store_unavailable",
    "store_throttled",
    "store_conflict",
    "store_write_unknown",
    "record_too_large",
    "state_too_large",
    "worker_unavailable",
    "token_unavailable",
    "outage",
    "internal_error",
)


class TurnReport(Plain):
    """What happened for one event.

    Attributes:
        event_type: the event's ``type``.
        session_id: the call.
        actions: what the transport sends as the answer (HTTP body, last WebSocket frame).
        streamed: what was already sent while the handler ran (WebSocket).
        fallback: the caller hears the fallback (or the outage sentence) instead of an answer.
        reason: why (see :data:`REASONS`), also set for a failure nobody hears (session_end).
        error: the handler's exception, if it raised (never logged unredacted by default).
        ignored: the call had ended; nothing ran and nothing was stored.
        deferred: the turn continues in the worker (the caller hears a filler).
        abandoned: the worker found the call no longer waiting for its answer.
        interrupted: the caller started talking and the streamed answer was stopped.
        fillers: fillers sent while a streaming handler was silent.
        frames: WebSocket frames sent for this event.
        handler_ms: time spent in the user's handler.
        total_ms: time from the event to the answer.
        store_requests: requests to the call store.
        conflicts: saves that lost a race.
        merges: lost races settled by merging (the handler did not run again).
        reruns: lost races that ran the handler again.
        settled: how a save with an unknown outcome was settled (``landed``/``not_landed``).
        stored: the call document as saved by this turn (None if nothing was saved).
        started: ``time.monotonic()`` when the event arrived (see :attr:`elapsed_ms`).
    """

    __slots__ = (
        "event_type",
        "session_id",
        "actions",
        "streamed",
        "fallback",
        "reason",
        "error",
        "ignored",
        "deferred",
        "abandoned",
        "interrupted",
        "fillers",
        "frames",
        "handler_ms",
        "total_ms",
        "store_requests",
        "conflicts",
        "merges",
        "reruns",
        "settled",
        "stored",
        "started",
    )
    _compared = __slots__[:-1]  # not `started`

    def __init__(
        self,
        event_type: str | None = None,
        session_id: str | None = None,
        actions: list[Action] | None = None,
        streamed: list[Action] | None = None,
        fallback: bool = False,
        reason: str | None = None,
        error: BaseException | None = None,
        ignored: bool = False,
        deferred: bool = False,
        abandoned: bool = False,
        interrupted: bool = False,
        fillers: int = 0,
        frames: int = 0,
        handler_ms: float = 0.0,
        total_ms: float = 0.0,
        store_requests: int = 0,
        conflicts: int = 0,
        merges: int = 0,
        reruns: int = 0,
        settled: str | None = None,
        stored: dict[str, Any] | None = None,
        started: float | None = None,
    ) -> None:
        self.event_type = event_type
        self.session_id = session_id
        self.actions: list[Action] = [] if actions is None else actions
        self.streamed: list[Action] = [] if streamed is None else streamed
        self.fallback = fallback
        self.reason = reason
        self.error = error
        self.ignored = ignored
        self.deferred = deferred
        self.abandoned = abandoned
        self.interrupted = interrupted
        self.fillers = fillers
        self.frames = frames
        self.handler_ms = handler_ms
        self.total_ms = total_ms
        self.store_requests = store_requests
        self.conflicts = conflicts
        self.merges = merges
        self.reruns = reruns
        self.settled = settled
        self.stored = stored
        self.started = time.monotonic() if started is None else started

    @property
    def elapsed_ms(self) -> float:
        """Time since the event arrived; ``total_ms`` is only known once the turn is over
        (a recorder, running before the save, reads this)."""
        return (time.monotonic() - self.started) * 1000

    @property
    def action_types(self) -> list[str]:
        """The ``type`` of every action the caller gets in this turn, in order."""
        return [a.type for a in (*self.streamed, *self.actions)]

    @property
    def error_text(self) -> str | None:
        """``Type: message`` of the handler's exception (for local development only)."""
        if self.error is None:
            return None
        return f"{type(self.error).__name__}: {self.error}"
