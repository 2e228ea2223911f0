"""Running a handler within a budget: in a thread the engine can stop waiting for, and, on
a streaming transport, with fillers while the handler is silent.

Handlers run in a pool thread so that the engine can answer at its deadline whatever the
handler does; an abandoned run may still finish in the background (its result is ignored,
and :meth:`aiflow.Call.once` keeps its side effects from happening twice).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from .assistant import Assistant
from .call import Call
from .deadline import NO_ANSWER_EXPECTED
from .errors import AiflowError
from .plain import Plain
from .protocol.actions import Action
from .protocol.events import BaseEvent
from .replies import Reply
from .report import TurnReport
from .streaming import Channel, ConnectionGone, Sender

logger = logging.getLogger("aiflow.turns")


class TurnTimeout(AiflowError):
    """The handler did not finish within the turn's time budget."""

    code = "turn_timeout"


class StreamTarget(Plain):
    """Where a streaming transport's frames go while the handler runs.

    Attributes:
        send: sends one JSON text frame (raises :class:`ConnectionGone` when it left).
        cancelled: whether the caller started talking since the event (stops a stream).
        max_turn_ms: give up after this long (e.g. the Lambda's remaining time).
    """

    __slots__ = ("send", "cancelled", "max_turn_ms")

    def __init__(
        self,
        send: Sender,
        cancelled: Callable[[], bool] = lambda: False,
        max_turn_ms: float | None = None,
    ) -> None:
        self.send = send
        self.cancelled = cancelled
        self.max_turn_ms = max_turn_ms


class Filling(Plain):
    """How a streaming turn waits: a filler after ``after_s`` of silence, the apology and
    giving up at ``until`` (monotonic), a streamed sentence held ``lookahead_s``."""

    __slots__ = ("after_s", "until", "lookahead_s")

    def __init__(self, after_s: float, until: float, lookahead_s: float) -> None:
        self.after_s = after_s
        self.until = until
        self.lookahead_s = lookahead_s


class HandlerRunner:
    """Runs handlers in a thread pool (one per engine)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(
        self, assistant: Assistant, event: BaseEvent, call: Call[Any], deadline: float
    ) -> Reply:
        """The handler's reply, or :class:`TurnTimeout` at ``deadline`` (monotonic)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TurnTimeout("no time left for the handler")
        future = self._threads().submit(assistant.handle, event, call)
        try:
            return future.result(timeout=remaining)
        except FutureTimeout:
            raise TurnTimeout("the handler did not finish in time") from None

    def stream(
        self,
        assistant: Assistant,
        event: BaseEvent,
        call: Call[Any],
        target: StreamTarget,
        filling: Filling,
        report: TurnReport,
    ) -> Reply | None:
        """Run with a channel; fillers while the handler is silent; None if given up (the
        apology is then in ``report.actions``)."""
        channel = Channel(
            call,
            target.send,
            defaults=lambda action: assistant.with_defaults(action, last=False),
            cancelled=target.cancelled,
            lookahead=filling.lookahead_s,
        )
        future: Future[Reply] = self._threads().submit(
            assistant.handle, event, call, channel=channel
        )
        while True:
            can_fill = (
                event.type not in NO_ANSWER_EXPECTED and report.fillers < assistant.max_fillers
            )
            wait = filling.until - time.monotonic()
            if can_fill:
                wait = min(wait, filling.after_s - channel.idle_seconds())
            try:
                reply = future.result(timeout=max(wait, 0.001))
                break
            except FutureTimeout:
                pass
            if time.monotonic() >= filling.until:
                channel.close("given_up")
                logger.warning("handler exceeded the turn limit; the caller hears an apology")
                report.reason = "turn_timeout"
                if event.type not in NO_ANSWER_EXPECTED:
                    report.actions = [_apology(assistant, call)]
                return None
            if can_fill and channel.idle_seconds() >= filling.after_s:
                fillers = assistant.fillers
                text = fillers[min(report.fillers, len(fillers) - 1)]
                report.fillers += 1
                channel.send([assistant.speech(text, wait_for_caller=False)], record=False)
        report.interrupted = channel.closed == "interrupted"
        if channel.closed == "gone":
            raise ConnectionGone("the connection closed while the answer streamed")
        return reply

    def close(self) -> None:
        """Stop the pool (abandoned handlers finish on their own)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _threads(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(32, thread_name_prefix="aiflow-turn")
            return self._pool


def _apology(assistant: Assistant, call: Call[Any]) -> Action:
    return assistant.speech(assistant.slow_apology).for_session(call.session_id)
