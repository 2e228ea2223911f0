"""The Lambda handler of the asynchronous worker that finishes slow turns.

The webhook invokes it with ``InvocationType=Event`` and the payload of
:func:`aiflow.deadline.start_slow_turn`; it runs the assistant's handler without the turn
budget and stores the resulting actions for delivery on the next speech end::

    worker = worker_handler(assistant)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..assistant import Assistant
from ..deadline import run_slow_turn
from ..store.base import CallStore
from .http import default_store
from .observability import Observer
from .settings import Settings

WorkerHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def worker_handler(
    assistant: Assistant, *, store: CallStore | None = None, settings: Settings | None = None
) -> WorkerHandler:
    """Turn ``assistant`` into the worker Lambda handler for its slow turns."""
    settings = settings or Settings.from_env()
    call_store = store or default_store(settings)
    observer = Observer(assistant.name, redact_logs=settings.redact_logs)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        observer.start(context)
        observer.logger.set_correlation_id(str(event.get("session_id")))
        result = run_slow_turn(assistant, call_store, event)
        observer.logger.info("slow turn finished", extra={"result": result})
        return {"result": result}

    return handler
