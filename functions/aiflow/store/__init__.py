"""Per-call state storage: a small interface with DynamoDB and in-memory implementations."""

from .base import CallStore, ConflictError, StoredCall, StoreError
from .memory import MemoryStore

__all__ = ["CallStore", "ConflictError", "MemoryStore", "StoreError", "StoredCall"]
