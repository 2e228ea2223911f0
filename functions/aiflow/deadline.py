"""The deadline guard's policy: what a turn that outruns its budget does, independent of
transport and cloud.

When a handler has not finished within the turn budget, the engine answers with a short
filler ("One moment, please …"), marks the call with a ``slow_turn`` and hands the event to
a worker through a :data:`Deferrer` (a second Lambda function invoked asynchronously, see
:class:`aiflow.lambda_.aws.LambdaDeferrer`, or a thread: :class:`ThreadDeferrer`). The
worker runs the handler without the budget (``TurnEngine.finish_slow_turn``) and holds its
actions in ``call.pending``; the next ``assistant_speech_ended`` or ``user_input_timeout``
delivers them. If the answer is still not ready then, the caller hears another filler, up
to the assistant's ``max_fillers``, then an apology. Everything lives in the call record,
so any Lambda instance can deliver the answer. When the caller speaks or presses a key in
the meantime, the slow turn is dropped (:meth:`aiflow.Call.caller_interrupted`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from .assistant import Assistant
from .call import Call
from .protocol.events import BaseEvent
from .redact import log_failure
from .replies import Reply

logger = logging.getLogger("aiflow.deadline")

Deferrer = Callable[[dict[str, Any]], None]
"""Starts the worker for a slow turn with the given JSON payload; must not block long and
raises when the worker could not be started."""

# Nobody waits for an answer to these: no filler, no fallback speech, no slow turn.
NO_ANSWER_EXPECTED = frozenset({"session_end", "assistant_speak", "user_speech_started"})
_DELIVERY_EVENTS = frozenset({"assistant_speech_ended", "user_input_timeout"})


def start_slow_turn(event: BaseEvent, call: Call[Any]) -> dict[str, Any]:
    """Mark ``call`` as waiting for the worker; return the worker payload."""
    turn_id = uuid.uuid4().hex
    call.slow_turn = {
        "id": turn_id,
        "event": event.type,
        "started_at": call.clock.now_ms(),
        "fillers": 1,
    }
    return {
        "session_id": call.session_id,
        "turn_id": turn_id,
        "is_new": call.is_new,
        "event": event.to_wire(),
    }


def filler(assistant: Assistant, session_id: str, index: int = 0) -> Reply:
    """The filler sentence for the ``index``-th wait (no user-input timeout on it), addressed
    to the call like every action of a reply."""
    fillers = assistant.fillers
    text = fillers[min(index, len(fillers) - 1)]
    speech = assistant.speech(text, wait_for_caller=False).for_session(session_id)
    return Reply(actions=[speech])


def while_waiting(assistant: Assistant, event: BaseEvent, call: Call[Any]) -> Reply | None:
    """The reply to a speech end while the worker has not delivered yet, else None.

    Returns another filler, or after ``max_fillers`` an apology that gives up the turn (a
    late answer of the worker is then dropped).
    """
    turn = call.slow_turn
    if turn is None or event.type not in _DELIVERY_EVENTS or call.pending:
        return None
    fillers = int(turn.get("fillers", 0))
    if fillers >= assistant.max_fillers:
        call.slow_turn = None
        logger.warning("slow turn given up after %s fillers", fillers)
        return Reply(
            actions=[assistant.speech(assistant.slow_apology).for_session(call.session_id)]
        )
    reply = filler(assistant, call.session_id, max(fillers, 1))
    call.slow_turn = {**turn, "fillers": fillers + 1}
    return reply


class ThreadDeferrer:
    """Runs the worker in a background thread of this process (dev server, tests)."""

    def __init__(self, worker: Callable[[dict[str, Any]], Any]) -> None:
        self.worker = worker
        self.threads: list[threading.Thread] = []

    def __call__(self, payload: dict[str, Any]) -> None:
        def run() -> None:
            try:
                self.worker(payload)
            except Exception:
                log_failure(logger, "slow turn worker failed")

        thread = threading.Thread(target=run, name="aiflow-worker", daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for every worker started so far (tests)."""
        for thread in self.threads:
            thread.join(timeout)
