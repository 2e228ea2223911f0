"""Where finished call records are kept: a DynamoDB table of their own (or memory, in tests).

Item layout of the records table (``CallRecordsTable`` in ``template.yaml``)::

    day         S  partition key: the UTC day the call started, "2026-12-01"
    call        S  sort key: start time and call, "2026-12-01T10:15:02.123Z#<session id>"
    session_id  S  key of the global secondary index SessionIndex (keys only)
    started_at, ended_at, duration_ms, turns   N
    direction, caller (masked unless the policy says), called, assistant, outcome   S
    expires_at  N  TTL (Unix s): the end of the call plus the retention period
    recordz     B  the whole record (aiflow.records.document), zlib-compressed JSON

Listing by time is a ``Query`` per day, newest first, reading only the summary attributes;
finding one call is a ``Query`` of ``SessionIndex`` and a ``GetItem``. Nothing scans. A call
writes one ``PutItem`` here (its ``session_end``); the index entry (keys only) is a second,
small write DynamoDB makes by itself.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ..awsclients import error_code
from ..errors import AiflowError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SESSION_INDEX = "SessionIndex"
DEFAULT_LIST_DAYS = 31
_SUMMARY = (
    "session_id",
    "started_at",
    "ended_at",
    "duration_ms",
    "direction",
    "caller",
    "called",
    "assistant",
    "outcome",
    "turns",
    "expires_at",
)
_NUMBERS = frozenset({"started_at", "ended_at", "duration_ms", "turns", "expires_at"})
_THROTTLED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)
_NOT_SENT = frozenset({"EndpointConnectionError", "ConnectTimeoutError"})


class RecordStoreError(AiflowError):
    """The record store failed or refused a request."""

    code = "record_store_failed"


@dataclass(frozen=True)
class RecordSummary:
    """One call in a list of records (the record itself: :meth:`RecordStore.get`)."""

    session_id: str
    started_at: int
    ended_at: int | None
    duration_ms: int | None
    direction: str | None
    caller: str | None
    called: str | None
    assistant: str | None
    outcome: str
    turns: int
    expires_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class RecordStore(Protocol):
    """Finished call records: written once per call, listed by time, read and deleted by id."""

    def put(self, record: dict[str, Any], *, retention_days: int) -> None:
        """Keep ``record`` (a finished record document) for ``retention_days``."""
        ...

    def list(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[RecordSummary]:
        """The calls that started between ``since`` (default: 31 days ago) and ``until``
        (default: now), newest first, at most ``limit``."""
        ...

    def get(self, session_id: str) -> dict[str, Any] | None:
        """The record of one call, or None."""
        ...

    def delete(self, session_id: str) -> bool:
        """Delete the record of one call; False if there was none."""
        ...


def summary_of(record: dict[str, Any]) -> RecordSummary:
    """The list row of a record document."""
    started = int(record.get("started_at") or 0)
    ended = record.get("ended_at")
    return RecordSummary(
        session_id=str(record.get("session_id", "")),
        started_at=started,
        ended_at=int(ended) if ended is not None else None,
        duration_ms=int(ended) - started if ended is not None else None,
        direction=record.get("direction"),
        caller=record.get("caller"),
        called=record.get("called"),
        assistant=record.get("assistant"),
        outcome=outcome_text(record),
        turns=len(record.get("turns") or []) + int((record.get("cut") or {}).get("turns", 0)),
    )


def outcome_text(record: dict[str, Any]) -> str:
    """How the call ended, in a few words: "transferred to +4930...", "caller hung up"."""
    outcome = record.get("outcome") or {}
    ended_by = outcome.get("ended_by")
    if ended_by is None:
        text = "not ended"
    elif ended_by == "transfer":
        text = f"transferred to {outcome.get('transferred_to')}"
    elif ended_by == "assistant":
        text = "assistant hung up"
    elif ended_by == "outage":
        text = "ended for a store outage"
    else:
        text = f"{ended_by} hung up"
    notes = []
    failed = outcome.get("transfers_failed") or []
    if failed:
        notes.append(f"transfer to {', '.join(failed)} failed")
    if outcome.get("fallbacks"):
        notes.append(_count(outcome["fallbacks"], "fallback"))
    if outcome.get("store_failures"):
        notes.append(_count(outcome["store_failures"], "store failure"))
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def day_of(ms: int) -> str:
    """The UTC day (``2026-12-01``) of a Unix time in ms: a record's partition."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def sort_key(ms: int, session_id: str) -> str:
    """``2026-12-01T10:15:02.123Z#<session id>``: sorts by start time."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{stamp}Z#{session_id}"


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or datetime.now(UTC)
    start = since or end - timedelta(days=DEFAULT_LIST_DAYS)
    return start.astimezone(UTC), end.astimezone(UTC)


def _days(start: datetime, end: datetime) -> Iterator[date]:
    day = end.date()
    while day >= start.date():
        yield day
        day -= timedelta(days=1)


# --- memory -------------------------------------------------------------------------------


class MemoryRecordStore:
    """Records in this process (tests, in-process simulators). Expired ones are absent."""

    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self._records: dict[str, tuple[dict[str, Any], int]] = {}
        self._lock = threading.Lock()

    def put(self, record: dict[str, Any], *, retention_days: int) -> None:
        """See :meth:`RecordStore.put`."""
        expires = _expires_at(record, retention_days)
        with self._lock:
            self._records[str(record["session_id"])] = (json.loads(json.dumps(record)), expires)

    def list(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[RecordSummary]:
        """See :meth:`RecordStore.list`."""
        start, end = _window(since, until)
        low, high = start.timestamp() * 1000, end.timestamp() * 1000
        with self._lock:
            live = [
                (record, expires)
                for record, expires in self._records.values()
                if expires > self.clock()
            ]
        rows = [
            _with_expiry(summary_of(record), expires)
            for record, expires in live
            if low <= int(record.get("started_at") or 0) <= high
        ]
        rows.sort(key=lambda row: row.started_at, reverse=True)
        return rows[:limit]

    def get(self, session_id: str) -> dict[str, Any] | None:
        """See :meth:`RecordStore.get`."""
        with self._lock:
            found = self._records.get(session_id)
        if found is None or found[1] <= self.clock():
            return None
        return json.loads(json.dumps(found[0]))  # type: ignore[no-any-return]

    def delete(self, session_id: str) -> bool:
        """See :meth:`RecordStore.delete`."""
        with self._lock:
            return self._records.pop(session_id, None) is not None


def _with_expiry(row: RecordSummary, expires: int) -> RecordSummary:
    return RecordSummary(**{**row.to_dict(), "expires_at": expires})


def _expires_at(record: dict[str, Any], retention_days: int) -> int:
    end = int(record.get("ended_at") or record.get("started_at") or time.time() * 1000)
    return end // 1000 + retention_days * 86_400


# --- DynamoDB -----------------------------------------------------------------------------


class DynamoDBRecordStore:
    """Records in the records table (see the module docstring for the layout).

    Args:
        table_name: the records table (``AIFLOW_RECORDS_TABLE``; the stack output
            ``CallRecordsTableName``).
        client: a DynamoDB client; default one with short timeouts, created on first use.
        calls_table: the call table; when given, :meth:`delete` also deletes the call's
            item there once the call has ended (the record travels in it until its TTL).
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        calls_table: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.calls_table = calls_table
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client (created on first use)."""
        if self._client is None:
            from ..store.dynamodb import dynamodb_client

            self._client = dynamodb_client()
        return self._client

    def put(self, record: dict[str, Any], *, retention_days: int) -> None:
        """See :meth:`RecordStore.put` (one ``PutItem``)."""
        item = record_item(record, expires_at=_expires_at(record, retention_days))
        for attempt in (1, 2):
            try:
                self.client.put_item(TableName=self.table_name, Item=item)
                return
            except Exception as exc:
                # Writing the same item again is harmless; refused or never sent: once more.
                code = error_code(exc)
                if attempt == 2 or (code not in _THROTTLED and code not in _NOT_SENT):
                    raise RecordStoreError(f"DynamoDB PutItem failed: {code}") from exc
                time.sleep(0.05)

    def list(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[RecordSummary]:
        """See :meth:`RecordStore.list`: one ``Query`` per day (more for a busy day)."""
        start, end = _window(since, until)
        low = sort_key(int(start.timestamp() * 1000), "")
        high = sort_key(int(end.timestamp() * 1000), "\uffff")
        names = {f"#a{i}": name for i, name in enumerate(_SUMMARY)}
        names.update({"#d": "day", "#c": "call"})
        rows: list[RecordSummary] = []
        for day in _days(start, end):
            pages = self._query(
                KeyConditionExpression="#d = :d AND #c BETWEEN :low AND :high",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":d": {"S": day.isoformat()},
                    ":low": {"S": low},
                    ":high": {"S": high},
                },
                ProjectionExpression=", ".join(f"#a{i}" for i in range(len(_SUMMARY))),
                ScanIndexForward=False,
                Limit=min(limit, 100),
            )
            for item in pages:
                rows.append(_summary_of_item(item))
                if len(rows) >= limit:
                    return rows
        return rows

    def get(self, session_id: str) -> dict[str, Any] | None:
        """See :meth:`RecordStore.get` (an index ``Query`` and a ``GetItem``)."""
        key = self._key(session_id)
        if key is None:
            return None
        found = self._call(
            "GetItem", lambda: self.client.get_item(TableName=self.table_name, Key=key)
        )
        item = found.get("Item")
        return item_record(item) if item else None

    def delete(self, session_id: str) -> bool:
        """See :meth:`RecordStore.delete`; with ``calls_table``, also the ended call's item."""
        key = self._key(session_id)
        if key is not None:
            self._call(
                "DeleteItem",
                lambda: self.client.delete_item(TableName=self.table_name, Key=key),
            )
        if self.calls_table:
            self._forget_call(session_id)
        return key is not None

    def live(self, session_id: str) -> bool:
        """Whether the call is still going on (its item in ``calls_table`` is not ended):
        its record is written again when it ends."""
        if not self.calls_table:
            return False
        found = self._call(
            "GetItem",
            lambda: self.client.get_item(
                TableName=str(self.calls_table),
                Key={"session_id": {"S": session_id}},
                ProjectionExpression="#s",
                ExpressionAttributeNames={"#s": "status"},
            ),
        )
        status = found.get("Item", {}).get("status", {}).get("S")
        return status is not None and status != "ended"

    def _forget_call(self, session_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=str(self.calls_table),
                Key={"session_id": {"S": session_id}},
                ConditionExpression="#s = :ended",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":ended": {"S": "ended"}},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise RecordStoreError(f"DynamoDB DeleteItem failed: {error_code(exc)}") from exc

    def _key(self, session_id: str) -> dict[str, Any] | None:
        found = self._call(
            "Query",
            lambda: self.client.query(
                TableName=self.table_name,
                IndexName=SESSION_INDEX,
                KeyConditionExpression="session_id = :s",
                ExpressionAttributeValues={":s": {"S": session_id}},
            ),
        )
        items = found.get("Items") or []
        if not items:
            return None
        return {"day": items[0]["day"], "call": items[0]["call"]}

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._call(
                "Query", lambda: self.client.query(TableName=self.table_name, **kwargs)
            )
            yield from page.get("Items") or []
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _call(self, operation: str, request: Any) -> Any:
        try:
            return request()
        except Exception as exc:
            raise RecordStoreError(f"DynamoDB {operation} failed: {error_code(exc)}") from exc


def record_item(record: dict[str, Any], *, expires_at: int) -> dict[str, Any]:
    """The records-table item of a finished record (see the module docstring)."""
    summary = summary_of(record)
    encoded = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    item: dict[str, Any] = {
        "day": {"S": day_of(summary.started_at)},
        "call": {"S": sort_key(summary.started_at, summary.session_id)},
        "expires_at": {"N": str(expires_at)},
        "recordz": {"B": zlib.compress(encoded, 6)},
    }
    for name, value in summary.to_dict().items():
        if value is None or name == "expires_at":
            continue
        item[name] = {"N": str(value)} if name in _NUMBERS else {"S": str(value)}
    return item


def item_record(item: dict[str, Any]) -> dict[str, Any]:
    """The record document of a records-table item."""
    raw = zlib.decompress(bytes(item["recordz"]["B"])).decode("utf-8")
    record: dict[str, Any] = json.loads(raw)
    return record


def _summary_of_item(item: dict[str, Any]) -> RecordSummary:
    values: dict[str, Any] = {}
    for name in _SUMMARY:
        raw = item.get(name)
        if raw is None:
            values[name] = None
        elif name in _NUMBERS:
            values[name] = int(raw["N"])
        else:
            values[name] = raw["S"]
    values["outcome"] = values["outcome"] or ""
    values["turns"] = values["turns"] or 0
    values["started_at"] = values["started_at"] or 0
    return RecordSummary(**values)
