"""Which WebSocket connection belongs to which call, and whether the caller started talking.

One small record per connection, next to the call records in the same DynamoDB table (the
partition key ``session_id`` holds ``conn#<connection id>``, which no platform session id
can look like)::

    session_id      S  "conn#<connection id>"
    call            S  the session id of the call on this connection (set on session_start)
    interrupted_at  N  ms of the last user_speech_started (API Gateway's requestTimeEpoch)
    expires_at      N  Unix seconds, DynamoDB TTL (a call never outlives it)

The record is written with ``UpdateItem`` only, so it never races with the versioned call
record; a streaming answer reads ``interrupted_at`` between sentences and stops when the
caller started talking after the event it answers arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..store.base import StoreError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "conn#"
DEFAULT_TTL_SECONDS = 24 * 3600


class Connections(Protocol):
    """The per-connection records. Implementations must be safe to share across threads."""

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


@dataclass
class _Record:
    call: str | None = None
    interrupted_at: int = 0


class MemoryConnections:
    """Connection records in this process (dev server, tests)."""

    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def bind(self, connection_id: str, session_id: str) -> None:
        """See :meth:`Connections.bind`."""
        with self._lock:
            self._records.setdefault(connection_id, _Record()).call = session_id

    def interrupt(self, connection_id: str, at_ms: int) -> None:
        """See :meth:`Connections.interrupt`."""
        with self._lock:
            record = self._records.setdefault(connection_id, _Record())
            record.interrupted_at = max(record.interrupted_at, at_ms)

    def interrupted_since(self, connection_id: str, since_ms: int) -> bool:
        """See :meth:`Connections.interrupted_since`."""
        with self._lock:
            record = self._records.get(connection_id)
            return record is not None and record.interrupted_at > since_ms

    def forget(self, connection_id: str) -> str | None:
        """See :meth:`Connections.forget`."""
        with self._lock:
            record = self._records.pop(connection_id, None)
            return record.call if record else None

    def call_of(self, connection_id: str) -> str | None:
        """The call on ``connection_id`` (for tests and the dev server's log)."""
        with self._lock:
            record = self._records.get(connection_id)
            return record.call if record else None


class DynamoDBConnections:
    """Connection records in the call table (see the module docstring for the layout).

    Args:
        table_name: the call table (``AIFLOW_TABLE_NAME``).
        client: a ``boto3.client("dynamodb")``, e.g. the call store's; created lazily.
        ttl_seconds: how long a record lives (like a call record).
        clock: Unix seconds.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client (created on first use)."""
        if self._client is None:
            from ..store.dynamodb import dynamodb_client

            self._client = dynamodb_client()
        return self._client

    def bind(self, connection_id: str, session_id: str) -> None:
        """See :meth:`Connections.bind`."""
        self._update(
            connection_id, "#call = :call", {":call": {"S": session_id}}, {"#call": "call"}
        )

    def interrupt(self, connection_id: str, at_ms: int) -> None:
        """See :meth:`Connections.interrupt`."""
        self._update(
            connection_id, "#at = :at", {":at": {"N": str(int(at_ms))}}, {"#at": "interrupted_at"}
        )

    def interrupted_since(self, connection_id: str, since_ms: int) -> bool:
        """See :meth:`Connections.interrupted_since` (one strongly consistent ``GetItem``)."""
        try:
            found = self.client.get_item(
                TableName=self.table_name,
                Key=self._key(connection_id),
                ConsistentRead=True,
                ProjectionExpression="interrupted_at",
            )
        except Exception as exc:
            raise StoreError(f"DynamoDB GetItem failed: {type(exc).__name__}") from exc
        value = found.get("Item", {}).get("interrupted_at", {}).get("N")
        return value is not None and int(value) > since_ms

    def forget(self, connection_id: str) -> str | None:
        """See :meth:`Connections.forget` (one ``DeleteItem``)."""
        try:
            deleted = self.client.delete_item(
                TableName=self.table_name, Key=self._key(connection_id), ReturnValues="ALL_OLD"
            )
        except Exception as exc:
            raise StoreError(f"DynamoDB DeleteItem failed: {type(exc).__name__}") from exc
        call = deleted.get("Attributes", {}).get("call", {}).get("S")
        return call if isinstance(call, str) else None

    def _key(self, connection_id: str) -> dict[str, Any]:
        return {"session_id": {"S": KEY_PREFIX + connection_id}}

    def _update(
        self,
        connection_id: str,
        assignment: str,
        values: dict[str, Any],
        names: dict[str, str],
    ) -> None:
        expires = str(int(self.clock()) + self.ttl_seconds)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(connection_id),
                UpdateExpression=f"SET {assignment}, expires_at = :exp",
                ExpressionAttributeValues={**values, ":exp": {"N": expires}},
                ExpressionAttributeNames=names,
            )
        except Exception as exc:
            raise StoreError(f"DynamoDB UpdateItem failed: {type(exc).__name__}") from exc
