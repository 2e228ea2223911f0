"""The interfaces every storage backend implements, and their errors.

A backend keeps, per call, one JSON document (see :meth:`aiflow.Call.to_doc`) with a version
for optimistic concurrency: ``save`` succeeds only if the stored version is still the one
that was loaded, so two events of one call that race cannot overwrite each other's changes.
Expired records are treated as absent, even before the backend deletes them.

Next to the call records a backend keeps the claims of once-only side effects
(:class:`aiflow.effects.OnceJournal`) and the WebSocket connection records
(:class:`Connections`). A new backend (Redis, SQL) is one module implementing these.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..errors import AiflowError
from ..plain import Plain

DEFAULT_TTL_SECONDS = 24 * 3600
# DynamoDB refuses items over 400 KB; a record this large is a bug, not a conversation.
DEFAULT_MAX_RECORD_BYTES = 350_000


class StoreError(AiflowError):
    """The store could not be reached or refused the request (outage, throttling)."""

    code = "store_unavailable"


class ConflictError(StoreError):
    """Another event of the same call saved first; reload and try again."""

    code = "store_conflict"


class WriteUnknown(StoreError):
    """A save was sent but its answer never came: it may or may not have been applied."""

    code = "store_write_unknown"


class RecordTooLarge(StoreError):
    """The call record is larger than the store accepts; the message says what grew."""

    code = "record_too_large"


class StoredCall(Plain):
    """A call document as loaded, with the version that a save must match."""

    __slots__ = ("doc", "version")

    def __init__(self, doc: dict[str, Any], version: int) -> None:
        self.doc = doc
        self.version = version


class CallStore(Protocol):
    """Load and save call documents. Implementations must be safe to share across threads."""

    def load(self, session_id: str) -> StoredCall | None:
        """The current record of the call, or None if there is none (or it expired).

        Raises:
            StoreError: the backend failed.
        """
        ...

    def save(self, session_id: str, doc: dict[str, Any], *, version: int) -> int:
        """Store ``doc`` if the record is still at ``version`` (0: must not exist).

        Returns:
            The new version.

        Raises:
            ConflictError: the record changed since it was loaded.
            WriteUnknown: the request was sent, but whether it was applied is unknown.
            RecordTooLarge: the document is over the store's size limit.
            StoreError: the backend failed (nothing was written).
        """
        ...


@runtime_checkable
class Connections(Protocol):
    """Which WebSocket connection carries which call, and whether the caller started talking.

    Implementations must be safe to share across threads.
    """

    def bind(self, connection_id: str, session_id: str) -> None:
        """Remember that ``connection_id`` carries the call ``session_id``."""
        ...

    def interrupt(self, connection_id: str, at_ms: int) -> None:
        """The caller started talking at ``at_ms``: answers still streaming should stop."""
        ...

    def interrupted_since(self, connection_id: str, since_ms: int) -> bool:
        """Whether the caller started talking after ``since_ms``."""
        ...

    def forget(self, connection_id: str) -> str | None:
        """Drop the record (the connection closed); returns the call it carried, if known."""
        ...


@runtime_checkable
class HasConnections(Protocol):
    """A call store that also keeps WebSocket connection records."""

    def connections(self) -> Connections:
        """The connection records of this backend (same table, same lifetime)."""
        ...
