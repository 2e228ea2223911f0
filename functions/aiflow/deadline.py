"""The deadline guard: a turn that outruns its budget continues in an asynchronous worker.

When a handler has not finished within the turn budget, the webhook answers with a short
filler ("One moment, please …"), marks the call with a ``slow_turn`` and hands the event to
a worker (a second Lambda function invoked with ``InvocationType=Event``, or a thread in
the dev server). The worker runs the handler without the budget and writes its actions into
``call.pending``; the next ``assistant_speech_ended`` or ``user_input_timeout`` of the call
delivers them. If the answer is still not ready then, the caller hears another filler, up
to ``assistant.max_fillers``, then an apology. Everything lives in the call record, so any
Lambda instance can deliver the answer.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .assistant import Assistant, Reply
from .call import Call, merge_docs, now_ms
from .protocol.events import BaseEvent, parse_event
from .redact import log_failure
from .store.base import CallStore, ConflictError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

logger = logging.getLogger("aiflow.deadline")

Deferrer = Callable[[dict[str, Any]], None]
"""Starts the worker for a slow turn with the given JSON payload; must not block."""

# Nobody waits for an answer to these: no filler, no fallback speech, no slow turn.
NO_ANSWER_EXPECTED = frozenset({"session_end", "assistant_speak", "user_speech_started"})
_DELIVERY_EVENTS = frozenset({"assistant_speech_ended", "user_input_timeout"})


def start_slow_turn(assistant: Assistant, event: BaseEvent, call: Call) -> dict[str, Any]:
    """Mark ``call`` as waiting for the worker; return the worker payload."""
    turn_id = uuid.uuid4().hex
    call.slow_turn = {"id": turn_id, "event": event.type, "started_at": now_ms(), "fillers": 1}
    return {
        "session_id": call.session_id,
        "turn_id": turn_id,
        "is_new": call.is_new,
        "event": event.to_wire(),
    }


def filler(assistant: Assistant, index: int = 0) -> Reply:
    """The filler sentence for the ``index``-th wait (no user-input timeout on it)."""
    text = assistant.fillers[min(index, len(assistant.fillers) - 1)]
    return Reply(actions=[assistant.speech(text, wait_for_caller=False)])


def while_waiting(assistant: Assistant, event: BaseEvent, call: Call) -> Reply | None:
    """The reply to a speech end while the worker has not delivered yet, else None.

    Returns another filler, or after ``max_fillers`` an apology that gives up the turn (a
    late answer of the worker is then dropped).
    """
    turn = call.slow_turn
    if turn is None or event.type not in _DELIVERY_EVENTS or call.pending:
        return None
    if int(turn.get("fillers", 0)) >= assistant.max_fillers:
        call.slow_turn = None
        logger.warning("slow turn given up after %s fillers", turn.get("fillers"))
        return Reply(actions=[assistant.speech(assistant.slow_apology)])
    reply = filler(assistant, int(turn.get("fillers", 1)))
    call.slow_turn = {**turn, "fillers": int(turn.get("fillers", 0)) + 1}
    return reply


def run_slow_turn(
    assistant: Assistant, store: CallStore, payload: dict[str, Any], *, max_attempts: int = 8
) -> str:
    """The worker: run the handler for a slow turn and store its actions for delivery.

    Returns ``"delivered"``, or ``"abandoned"`` when the call no longer waits for this turn
    (it ended, or the caller was told to ask again).
    """
    session_id, turn_id = payload["session_id"], payload["turn_id"]
    event = parse_event(payload["event"])
    stored = store.load(session_id)
    if stored is None or (stored.doc.get("slow_turn") or {}).get("id") != turn_id:
        return "abandoned"
    call = Call.from_doc(stored.doc, version=stored.version, state_model=assistant.state_model)
    call.is_new = bool(payload.get("is_new"))
    call.slow_turn = None
    loaded = stored.doc
    reply = assistant.handle(event, call)  # no budget here: the worker exists for slow work
    call.pending = [*reply.actions, *call.pending]
    ours = call.to_doc()
    version = stored.version
    for _ in range(max_attempts):
        try:
            store.save(session_id, ours, version=version)
            logger.info("slow turn delivered", extra={"actions": [a.type for a in call.pending]})
            return "delivered"
        except ConflictError:
            # The webhook answered speech ends meanwhile (fillers); merge, don't rerun.
            fresh = store.load(session_id)
            if fresh is None or (fresh.doc.get("slow_turn") or {}).get("id") != turn_id:
                return "abandoned"
            ours, version = _merge(loaded, ours, fresh.doc), fresh.version
    raise ConflictError("the slow turn's result could not be saved")


def _merge(loaded: dict[str, Any], ours: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    merged = merge_docs(loaded, ours, fresh)  # our slow_turn=None wins: we changed it
    # The worker's answer goes first: it answers the turn the caller is waiting on.
    added = [p for p in ours["pending"] if p not in loaded.get("pending", [])]
    merged["pending"] = [*added, *[p for p in merged["pending"] if p not in added]]
    return merged


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


class LambdaDeferrer:
    """Invokes the worker Lambda function asynchronously (``InvocationType=Event``)."""

    def __init__(self, function_name: str, *, client: LambdaClient | None = None) -> None:
        self.function_name = function_name
        self._client = client

    @property
    def client(self) -> LambdaClient:
        """The boto3 Lambda client (created on first use)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("lambda")
        return self._client

    def __call__(self, payload: dict[str, Any]) -> None:
        self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )
