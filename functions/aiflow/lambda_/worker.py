"""The Lambda handler of the asynchronous worker that finishes slow turns.

The webhook starts it with ``InvocationType=Event`` and the payload of
:func:`aiflow.deadline.start_slow_turn`; it runs the turn engine's
:meth:`~aiflow.turns.TurnEngine.finish_slow_turn`, which runs the assistant's handler without
the turn budget and holds the answer for delivery on the next speech end::

    worker = worker_handler(assistant)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..assistant import Assistant
from ..routing import Router
from ..settings import Settings
from ..store.base import CallStore
from .observability import Observer
from .wiring import build_engine

WorkerHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def worker_handler(
    assistant: Assistant | Router,
    *,
    store: CallStore | None = None,
    settings: Settings | None = None,
) -> WorkerHandler:
    """Turn ``assistant`` into the worker Lambda handler for its slow turns."""
    settings = settings or Settings.from_env()
    engine = build_engine(assistant, settings, store=store)
    observer = Observer(assistant.name, settings)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        observer.start(context)
        observer.logger.set_correlation_id(str(event.get("session_id")))
        report = engine.finish_slow_turn(event)
        result = "abandoned" if report.abandoned else ("failed" if report.reason else "delivered")
        observer.logger.info("slow turn finished", extra={"result": result})
        return {"result": result}

    handler.engine = engine  # type: ignore[attr-defined]  # for tests and the dev server
    return handler
