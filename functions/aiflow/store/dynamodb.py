"""DynamoDB storage: call records with optimistic locking and TTL, once-only side-effect
claims and WebSocket connection records, all in the one call table of ``template.yaml``.

Item layouts (partition key ``session_id``; TTL attribute ``expires_at``, Unix seconds)::

    <session id>          a call: version N (the condition of the next save), status S,
                          and the call document as JSON: doc S, or compressed docz B once
                          it has COMPRESS_FROM bytes (zlib with a preset dictionary, see
                          aiflow.store.compression: a write costs one unit per started KB of
                          the whole item, so compression keeps a long call's events cheap)
    once#<session>#<key>  a claimed side effect: owner S, done BOOL, result S (JSON)
    conn#<connection id>  a WebSocket connection: call S, interrupted_at N (ms)

One strongly consistent ``GetItem`` and at most one conditional ``PutItem`` per event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..awsclients import error_code
from ..effects import OnceRecord
from .base import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_TTL_SECONDS,
    ConflictError,
    RecordTooLarge,
    StoredCall,
    StoreError,
    WriteUnknown,
)
from .compression import COMPRESS_FROM, compress, decompress

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DynamoDB answers in milliseconds; these bound a broken network, not a slow table. The turn
# engine also stops waiting at its answer deadline, whatever these say.
CONNECT_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 2.0
RETRY_PAUSE_S = 0.05
CONNECTION_PREFIX = "conn#"
ONCE_PREFIX = "once#"
_THROTTLED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)
_SERVER_ERRORS = frozenset({"InternalServerError", "ServiceUnavailable"})
# The request may have reached DynamoDB: a write's outcome is unknown.
_AFTER_SENDING = frozenset({"ReadTimeoutError", "ConnectionClosedError"})
_BEFORE_SENDING = frozenset({"EndpointConnectionError", "ConnectTimeoutError"})


class DynamoDBStore:
    """Call records in a DynamoDB table through the low-level boto3 client.

    Args:
        table_name: the table (``AIFLOW_TABLE_NAME`` in Lambda).
        client: a DynamoDB client; default :func:`dynamodb_client`, created on first use.
        ttl_seconds: a call record expires this long after its last save.
        clock: returns Unix seconds.
        max_record_bytes: larger items are refused before they are sent.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.max_record_bytes = max_record_bytes
        self._client = client
        self._connections: DynamoDBConnections | None = None

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client (created on first use, then reused across invocations)."""
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    # --- call records ---------------------------------------------------------------------

    def load(self, session_id: str) -> StoredCall | None:
        """See :meth:`aiflow.store.CallStore.load`."""
        found = self._read(
            "GetItem",
            lambda: self.client.get_item(
                TableName=self.table_name,
                Key={"session_id": {"S": session_id}},
                ConsistentRead=True,
                ProjectionExpression="version, expires_at, doc, docz",
            ),
        )
        item = found.get("Item")
        if not item or int(item["expires_at"]["N"]) <= self.clock():
            return None  # TTL deletion lags by up to days: an expired item is no call
        return StoredCall(item_doc(item), int(item["version"]["N"]))

    def save(self, session_id: str, doc: dict[str, Any], *, version: int) -> int:
        """See :meth:`aiflow.store.CallStore.save`."""
        now = int(self.clock())
        encoded = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        item: dict[str, Any] = {
            "session_id": {"S": session_id},
            "version": {"N": str(version + 1)},
            "expires_at": {"N": str(now + self.ttl_seconds)},
            "status": {"S": str(doc.get("status", "active"))},
        }
        if len(encoded) >= COMPRESS_FROM:
            item["docz"] = {"B": compress(encoded)}
            stored = len(item["docz"]["B"])
        else:
            item["doc"] = {"S": encoded.decode("utf-8")}
            stored = len(encoded)
        if stored + 200 > self.max_record_bytes:
            raise RecordTooLarge(
                f"the call record has {stored} bytes stored ({len(encoded)} as JSON); the "
                f"limit is {self.max_record_bytes}"
            )
        if version == 0:
            condition = "attribute_not_exists(session_id) OR expires_at <= :now"
            values = {":now": {"N": str(now)}}
        else:
            condition = "version = :v AND expires_at > :now"
            values = {":v": {"N": str(version)}, ":now": {"N": str(now)}}
        try:
            self._write(
                "PutItem",
                lambda: self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                ),
            )
        except _Conditional:
            raise ConflictError(f"call record changed since version {version}") from None
        return version + 1

    # --- once-only side effects (aiflow.effects.OnceJournal) ---------------------------

    def once_get(self, session_id: str, key: str) -> OnceRecord | None:
        """See :meth:`aiflow.effects.OnceJournal.once_get`."""
        found = self._read(
            "GetItem",
            lambda: self.client.get_item(
                TableName=self.table_name, Key=self._once_key(session_id, key), ConsistentRead=True
            ),
        )
        item = found.get("Item")
        if not item:
            return None
        done = bool(item.get("done", {}).get("BOOL", False))
        result = json.loads(item["result"]["S"]) if done and "result" in item else None
        return OnceRecord(owner=item.get("owner", {}).get("S", ""), done=done, result=result)

    def once_claim(self, session_id: str, key: str, owner: str) -> bool:
        """See :meth:`aiflow.effects.OnceJournal.once_claim` (a conditional ``PutItem``)."""
        item = {
            **self._once_key(session_id, key),
            "owner": {"S": owner},
            "done": {"BOOL": False},
            "expires_at": {"N": str(int(self.clock()) + self.ttl_seconds)},
        }
        try:
            self._write(
                "PutItem",
                lambda: self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(session_id)",
                ),
            )
        except _Conditional:
            return False
        return True

    def once_complete(self, session_id: str, key: str, owner: str, result: Any) -> None:
        """See :meth:`aiflow.effects.OnceJournal.once_complete`."""
        item = {
            **self._once_key(session_id, key),
            "owner": {"S": owner},
            "done": {"BOOL": True},
            "result": {"S": json.dumps(result, ensure_ascii=False)},
            "expires_at": {"N": str(int(self.clock()) + self.ttl_seconds)},
        }
        self._write("PutItem", lambda: self.client.put_item(TableName=self.table_name, Item=item))

    def once_abandon(self, session_id: str, key: str, owner: str) -> None:
        """See :meth:`aiflow.effects.OnceJournal.once_abandon`."""
        try:
            self._write(
                "DeleteItem",
                lambda: self.client.delete_item(
                    TableName=self.table_name,
                    Key=self._once_key(session_id, key),
                    ConditionExpression="#o = :o AND done = :f",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":o": {"S": owner}, ":f": {"BOOL": False}},
                ),
            )
        except _Conditional:
            pass  # someone else's claim, or done: leave it

    # --- WebSocket connection records ---------------------------------------------------

    def connections(self) -> DynamoDBConnections:
        """The connection records in the same table (same client, same TTL)."""
        if self._connections is None:
            self._connections = DynamoDBConnections(self)
        return self._connections

    # --- requests -------------------------------------------------------------------------

    def _read(self, operation: str, request: Callable[[], Any]) -> Any:
        for attempt in (1, 2):
            try:
                return request()
            except Exception as exc:
                # A read can always be repeated: once, after a short pause.
                if attempt == 2 or not _retryable(exc, write=False):
                    raise _store_error(operation, exc) from exc
                time.sleep(RETRY_PAUSE_S)
        raise AssertionError("unreachable")

    def _write(self, operation: str, request: Callable[[], Any]) -> Any:
        for attempt in (1, 2):
            try:
                return request()
            except Exception as exc:
                code = error_code(exc)
                if code == "ConditionalCheckFailedException":
                    raise _Conditional() from None
                if code == "ValidationException" and "size" in str(exc).lower():
                    raise RecordTooLarge(f"DynamoDB {operation} refused the item size") from None
                if type(exc).__name__ in _AFTER_SENDING:
                    raise WriteUnknown(
                        f"DynamoDB {operation} sent, no answer: {type(exc).__name__}"
                    ) from exc
                if attempt == 2 or not _retryable(exc, write=True):
                    raise _store_error(operation, exc) from exc
                time.sleep(RETRY_PAUSE_S)
        raise AssertionError("unreachable")

    @staticmethod
    def _once_key(session_id: str, key: str) -> dict[str, Any]:
        return {"session_id": {"S": f"{ONCE_PREFIX}{session_id}#{key}"}}


class DynamoDBConnections:
    """WebSocket connection records in the call table (see the module docstring).

    Written with ``UpdateItem`` only, so they never race with the versioned call record; a
    streaming answer reads ``interrupted_at`` between sentences and stops when the caller
    started talking after the event it answers arrived.
    """

    def __init__(self, store: DynamoDBStore) -> None:
        self.store = store

    def bind(self, connection_id: str, session_id: str) -> None:
        """See :meth:`aiflow.store.Connections.bind`."""
        self._update(
            connection_id, "#call = :call", {":call": {"S": session_id}}, {"#call": "call"}
        )

    def interrupt(self, connection_id: str, at_ms: int) -> None:
        """See :meth:`aiflow.store.Connections.interrupt`."""
        self._update(
            connection_id, "#at = :at", {":at": {"N": str(int(at_ms))}}, {"#at": "interrupted_at"}
        )

    def interrupted_since(self, connection_id: str, since_ms: int) -> bool:
        """See :meth:`aiflow.store.Connections.interrupted_since` (one consistent read)."""
        store = self.store
        found = store._read(
            "GetItem",
            lambda: store.client.get_item(
                TableName=store.table_name,
                Key=self._key(connection_id),
                ConsistentRead=True,
                ProjectionExpression="interrupted_at",
            ),
        )
        value = found.get("Item", {}).get("interrupted_at", {}).get("N")
        return value is not None and int(value) > since_ms

    def forget(self, connection_id: str) -> str | None:
        """See :meth:`aiflow.store.Connections.forget` (one ``DeleteItem``)."""
        store = self.store
        deleted = store._write(
            "DeleteItem",
            lambda: store.client.delete_item(
                TableName=store.table_name, Key=self._key(connection_id), ReturnValues="ALL_OLD"
            ),
        )
        call = deleted.get("Attributes", {}).get("call", {}).get("S")
        return call if isinstance(call, str) else None

    def _key(self, connection_id: str) -> dict[str, Any]:
        return {"session_id": {"S": CONNECTION_PREFIX + connection_id}}

    def _update(
        self, connection_id: str, assignment: str, values: dict[str, Any], names: dict[str, str]
    ) -> None:
        store = self.store
        expires = str(int(store.clock()) + store.ttl_seconds)
        store._write(
            "UpdateItem",
            lambda: store.client.update_item(
                TableName=store.table_name,
                Key=self._key(connection_id),
                UpdateExpression=f"SET {assignment}, expires_at = :exp",
                ExpressionAttributeValues={**values, ":exp": {"N": expires}},
                ExpressionAttributeNames=names,
            ),
        )


def item_doc(item: dict[str, Any]) -> dict[str, Any]:
    """The call document of a call item (compressed or not), e.g. read by tools and tests."""
    if "docz" in item:
        raw = decompress(bytes(item["docz"]["B"])).decode("utf-8")
    else:
        raw = item["doc"]["S"]
    doc: dict[str, Any] = json.loads(raw)
    return doc


def dynamodb_client(
    *, connect_timeout: float = CONNECT_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S
) -> DynamoDBClient:
    """A DynamoDB client with short timeouts and no hidden botocore backoff: botocore's
    defaults (60 s timeouts, up to 1+2+4 s of backoff) would outlive the caller's patience.
    The store retries once itself, quickly, where that is safe."""
    from botocore.config import Config

    from .. import awsclients

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        tcp_keepalive=True,
    )
    made: DynamoDBClient = awsclients.client("dynamodb", config=config)
    return made


class _Conditional(Exception):
    """A condition of the request failed (internal)."""


def _retryable(exc: Exception, *, write: bool) -> bool:
    code = error_code(exc)
    if code in _THROTTLED:
        return True  # refused before it was applied: safe to repeat, even a write
    if type(exc).__name__ in _BEFORE_SENDING:
        return True  # never reached DynamoDB: safe to repeat, even a write
    if write:
        return False  # a failed write may have been applied; the engine settles it
    return code in _SERVER_ERRORS or type(exc).__name__ in _AFTER_SENDING


def _store_error(operation: str, exc: Exception) -> StoreError:
    code = error_code(exc)
    throttled = code in _THROTTLED
    return StoreError(
        f"DynamoDB {operation} failed: {code}",
        code="store_throttled" if throttled else "store_unavailable",
    )
