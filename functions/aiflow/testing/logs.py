"""Quiet framework logs while a simulated call runs in process.

The Lambda handler wires Powertools' JSON logger to stdout, as CloudWatch wants it; in a test
that is about twenty JSON lines per call in a failing test's "Captured stdout". While
:func:`quiet_logs` is active the framework's warnings and errors go to the root logger
instead, where pytest's log capture shows them as plain lines ("Captured log"); the
per-request info lines and EMF metrics are left out. Outside pytest, warnings reach stderr
(Python's last-resort handler).

Nested and concurrent uses (threads of one test) share one quieting: the first entry sets it
up, the last exit restores every logger as it was.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_METRICS_DISABLED = "POWERTOOLS_METRICS_DISABLED"
_lock = threading.Lock()
_depth = 0
_saved_loggers: list[tuple[logging.Logger, list[logging.Handler], bool, int]] = []
_saved_env: list[str | None] = []


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Route the framework's and Powertools' warnings to the root logger; no info lines, no
    EMF output."""
    _enter()
    try:
        yield
    finally:
        _exit()


def _enter() -> None:
    global _depth
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        for logger in _json_loggers():
            _saved_loggers.append((logger, list(logger.handlers), logger.propagate, logger.level))
            logger.handlers = []
            logger.propagate = True
            logger.setLevel(max(logger.level, logging.WARNING))
        _saved_env.append(os.environ.get(_METRICS_DISABLED))
        os.environ[_METRICS_DISABLED] = "true"


def _exit() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth > 0:
            return
        for logger, handlers, propagate, level in _saved_loggers:
            logger.handlers = handlers
            logger.propagate = propagate
            logger.setLevel(level)
        _saved_loggers.clear()
        previous = _saved_env.pop() if _saved_env else None
        if previous is None:
            os.environ.pop(_METRICS_DISABLED, None)
        else:
            os.environ[_METRICS_DISABLED] = previous
        _clear_metrics()


def _json_loggers() -> list[logging.Logger]:
    """The ``aiflow`` logger and every logger with a Powertools handler (one per service)."""
    found = [logging.getLogger("aiflow")]
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or name == "aiflow":
            continue
        if any(_is_powertools(handler) for handler in logger.handlers):
            found.append(logger)
    return found


def _is_powertools(handler: logging.Handler) -> bool:
    formatter = handler.formatter
    return formatter is not None and type(formatter).__module__.startswith("aws_lambda_powertools")


def _clear_metrics() -> None:
    """With metrics disabled a flush keeps Powertools' process-wide metric set: clear it."""
    try:
        from aws_lambda_powertools import Metrics
    except ImportError:  # pragma: no cover - the framework depends on Powertools
        return
    Metrics().clear_metrics()
