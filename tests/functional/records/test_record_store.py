"""The records table: listed by time with a Query per day (never a Scan), found by id through
the keys-only index, deleted per call (with the ended call's item that still carries it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiflow.records import MemoryRecordStore, RecordStore
from aiflow.records.store import (
    DEFAULT_LIST_DAYS,
    DynamoDBRecordStore,
    day_of,
    record_item,
    sort_key,
)

from .conftest import Desk, Requests, front_desk

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def finished(session_id: str, started: datetime, *, minutes: int = 2) -> dict[str, Any]:
    start = int(started.timestamp() * 1000)
    return {
        "v": 1,
        "session_id": session_id,
        "started_at": start,
        "ended_at": start + minutes * 60_000,
        "direction": "inbound",
        "caller": "+49*********78",
        "called": "+4921198765400",
        "assistant": "desk",
        "turns": [{"i": "a", "at": start, "event": "session_start"}],
        "outcome": {"ended_by": "caller"},
    }


CALLS = {
    "today-late": NOW - timedelta(minutes=5),
    "today-early": NOW - timedelta(hours=10),
    "yesterday": NOW - timedelta(days=1),
    "last-week": NOW - timedelta(days=7),
    "two-months-ago": NOW - timedelta(days=60),
}


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest, desk: Desk) -> RecordStore:
    if request.param == "memory":
        return MemoryRecordStore(clock=lambda: NOW.timestamp())
    return DynamoDBRecordStore(desk.records_table, client=desk.client)


def test_records_are_listed_newest_first_within_the_time_asked(store: RecordStore) -> None:
    for session_id, started in CALLS.items():
        store.put(finished(session_id, started), retention_days=365)

    recent = store.list(until=NOW)
    since_yesterday = store.list(since=NOW - timedelta(days=1, minutes=1), until=NOW)
    two = store.list(until=NOW, limit=2)

    assert [r.session_id for r in recent] == ["today-late", "today-early", "yesterday", "last-week"]
    assert [r.session_id for r in since_yesterday] == ["today-late", "today-early", "yesterday"]
    assert [r.session_id for r in two] == ["today-late", "today-early"]
    assert recent[0].duration_ms == 120_000 and recent[0].outcome == "caller hung up"


def test_listing_and_finding_never_scan(desk: Desk) -> None:
    assert desk.requests is not None
    store = DynamoDBRecordStore(desk.records_table, client=desk.client)
    for session_id, started in CALLS.items():
        store.put(finished(session_id, started), retention_days=365)

    made = desk.requests.during(lambda: (store.list(until=NOW), store.get("yesterday")))

    operations = {operation for operation, _ in made}
    assert operations == {"Query", "GetItem"}
    days = [op for op, _ in made if op == "Query"]
    # One per day of the default window (31 days back from today: 32 days), one on the index.
    assert len(days) == DEFAULT_LIST_DAYS + 1 + 1


def test_an_item_is_keyed_by_day_and_start_and_carries_a_summary() -> None:
    record = finished("abc", NOW)
    item = record_item(record, expires_at=123)

    assert item["day"] == {"S": "2026-12-01"}
    assert item["call"] == {"S": "2026-12-01T10:30:00.000Z#abc"}
    assert item["session_id"] == {"S": "abc"}
    assert item["outcome"] == {"S": "caller hung up"}
    assert item["expires_at"] == {"N": "123"}
    assert "turns" in item and "recordz" in item
    assert day_of(0) == "1970-01-01" and sort_key(1500, "x") == "1970-01-01T00:00:01.500Z#x"


def test_a_record_is_read_back_whole_and_deleted_per_call(store: RecordStore) -> None:
    store.put(finished("keep", NOW), retention_days=30)
    store.put(finished("forget", NOW), retention_days=30)

    assert store.get("forget") == finished("forget", NOW)
    assert store.delete("forget") is True
    assert store.get("forget") is None
    assert store.delete("forget") is False
    assert [r.session_id for r in store.list(until=NOW + timedelta(minutes=1))] == ["keep"]


@pytest.mark.filterwarnings("ignore:Dimension 'EventType' has already been added")
def test_deleting_a_finished_call_also_deletes_its_call_item_but_not_a_live_one(
    desk: Desk,
) -> None:
    handler = desk.webhook(front_desk(record_calls=True))
    ended = desk.call(handler)
    ended.start()
    ended.hang_up()
    live = desk.call(handler)
    live.start()
    store = desk.records()
    store.put(finished(live.session_id, NOW), retention_days=30)  # as if written earlier

    assert store.live(ended.session_id) is False and store.live(live.session_id) is True
    assert store.delete(ended.session_id) is True
    assert store.delete(live.session_id) is True

    assert store.get(ended.session_id) is None
    key = {"session_id": {"S": ended.session_id}}
    assert "Item" not in desk.reader.get_item(TableName=desk.calls_table, Key=key)
    key = {"session_id": {"S": live.session_id}}
    assert "Item" in desk.reader.get_item(TableName=desk.calls_table, Key=key)


def test_an_expired_record_is_gone_from_memory() -> None:
    clock = [NOW.timestamp()]
    store = MemoryRecordStore(clock=lambda: clock[0])
    store.put(finished("old", NOW), retention_days=1)

    clock[0] += 2 * 86_400

    assert store.get("old") is None and store.list(until=NOW + timedelta(days=2)) == []


def test_the_requests_class_counts_what_it_should(desk: Desk) -> None:
    """The counter the cost tests rely on sees every request of its client, and only those."""
    assert isinstance(desk.requests, Requests)
    desk.reader.scan(TableName=desk.calls_table)
    assert desk.requests.made == []
    desk.client.scan(TableName=desk.calls_table)
    assert desk.requests.made == [("Scan", desk.calls_table)]
