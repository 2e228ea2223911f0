"""The dev server: real HTTP on loopback -> API Gateway v2 event -> the real Lambda handler ->
DynamoDB (embedded moto, tables from template.yaml)."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.embedded import EmbeddedDynamoDB
from aiflow.local.server import DevServer, RequestLog
from aiflow.store.dynamodb import item_doc
from tests.examples.hello import assistant as hello

pytestmark = pytest.mark.slow


@dataclass
class Running:
    server: DevServer
    db: EmbeddedDynamoDB
    token: str
    logs: list[RequestLog]


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    token = secrets.token_urlsafe(12)
    logs: list[RequestLog] = []
    with EmbeddedDynamoDB(prefix=f"dev-{secrets.token_hex(3)}-") as db:
        handler = lambda_handler(hello, store=db.store(), token=token, settings=Settings())
        with DevServer(handler, port=0, on_request=logs.append) as server:
            yield Running(server, db, token, logs)


def post(url: str, body: Any, token: str | None) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-API-TOKEN"] = token
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def session_start(session_id: str) -> dict[str, Any]:
    return {
        "type": "session_start",
        "session": {"id": session_id, "account_id": "a", "phone_number": "+4921198765400"},
    }


def test_the_server_listens_on_loopback_only(running: Running) -> None:
    assert running.server.host == "127.0.0.1"
    assert running.server.webhook_url == f"http://127.0.0.1:{running.server.port}/webhook"


def test_an_event_is_answered_and_the_call_lands_in_the_dynamodb_table(running: Running) -> None:
    session_id = str(uuid.uuid4())

    status, headers, body = post(
        running.server.webhook_url, session_start(session_id), running.token
    )

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "type": "speak",
        "session_id": session_id,
        "text": "Hello! Say something.",
    }
    item = running.db.item(session_id)
    assert item is not None
    assert item["version"] == {"N": "1"}
    assert item_doc(item)["history"][0]["text"] == "Hello! Say something."
    assert running.db.table_name() in running.db.client().list_tables()["TableNames"]


def test_the_tables_come_from_the_template_with_ttl(running: Running) -> None:
    ttl = running.db.client().describe_time_to_live(TableName=running.db.table_name())

    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_a_wrong_token_is_refused_and_nothing_is_stored(running: Running) -> None:
    session_id = str(uuid.uuid4())

    status, _, body = post(running.server.webhook_url, session_start(session_id), "wrong")

    assert status == 401
    assert json.loads(body)["code"] == "unauthorized"
    assert running.db.item(session_id) is None


def test_session_end_gets_204_without_a_body(running: Running) -> None:
    session_id = str(uuid.uuid4())
    post(running.server.webhook_url, session_start(session_id), running.token)

    status, _, body = post(
        running.server.webhook_url,
        {"type": "session_end", "session": {"id": session_id}},
        running.token,
    )

    assert (status, body) == (204, b"")


def test_a_body_that_is_not_json_gets_400(running: Running) -> None:
    status, _, body = post(running.server.webhook_url, b"not json", running.token)

    assert status == 400
    assert json.loads(body)["code"] == "not_json"


def test_other_paths_get_the_routers_404(running: Running) -> None:
    status, _, body = post(f"{running.server.url}/other", {}, running.token)

    assert status == 404
    assert json.loads(body)["code"] == "not_found"


def test_each_request_is_one_log_line_with_call_event_status_actions_latency(
    running: Running,
) -> None:
    session_id = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
    post(running.server.webhook_url, session_start(session_id), running.token)

    log = running.logs[-1]
    assert (log.event_type, log.session_id, log.status, log.actions) == (
        "session_start",
        session_id,
        200,
        ["speak"],
    )
    assert log.latency_ms > 0
    line = log.line()
    assert "  3f2b9c1e  session_start" in line
    assert " 200  speak " in line
    assert line.endswith(" ms")
