"""The DynamoDB call store: one item per call, optimistic locking, TTL.

Item layout (the table is defined in ``template.yaml``)::

    session_id  S  partition key
    version     N  incremented by every save; the condition of the next save
    expires_at  N  Unix seconds; DynamoDB TTL deletes the item some time after this
    status      S  active | transferring | ended (readable in the console)
    doc         S  the call document as JSON

One ``GetItem`` (strongly consistent) and at most one conditional ``PutItem`` per event.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import ConflictError, StoredCall, StoreError
from .memory import DEFAULT_TTL_SECONDS

# DynamoDB answers in milliseconds; these bound a broken network, not a slow table.
CONNECT_TIMEOUT_S = 0.3
READ_TIMEOUT_S = 0.6
RETRY_PAUSE_S = 0.05
_THROTTLED = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    }
)
_SERVER_ERRORS = frozenset({"InternalServerError", "ServiceUnavailable"})
_CONNECTION_ERRORS = frozenset(
    {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDBStore:
    """Call records in a DynamoDB table through the low-level boto3 client.

    Args:
        table_name: the table (``AIFLOW_TABLE_NAME`` in Lambda).
        client: a ``boto3.client("dynamodb")``; created lazily when omitted.
        ttl_seconds: a call record expires this long after its last save.
        clock: returns Unix seconds.
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

    @classmethod
    def from_env(cls, client: DynamoDBClient | None = None) -> DynamoDBStore:
        """A store for ``AIFLOW_TABLE_NAME`` with ``AIFLOW_CALL_TTL_SECONDS``."""
        table = os.environ.get("AIFLOW_TABLE_NAME")
        if not table:
            raise StoreError("AIFLOW_TABLE_NAME is not set", code="store_not_configured")
        ttl = int(os.environ.get("AIFLOW_CALL_TTL_SECONDS", DEFAULT_TTL_SECONDS))
        return cls(table, client=client, ttl_seconds=ttl)

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client (created on first use, then reused across invocations).

        Its timeouts are short and botocore's own retries are off: botocore's defaults
        (60 s timeouts, up to 1+2+4 s of backoff) would outlive the caller's patience and the
        Lambda timeout. The store retries once itself, quickly, where that is safe.
        """
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    def load(self, session_id: str) -> StoredCall | None:
        """See :meth:`aiflow.store.CallStore.load`."""
        for attempt in (1, 2):
            try:
                found = self.client.get_item(
                    TableName=self.table_name,
                    Key={"session_id": {"S": session_id}},
                    ConsistentRead=True,
                    ProjectionExpression="version, expires_at, doc",
                )
                break
            except Exception as exc:
                # A read can always be repeated: once, after a short pause.
                if attempt == 2 or not _retryable(exc, write=False):
                    raise _store_error("GetItem", exc) from exc
                time.sleep(RETRY_PAUSE_S)
        item = found.get("Item")
        if not item or int(item["expires_at"]["N"]) <= self.clock():
            return None  # TTL deletion lags by up to days: an expired item is no call
        return StoredCall(json.loads(item["doc"]["S"]), int(item["version"]["N"]))

    def save(self, session_id: str, doc: dict[str, Any], *, version: int) -> int:
        """See :meth:`aiflow.store.CallStore.save`."""
        now = int(self.clock())
        item = {
            "session_id": {"S": session_id},
            "version": {"N": str(version + 1)},
            "expires_at": {"N": str(now + self.ttl_seconds)},
            "status": {"S": str(doc.get("status", "active"))},
            "doc": {"S": json.dumps(doc, ensure_ascii=False, separators=(",", ":"))},
        }
        if version == 0:
            condition = "attribute_not_exists(session_id) OR expires_at <= :now"
            values = {":now": {"N": str(now)}}
        else:
            condition = "version = :v AND expires_at > :now"
            values = {":v": {"N": str(version)}, ":now": {"N": str(now)}}
        for attempt in (1, 2):
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
                break
            except Exception as exc:
                if _error_code(exc) == "ConditionalCheckFailedException":
                    raise ConflictError(f"call record changed since version {version}") from None
                if attempt == 2 or not _retryable(exc, write=True):
                    raise _store_error("PutItem", exc) from exc
                time.sleep(RETRY_PAUSE_S)
        return version + 1


def dynamodb_client() -> DynamoDBClient:
    """A DynamoDB client with short timeouts and no hidden botocore backoff (see
    :attr:`DynamoDBStore.client`); everything in aiflow that talks to DynamoDB uses it."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": 1},
        tcp_keepalive=True,
    )
    return boto3.client("dynamodb", config=config)


def _retryable(exc: Exception, *, write: bool) -> bool:
    code = _error_code(exc)
    if code in _THROTTLED:
        return True  # refused before it was applied: safe to repeat, even a write
    if write:
        return False  # a timed-out write may have been applied; repeating could apply it twice
    return code in _SERVER_ERRORS or type(exc).__name__ in _CONNECTION_ERRORS


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _store_error(operation: str, exc: Exception) -> StoreError:
    code = _error_code(exc) or type(exc).__name__
    throttled = "Throttl" in code or code == "ProvisionedThroughputExceededException"
    return StoreError(
        f"DynamoDB {operation} failed: {code}",
        code="store_throttled" if throttled else "store_unavailable",
    )
