"""The interface every call store implements.

A store keeps one JSON document per call (see :meth:`aiflow.Call.to_doc`) with a version for
optimistic concurrency: ``save`` succeeds only if the stored version is still the one that
was loaded, so two events of one call that race cannot overwrite each other's changes.
Expired records are treated as absent, even before the backend deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import AiflowError


class StoreError(AiflowError):
    """The store could not be reached or refused the request (outage, throttling)."""

    code = "store_unavailable"


class ConflictError(StoreError):
    """Another event of the same call saved first; reload and try again."""

    code = "store_conflict"


@dataclass(frozen=True)
class StoredCall:
    """A call document as loaded, with the version that a save must match."""

    doc: dict[str, Any]
    version: int


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
            StoreError: the backend failed.
        """
        ...
