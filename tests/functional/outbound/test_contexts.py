"""Call contexts: stored by dial(), handed to the call's session_start exactly once.

Both backends run the same tests: memory, and DynamoDB in moto on the table of template.yaml.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aiflow.outbound import (
    DialNotConfigured,
    DynamoDBOutboundContexts,
    FlowNotFound,
    MemoryOutboundContexts,
    OutboundContext,
    OutboundContexts,
    SipgateClient,
    SipgateUnavailable,
    dial,
)
from aiflow.protocol import Session, SessionStartEvent, parse_event
from aiflow.testing.fake_sipgate import Answer, FakeSipgate

from .conftest import CALLEE, FLOW_ID, FLOW_NUMBER, UNKNOWN_FLOW, RequestCounter

APPOINTMENT = {"appointment": {"when": "2026-03-02T09:30", "with": "Dr. Weber"}}
NOW_MS = 1_767_355_200_000


def outbound_session(to: str = CALLEE, **extra: Any) -> Session:
    """The session of an outbound call's session_start, as sipgate's guide shows it."""
    fields = {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "account_id": "acc-7731",
        "phone_number": to,
        "direction": "outbound",
        "from_phone_number": FLOW_NUMBER,
        "to_phone_number": to,
    }
    return Session.model_validate({**fields, **extra})


def context(request_id: str = "r1", created_at: int = NOW_MS, **extra: Any) -> OutboundContext:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "flow_id": FLOW_ID,
        "to": CALLEE,
        "device": "e2",
        "data": APPOINTMENT,
        "created_at": created_at,
    }
    return OutboundContext(**{**fields, **extra})


@pytest.fixture(params=["memory", "dynamodb"])
def contexts(request: pytest.FixtureRequest) -> Iterator[OutboundContexts]:
    if request.param == "memory":
        yield MemoryOutboundContexts()
    else:
        table = request.getfixturevalue("table")
        yield DynamoDBOutboundContexts(table, client=boto3.client("dynamodb"))


def test_a_context_is_taken_once_by_its_call(contexts: OutboundContexts) -> None:
    assert contexts.save(context()) is True

    taken = contexts.take_for(outbound_session(), NOW_MS + 5_000)

    assert taken == context()
    assert taken is not None and taken.data == APPOINTMENT
    assert contexts.take_for(outbound_session(), NOW_MS + 6_000) is None, "handed out once"


def test_the_number_may_arrive_without_plus(contexts: OutboundContexts) -> None:
    contexts.save(context())
    session = outbound_session(to="4915790000687")
    assert contexts.take_for(session, NOW_MS) == context()


def test_an_inbound_call_gets_no_context(contexts: OutboundContexts) -> None:
    contexts.save(context())
    inbound = outbound_session(direction="inbound", from_phone_number=CALLEE)
    assert contexts.take_for(inbound, NOW_MS) is None
    assert contexts.take_for(outbound_session(), NOW_MS) is not None, "still there"


def test_another_number_gets_no_context(contexts: OutboundContexts) -> None:
    contexts.save(context())
    assert contexts.take_for(outbound_session(to="+4930123456789"), NOW_MS) is None


def test_a_context_older_than_the_window_is_not_handed_out(contexts: OutboundContexts) -> None:
    contexts.save(context(created_at=NOW_MS - 120_001))
    assert contexts.take_for(outbound_session(), NOW_MS) is None


def test_a_newer_dial_to_the_same_number_replaces_the_older(contexts: OutboundContexts) -> None:
    contexts.save(context("first", data={"n": 1}))
    contexts.save(context("second", created_at=NOW_MS + 1, data={"n": 2}))
    taken = contexts.take_for(outbound_session(), NOW_MS + 10)
    assert taken is not None and (taken.request_id, taken.data) == ("second", {"n": 2})


def test_the_same_dial_is_not_saved_twice(contexts: OutboundContexts) -> None:
    assert contexts.save(context("message-1")) is True
    assert contexts.save(context("message-1")) is False


def test_discard_removes_only_the_own_context(contexts: OutboundContexts) -> None:
    contexts.save(context("old"))
    contexts.save(context("new"))
    contexts.discard(context("old"))
    taken = contexts.take_for(outbound_session(), NOW_MS)
    assert taken is not None and taken.request_id == "new"
    contexts.save(context("third"))
    contexts.discard(context("third"))
    assert contexts.take_for(outbound_session(), NOW_MS) is None


def test_two_events_racing_for_one_context_get_it_once(contexts: OutboundContexts) -> None:
    contexts.save(context())
    results: list[OutboundContext | None] = []
    start = threading.Barrier(4)

    def take() -> None:
        start.wait()
        results.append(contexts.take_for(outbound_session(), NOW_MS))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 1


# --- DynamoDB: requests and item layout -----------------------------------------------------------


def test_taking_is_one_dynamodb_request_and_none_for_inbound_calls(table: str) -> None:
    client = boto3.client("dynamodb")
    store = DynamoDBOutboundContexts(table, client=client)
    counter = RequestCounter(client)

    store.save(context())
    assert counter.counts == {"PutItem": 1}
    store.take_for(outbound_session(direction="inbound"), NOW_MS)
    assert counter.total() == 1
    store.take_for(outbound_session(), NOW_MS)
    assert counter.counts == {"PutItem": 1, "DeleteItem": 1}
    store.take_for(outbound_session(), NOW_MS)  # nothing left: still one request
    assert counter.counts == {"PutItem": 1, "DeleteItem": 2}


def test_the_item_sits_in_the_call_table_under_a_hashed_key_with_ttl(table: str) -> None:
    client = boto3.client("dynamodb")
    store = DynamoDBOutboundContexts(
        table, client=client, ttl_seconds=3600, clock=lambda: NOW_MS / 1000
    )
    store.save(context())

    (item,) = client.scan(TableName=table)["Items"]

    digest = hashlib.sha256(CALLEE.encode()).hexdigest()
    assert item["session_id"] == {"S": f"outbound#{digest}"}
    assert "4915790000687" not in item["session_id"]["S"]
    assert item["expires_at"]["N"] == str(NOW_MS // 1000 + 3600)
    assert item["created_at"] == {"N": str(NOW_MS)}
    assert item["to"] == {"S": CALLEE}
    assert set(item) == {
        "session_id",
        "request_id",
        "created_at",
        "expires_at",
        "flow_id",
        "to",
        "device",
        "data",
    }


def test_the_window_comes_from_the_environment(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFLOW_TABLE_NAME", table)
    monkeypatch.setenv("AIFLOW_OUTBOUND_WINDOW_SECONDS", "30")
    store = DynamoDBOutboundContexts.from_env()
    assert store is not None and store.window_ms == 30_000
    store.save(context(created_at=NOW_MS - 31_000))
    assert store.take_for(outbound_session(), NOW_MS) is None
    monkeypatch.delenv("AIFLOW_TABLE_NAME")
    assert DynamoDBOutboundContexts.from_env() is None


# --- dial() stores, sipgate calls, the call's session_start takes ------------------------------


def test_dial_stores_the_context_for_the_call_it_starts(
    client: SipgateClient, sipgate: FakeSipgate, contexts: OutboundContexts
) -> None:
    result = dial(FLOW_ID, "0049 157 90000687", data=APPOINTMENT, client=client, contexts=contexts)

    assert result.context_saved and result.request_id
    event = parse_event(
        {
            "type": "session_start",
            "session": outbound_session().model_dump(exclude_none=True),
        }
    )
    assert isinstance(event, SessionStartEvent)
    taken = contexts.take_for(event.session, int(time.time() * 1000))
    assert taken is not None
    assert (taken.request_id, taken.flow_id, taken.to, taken.device, taken.data) == (
        result.request_id,
        FLOW_ID,
        CALLEE,
        "e2",
        APPOINTMENT,
    )


def test_a_failed_dial_leaves_no_context(client: SipgateClient, contexts: OutboundContexts) -> None:
    with pytest.raises(FlowNotFound):
        dial(UNKNOWN_FLOW, CALLEE, data=APPOINTMENT, client=client, contexts=contexts)
    assert contexts.take_for(outbound_session(), int(time.time() * 1000)) is None


def test_a_dial_without_answer_keeps_its_context_for_the_call_that_may_come(
    sipgate: FakeSipgate, contexts: OutboundContexts
) -> None:
    client = SipgateClient(sipgate.token, base_url=sipgate.url, device="e2", timeout=0.3)
    sipgate.answer(Answer(201, delay=3))
    with pytest.raises(SipgateUnavailable):
        dial(FLOW_ID, CALLEE, data=APPOINTMENT, client=client, contexts=contexts)
    assert contexts.take_for(outbound_session(), int(time.time() * 1000)) is not None


def test_dial_uses_the_call_table_from_the_environment(
    client: SipgateClient, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFLOW_TABLE_NAME", table)
    result = dial(FLOW_ID, CALLEE, data=APPOINTMENT, client=client)
    assert result.context_saved
    store = DynamoDBOutboundContexts(table)
    taken = store.take_for(outbound_session(), int(time.time() * 1000))
    assert taken is not None and taken.data == APPOINTMENT


def test_data_without_a_table_is_refused_before_dialling(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    with pytest.raises(DialNotConfigured, match="AIFLOW_TABLE_NAME"):
        dial(FLOW_ID, CALLEE, data=APPOINTMENT, client=client)
    assert sipgate.requests == []
    result = dial(FLOW_ID, CALLEE, client=client)  # no data: no store needed
    assert result.status == 201 and result.context_saved is False
