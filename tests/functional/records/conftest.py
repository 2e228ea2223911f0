"""Call records against DynamoDB in moto, with the tables of ``template.yaml``.

Every call goes through the real Lambda handler (``lambda_handler``) behind the local API
Gateway, played by :class:`aiflow.testing.CallSimulator`; the handler's boto3 client counts
each request per table, so a test can say which requests a record costs.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aiflow import Assistant, Call, DtmfReceivedEvent, UserSpeakEvent, hangup, transfer
from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.template import create_tables
from aiflow.records import RecordOption
from aiflow.records.store import DynamoDBRecordStore
from aiflow.store.dynamodb import DynamoDBStore, item_doc
from aiflow.testing import CallOptions, CallSimulator

from ..webhook.conftest import CLEARED_ENV, FAKE_AWS_ENV

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
TOKEN = "local-dev-token-0123"
CALLER = "+4917612345678"
TRANSFER_TARGET = "+4930123456789"
DESK = "+4921198765400"
EXTRA_ENV = ("AIFLOW_RECORD_CALLS", "AIFLOW_RECORDS_TABLE", "AIFLOW_RECORD_RETENTION_DAYS")


def front_desk(record_calls: RecordOption = None, name: str | None = None) -> Assistant:
    """A small front desk: greets, echoes, asks again on silence, answers keys, transfers
    on "operator", hangs up on "bye", fails on "boom", says a long sentence on "tell me"."""
    desk = Assistant(name or f"desk-{uuid.uuid4().hex[:6]}", record_calls=record_calls)

    @desk.on_session_start
    def greet(call: Call) -> str:
        if call.resumed:
            return "Sorry, nobody answered. How else can I help?"
        return "Hello, this is the front desk. How can I help?"

    @desk.on_user_speak
    def answer(event: UserSpeakEvent) -> Any:
        words = event.text.lower()
        if "boom" in words:
            raise RuntimeError(f"the caller said {event.text!r}")  # never in the record
        if "bye" in words:
            return ["Goodbye!", hangup()]
        if "operator" in words:
            return [
                "Connecting you.",
                transfer(TRANSFER_TARGET, caller_id_name="Desk", caller_id_number=DESK, timeout=20),
            ]
        if "tell me" in words:
            return LONG_SENTENCE
        return f"You said: {event.text}"

    @desk.on_user_input_timeout
    def nudge() -> str:
        return "Are you still there?"

    @desk.on_dtmf
    def key(event: DtmfReceivedEvent) -> str:
        return f"You pressed {event.digit}."

    return desk


LONG_SENTENCE = (
    "We are open from nine in the morning until six in the evening on weekdays and "
    "from ten until two on Saturdays"
)


class Requests:
    """The DynamoDB requests of one boto3 client, as (operation, table) pairs."""

    def __init__(self, client: Any) -> None:
        self.made: list[tuple[str, str]] = []
        self.items: list[tuple[str, dict[str, Any]]] = []  # (table, Item) of each PutItem
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.dynamodb.*", self._note)

    def _note(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.made.append((operation, str(params.get("TableName"))))
            if operation == "PutItem":
                self.items.append((str(params.get("TableName")), dict(params["Item"])))

    def during(self, action: Callable[[], Any]) -> list[tuple[str, str]]:
        """The requests made while ``action`` runs."""
        start = len(self.made)
        action()
        return self.made[start:]


@dataclass
class Desk:
    """The tables, a counting client and a way to build the webhook of an assistant."""

    reader: Any
    tables: dict[str, str]
    client: Any = None
    requests: Requests | None = None
    _handlers: list[Any] = field(default_factory=list)

    @property
    def calls_table(self) -> str:
        return self.tables["CallsTable"]

    @property
    def records_table(self) -> str:
        return self.tables["CallRecordsTable"]

    def webhook(self, assistant: Assistant, **settings: Any) -> Any:
        """``lambda_handler(assistant)`` on the moto tables; ``settings`` override
        :class:`Settings` (records table set, records switched on by the assistant)."""
        values: dict[str, Any] = {"api_token": TOKEN, "records_table": self.records_table}
        values.update(settings)
        store = DynamoDBStore(self.calls_table, client=self.client)
        handler = lambda_handler(assistant, store=store, settings=Settings(**values))
        self._handlers.append(handler)
        return handler

    def call(self, handler: Any, *, raise_errors: bool = True, **options: Any) -> CallSimulator:
        """A call to ``handler`` from :data:`CALLER` (``raise_errors=False``: a handler's
        exception gives the caller the fallback instead of failing the test)."""
        return CallSimulator(
            handler,
            token=TOKEN,
            options=CallOptions(caller=CALLER, **options),
            raise_errors=raise_errors,
        )

    def records(self) -> DynamoDBRecordStore:
        """The records table, read as ``aiflow calls`` reads it."""
        return DynamoDBRecordStore(
            self.records_table, client=self.reader, calls_table=self.calls_table
        )

    def record_items(self) -> list[dict[str, Any]]:
        return list(self.reader.scan(TableName=self.records_table)["Items"])

    def call_doc(self, session_id: str) -> dict[str, Any]:
        found = self.reader.get_item(
            TableName=self.calls_table, Key={"session_id": {"S": session_id}}
        )
        return item_doc(found["Item"])


def post(call: CallSimulator, event: dict[str, Any]) -> tuple[int, bytes]:
    """One raw event to the webhook, without playing the platform's part afterwards."""
    body = json.dumps({**event, "session": {"id": call.session_id}}).encode()
    headers = {"Content-Type": "application/json", "X-API-TOKEN": TOKEN}
    delivery = call.transport.post(body, headers)
    assert delivery.status in (200, 204), delivery.body
    return delivery.status, delivery.body


@pytest.fixture(scope="package")
def world() -> Iterator[tuple[Any, dict[str, str]]]:
    """moto for the whole package, with the template's tables (the records table too)."""
    with pytest.MonkeyPatch.context() as env:
        for name in (*CLEARED_ENV, *EXTRA_ENV):
            env.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        env.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
        env.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        with mock_aws():
            reader = boto3.client("dynamodb")
            yield reader, create_tables(reader, TEMPLATE)


@pytest.fixture
def desk(world: tuple[Any, dict[str, str]]) -> Iterator[Desk]:
    """Empty tables and a counting client for the webhook."""
    reader, tables = world
    for table in tables.values():
        keys = [
            k["AttributeName"] for k in reader.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
        for item in reader.scan(TableName=table)["Items"]:
            reader.delete_item(TableName=table, Key={k: item[k] for k in keys})
    client = boto3.client("dynamodb")
    desk = Desk(reader, tables, client, Requests(client))
    try:
        yield desk
    finally:
        for handler in desk._handlers:
            handler.engine.close()
