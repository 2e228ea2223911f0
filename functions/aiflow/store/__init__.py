"""Storage of call records, once-only side effects and WebSocket connection records: the
interfaces (:mod:`.base`) and two backends, in memory and DynamoDB, each imported on demand
(a Lambda function with a table never loads the memory backend)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    CallStore,
    ConflictError,
    Connections,
    RecordTooLarge,
    StoredCall,
    StoreError,
    WriteUnknown,
)

if TYPE_CHECKING:
    from .memory import MemoryConnections, MemoryStore

__all__ = [
    "CallStore",
    "ConflictError",
    "Connections",
    "MemoryConnections",
    "MemoryStore",
    "RecordTooLarge",
    "StoreError",
    "StoredCall",
    "WriteUnknown",
]


def __getattr__(name: str) -> Any:
    if name not in ("MemoryConnections", "MemoryStore"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import memory

    value = getattr(memory, name)
    globals()[name] = value
    return value
