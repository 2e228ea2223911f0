"""The roles grant what the code calls, and no more: each function runs a recorded call against
moto while its boto3 client notes every DynamoDB request; the requests must be allowed by the
function's role in ``template.yaml`` (or ``infra/websocket.yaml``), and on the records table
the role grants exactly what was called."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from aiflow import Assistant, Call, UserSpeakEvent, hangup
from aiflow.lambda_ import Settings, lambda_handler, websocket_handler
from aiflow.lambda_.worker import worker_handler
from aiflow.local.template import load_template, resources_of_type
from aiflow.store.dynamodb import DynamoDBStore

from .conftest import TOKEN, Desk, Requests, post

REPO = Path(__file__).resolve().parents[3]
ROOT = load_template(REPO / "template.yaml")
NESTED = load_template(REPO / "infra" / "websocket.yaml")
# How each template names the two tables in a policy's Resource.
ROOT_TABLES = {
    json.dumps({"Fn::GetAtt": ["CallsTable", "Arn"]}): "CallsTable",
    json.dumps({"Fn::GetAtt": ["CallRecordsTable", "Arn"]}): "CallRecordsTable",
}
NESTED_TABLES = {
    json.dumps({"Ref": "CallsTableArn"}): "CallsTable",
    json.dumps({"Ref": "CallRecordsTableArn"}): "CallRecordsTable",
}


def granted(template: dict[str, Any], role: str, tables: dict[str, str]) -> set[tuple[str, str]]:
    """(operation, table) pairs the role allows, in every branch of its conditions."""
    pairs = set()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if set(statement) == {"Fn::If"}:
                statement = statement["Fn::If"][1]  # the branch with the feature on
            actions = statement["Action"]
            for action in actions if isinstance(actions, list) else [actions]:
                table = tables.get(json.dumps(statement["Resource"]))
                if action.startswith("dynamodb:") and table:
                    pairs.add((action.removeprefix("dynamodb:"), table))
    return pairs


def made(requests: Requests, desk: Desk) -> set[tuple[str, str]]:
    logical = {name: logical_id for logical_id, name in desk.tables.items()}
    return {(operation, logical[table]) for operation, table in requests.made}


def on_records(pairs: set[tuple[str, str]]) -> set[str]:
    return {operation for operation, table in pairs if table == "CallRecordsTable"}


def slow_desk() -> Assistant:
    desk = Assistant(f"slow-{uuid.uuid4().hex[:6]}", record_calls=True)

    @desk.on_session_start
    def greet() -> str:
        return "Hello."

    @desk.on_user_speak
    def answer(event: UserSpeakEvent, call: Call) -> Any:
        if "slow" in event.text:
            time.sleep(0.6)  # over the turn budget: the worker finishes it
            return "That took a while."
        return ["Goodbye!", hangup()]

    return desk


def test_the_webhook_role_allows_what_a_recorded_call_calls_and_on_records_only_that(
    desk: Desk,
) -> None:
    from .conftest import front_desk

    assert desk.requests is not None
    call = desk.call(desk.webhook(front_desk(record_calls=True)))
    call.start()
    call.say("hello")
    call.press("1")
    call.say("bye")

    calls = made(desk.requests, desk)
    allowed = granted(ROOT, "WebhookRole", ROOT_TABLES)
    assert calls <= allowed
    assert on_records(calls) == on_records(allowed) == {"PutItem"}


def test_the_worker_never_writes_a_record_and_its_role_has_no_grant_for_it(desk: Desk) -> None:
    assistant = slow_desk()
    started: list[dict[str, Any]] = []
    settings = Settings(
        api_token=TOKEN,
        records_table=desk.records_table,
        turn_budget_ms=200,
        answer_budget_ms=500,
    )
    webhook = lambda_handler(
        assistant,
        store=DynamoDBStore(desk.calls_table, client=desk.client),
        settings=settings,
        deferrer=started.append,
    )
    desk._handlers.append(webhook)
    call = desk.call(webhook)
    call.start()
    post(call, {"type": "user_speak", "text": "something slow"})  # a filler; the worker next
    (payload,) = started

    import boto3

    worker_client = boto3.client("dynamodb")
    worker_requests = Requests(worker_client)
    worker = worker_handler(
        assistant,
        store=DynamoDBStore(desk.calls_table, client=worker_client),
        settings=settings,
    )
    desk._handlers.append(worker)
    assert worker(payload, None) == {"result": "delivered"}
    post(call, {"type": "assistant_speech_ended"})  # the answer goes out
    call.send({"type": "session_end"})

    worker_made = made(worker_requests, desk)
    assert worker_made and on_records(worker_made) == set()
    assert worker_made <= granted(ROOT, "WorkerRole", ROOT_TABLES)
    assert on_records(granted(ROOT, "WorkerRole", ROOT_TABLES)) == set()
    record = desk.records().get(call.session_id)
    slow = next(t for t in record["turns"] if t.get("caller") == "something slow")
    assert slow["slow"] == "ready" and slow["worker_ms"] >= 500
    delivered = next(t for t in record["turns"] if t["event"] == "assistant_speech_ended")
    assert delivered["reply"] == [{"say": "That took a while."}]


@pytest.mark.filterwarnings("ignore:Dimension 'EventType' has already been added")
def test_the_websocket_role_allows_what_a_recorded_call_calls_and_on_records_only_that(
    desk: Desk,
) -> None:
    from .conftest import front_desk

    assert desk.requests is not None
    frames: list[str] = []
    handler = websocket_handler(
        front_desk(record_calls=True),
        store=DynamoDBStore(desk.calls_table, client=desk.client),
        settings=Settings(api_token=TOKEN, records_table=desk.records_table),
        sender_for=lambda request: frames.append,
    )
    connection = "conn-" + uuid.uuid4().hex[:8]
    session = {"id": str(uuid.uuid4()), "phone_number": "+4921198765400"}
    start = {**session, "direction": "inbound", "from_phone_number": "+4917612345678"}
    events = [
        {"type": "session_start", "session": start},
        {"type": "user_speak", "text": "hello", "session": session},
        {"type": "session_end", "session": session},
    ]

    assert (
        handler(ws_request("$connect", connection, headers={"X-API-TOKEN": TOKEN}), None)[
            "statusCode"
        ]
        == 200
    )
    for body in events:
        handler(ws_request("$default", connection, body=json.dumps(body)), None)
    handler(ws_request("$disconnect", connection), None)
    handler.transport.engine.close()

    calls = made(desk.requests, desk)
    allowed = granted(NESTED, "WebSocketRole", NESTED_TABLES)
    assert calls <= allowed
    assert on_records(calls) == on_records(allowed) == {"PutItem"}
    record = desk.records().get(session["id"])
    assert record["turns"][1]["caller"] == "hello"
    assert any("You said: hello" in frame for frame in frames)


def test_only_the_webhook_and_websocket_roles_may_write_records_and_only_when_switched_on() -> None:
    writers = set()
    for template, tables in ((ROOT, ROOT_TABLES), (NESTED, NESTED_TABLES)):
        for role in resources_of_type(template, "AWS::IAM::Role"):
            if "Policies" not in template["Resources"][role]["Properties"]:
                continue
            if on_records(granted(template, role, tables)):
                writers.add(role)
                statements = template["Resources"][role]["Properties"]["Policies"][0][
                    "PolicyDocument"
                ]["Statement"]
                (conditional,) = [s for s in statements if set(s) == {"Fn::If"}]
                condition, _, off = conditional["Fn::If"]
                assert condition in ("CallRecordsEnabled", "HasCallRecordsTable")
                assert off == {"Ref": "AWS::NoValue"}
    assert writers == {"WebhookRole", "WebSocketRole"}


def ws_request(route: str, connection: str, **extra: Any) -> dict[str, Any]:
    kinds = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
    return {
        "requestContext": {
            "routeKey": route,
            "eventType": kinds.get(route, "MESSAGE"),
            "connectionId": connection,
            "domainName": "abc.execute-api.eu-central-1.amazonaws.com",
            "stage": "live",
            "requestId": uuid.uuid4().hex,
            "requestTimeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
        **extra,
    }
