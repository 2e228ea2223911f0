"""Storage of call records, once-only side effects and WebSocket connection records: the
interfaces (:mod:`.base`) and two backends, in memory and DynamoDB (imported on demand)."""

from .base import (
    CallStore,
    ConflictError,
    Connections,
    RecordTooLarge,
    StoredCall,
    StoreError,
    WriteUnknown,
)
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
