"""AWS Lambda entry points: the HTTP webhook (API Gateway HTTP API, payload v2), the
slow-turn worker and the WebSocket transport (API Gateway WebSocket API).

One line turns an assistant into a Lambda handler::

    handler = lambda_handler(assistant)
    worker = worker_handler(assistant)   # finishes turns that outran the time budget
    websocket = websocket_handler(assistant)   # $connect, $default, $disconnect

Each entry point is imported only when asked for, so the HTTP function never loads the
WebSocket code, and the other way round.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..settings import Settings

if TYPE_CHECKING:
    from .http import lambda_handler
    from .websocket import websocket_handler
    from .worker import worker_handler

__all__ = ["Settings", "lambda_handler", "websocket_handler", "worker_handler"]

_ENTRY_POINTS = {
    "lambda_handler": ".http",
    "worker_handler": ".worker",
    "websocket_handler": ".websocket",
}


def __getattr__(name: str) -> Any:
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
