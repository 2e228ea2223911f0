"""The WebSocket Lambda handler as API Gateway invokes it: $connect / $default / $disconnect
events, the call table from template.yaml in moto, replies through the Management API
(moto's apigatewaymanagementapi, every PostToConnection recorded as one frame)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from aiflow import Assistant
from aiflow.lambda_ import websocket_handler
from aiflow.lambda_.aws import ManagementApi
from aiflow.lambda_.websocket import WebSocketHandler
from aiflow.local.template import create_tables
from aiflow.settings import Settings
from aiflow.store.dynamodb import DynamoDBConnections, DynamoDBStore

from .helpers import ANSWER, SESSION_ID, TOKEN, FakeModel, event, streaming_assistant

TEMPLATE = Path(__file__).parents[3] / "template.yaml"
TABLE = "test-CallsTable"
DOMAIN = "abc123.execute-api.eu-central-1.amazonaws.com"
STAGE = "live"
ENDPOINT = f"https://{DOMAIN}/{STAGE}"


class Context:
    """The parts of the Lambda context the handler reads."""

    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def request(route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    kinds = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
    return {
        "requestContext": {
            "routeKey": route,
            "eventType": kinds.get(route, "MESSAGE"),
            "connectionId": connection_id,
            "domainName": DOMAIN,
            "stage": STAGE,
            "apiId": "abc123",
            "requestId": uuid.uuid4().hex,
            "requestTimeEpoch": int(time.time() * 1000),
            "connectedAt": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
        **extra,
    }


def connect(connection_id: str, token: str | None) -> dict[str, Any]:
    headers = {"Host": DOMAIN, "Sec-WebSocket-Version": "13"}
    if token is not None:
        headers["X-API-TOKEN"] = token
    return request(
        "$connect",
        connection_id,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
    )


def message(connection_id: str, body: str) -> dict[str, Any]:
    return request("$default", connection_id, body=body)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AIFLOW_TABLE_NAME": TABLE,
        "AIFLOW_API_TOKEN": TOKEN,
        "AIFLOW_TURN_BUDGET_MS": "2500",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("AIFLOW_WS_ENDPOINT", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
        create_tables(dynamodb, TEMPLATE, prefix="test-")
        yield dynamodb


class Recorded:
    """Every PostToConnection of a handler's Management API client, one entry per frame."""

    def __init__(self, handler: WebSocketHandler) -> None:
        self.frames: list[tuple[float, str, Any]] = []
        self.start = time.monotonic()
        sender = handler.sender_for
        assert isinstance(sender, ManagementApi)
        client = sender.client(ENDPOINT)
        client.meta.events.register(
            "before-call.apigatewaymanagementapi.PostToConnection", self._record
        )

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        connection = unquote(params["url_path"].rsplit("/", 1)[-1])
        body = json.loads(params["body"])
        self.frames.append((time.monotonic() - self.start, connection, body))

    def texts(self, connection: str) -> list[str]:
        out = []
        for _, conn, body in self.frames:
            if conn == connection:
                out += [a["text"] for a in (body if isinstance(body, list) else [body])]
        return out


def moto_data(connection_id: str) -> bytes:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    backend = apigatewaymanagementapi_backends["123456789012"]["eu-central-1"]
    quoted = quote(connection_id, safe="")  # moto keeps the id as it appears in the path
    return backend.connections[quoted if quoted in backend.connections else connection_id].data


# --- $connect -------------------------------------------------------------------------------------


def test_connect_with_the_token_is_accepted_without_a_store_request(aws: Any) -> None:
    handler = websocket_handler(Assistant("a"))
    assert handler(connect("c-ok", TOKEN), Context()) == {"statusCode": 200}
    items = aws.scan(TableName=TABLE)["Items"]
    assert items == []


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_connect_without_the_right_token_is_refused_with_401(aws: Any, token: str | None) -> None:
    handler = websocket_handler(Assistant("a"))
    response = handler(connect("c-bad", token), Context())
    assert response["statusCode"] == 401
    assert response["headers"] == {"Content-Type": "application/json"}
    assert json.loads(response["body"])["code"] == "unauthorized"
    assert aws.scan(TableName=TABLE)["Items"] == []


def test_connect_reads_the_token_from_secrets_manager_like_the_webhook(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIFLOW_API_TOKEN")
    secrets = boto3.client("secretsmanager", region_name="eu-central-1")
    arn = secrets.create_secret(Name="aiflow-token", SecretString="from-the-secret-0123")["ARN"]
    monkeypatch.setenv("AIFLOW_TOKEN_SECRET", arn)
    handler = websocket_handler(Assistant("a"))
    assert handler(connect("c-1", "from-the-secret-0123"), Context())["statusCode"] == 200
    assert handler(connect("c-2", TOKEN), Context())["statusCode"] == 401


# --- $default -------------------------------------------------------------------------------------


def test_a_call_over_the_websocket_api(aws: Any) -> None:
    model = FakeModel(token_s=0.02)
    handler = websocket_handler(streaming_assistant(model, user_input_timeout=6))
    recorded = Recorded(handler)
    conn = "Abc123Conn="
    assert handler(connect(conn, TOKEN), Context())["statusCode"] == 200
    assert handler(message(conn, event("session_start")), Context()) == {"statusCode": 200}
    assert recorded.texts(conn) == ["Hello, how can I help?"]

    handler(message(conn, event("user_speak", text="When are you open?")), Context())
    answer = recorded.frames[1:]
    assert len(answer) == 4, "one PostToConnection per sentence"
    assert " ".join(recorded.texts(conn)[1:]) == ANSWER.strip()
    assert answer[-1][2]["user_input_timeout_seconds"] == 6
    assert answer[-1][0] - answer[0][0] > 0.3, "sent while the model was still generating"
    # moto received the same bytes, in order.
    sent = moto_data(conn).decode()
    assert sent.startswith('{"type":"speak"') and "Is there anything else" in sent

    # The connection record maps the connection to the call; the call record is a call.
    record = aws.get_item(TableName=TABLE, Key={"session_id": {"S": f"conn#{conn}"}})["Item"]
    assert record["call"] == {"S": SESSION_ID}
    assert int(record["expires_at"]["N"]) > time.time()
    store = DynamoDBStore(TABLE, client=aws)
    stored = store.load(SESSION_ID)
    assert stored is not None and stored.doc["state"] == {"questions": 1}

    handler(message(conn, event("user_speak", text="bye")), Context())
    assert recorded.texts(conn)[-1] == "Goodbye!"
    assert store.load(SESSION_ID).doc["pending"]["actions"] == [  # type: ignore[union-attr]
        {"type": "hangup", "session_id": SESSION_ID}
    ]
    handler(message(conn, event("assistant_speech_ended")), Context())
    assert recorded.frames[-1][2] == {"type": "hangup", "session_id": SESSION_ID}
    handler(message(conn, event("session_end")), Context())
    frames = len(recorded.frames)

    assert handler(request("$disconnect", conn), Context()) == {"statusCode": 200}
    assert "Item" not in aws.get_item(TableName=TABLE, Key={"session_id": {"S": f"conn#{conn}"}})
    assert len(recorded.frames) == frames


def test_user_speech_started_in_another_invocation_stops_the_stream(aws: Any) -> None:
    model = FakeModel(token_s=0.04)
    handler = websocket_handler(streaming_assistant(model))
    recorded = Recorded(handler)
    conn = "conn-2"
    handler(connect(conn, TOKEN), Context())
    handler(message(conn, event("session_start")), Context())
    asking = threading.Thread(
        target=handler, args=(message(conn, event("user_speak", text="hours?")), Context())
    )
    asking.start()
    while len(recorded.frames) < 2:
        time.sleep(0.005)
    handler(message(conn, event("user_speech_started")), Context())
    asking.join(5)
    texts = recorded.texts(conn)
    assert texts[1] == "Our practice is open from eight to six today."
    assert len(texts) <= 3
    assert model.closed.wait(2)
    record = aws.get_item(TableName=TABLE, Key={"session_id": {"S": f"conn#{conn}"}})["Item"]
    assert int(record["interrupted_at"]["N"]) > 0


def test_a_gone_connection_stops_the_answer(aws: Any) -> None:
    model = FakeModel(token_s=0.01)
    client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=ENDPOINT, region_name="eu-central-1"
    )
    stubber = Stubber(client)
    for _ in ("greeting", "first sentence"):
        stubber.add_response("post_to_connection", {}, {"ConnectionId": "c-3", "Data": ANY})
    stubber.add_client_error(
        "post_to_connection", service_error_code="GoneException", http_status_code=410
    )
    stubber.activate()
    handler = websocket_handler(
        streaming_assistant(model),
        sender_for=ManagementApi(Settings(), client_factory=lambda _: client),
    )
    handler(message("c-3", event("session_start")), Context())
    response = handler(message("c-3", event("user_speak", text="hours?")), Context())
    assert response == {"statusCode": 200}
    stubber.assert_no_pending_responses()  # nothing was sent after the GoneException
    assert model.closed.wait(2), "the model's stream was closed"
    assert model.tokens_sent < len(ANSWER.split(" "))


def test_other_send_failures_are_logged_not_raised(aws: Any, caplog: Any) -> None:
    client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=ENDPOINT, region_name="eu-central-1"
    )
    stubber = Stubber(client)
    stubber.add_client_error(
        "post_to_connection", service_error_code="LimitExceededException", http_status_code=429
    )
    stubber.activate()
    handler = websocket_handler(
        streaming_assistant(FakeModel()),
        sender_for=ManagementApi(Settings(), client_factory=lambda _: client),
    )
    assert handler(message("c-4", event("session_start")), Context()) == {"statusCode": 200}
    assert handler.transport.engine.store.load(SESSION_ID) is not None  # the greeting was saved


def test_the_endpoint_can_be_overridden_for_a_custom_domain(monkeypatch: Any) -> None:
    monkeypatch.setenv("AIFLOW_WS_ENDPOINT", "https://voice.example.com/ws")
    api = ManagementApi(Settings.from_env())
    assert api.endpoint_for({"domainName": DOMAIN, "stage": STAGE}) == (
        "https://voice.example.com/ws"
    )
    monkeypatch.delenv("AIFLOW_WS_ENDPOINT")
    assert (
        ManagementApi(Settings.from_env()).endpoint_for({"domainName": DOMAIN, "stage": STAGE})
        == ENDPOINT
    )


def test_defaults_use_the_call_table_for_connections(aws: Any) -> None:
    handler = websocket_handler(Assistant("a"))
    assert isinstance(handler.transport.connections, DynamoDBConnections)
    assert handler.transport.connections.store.table_name == TABLE


def test_binary_frames_and_bad_frames(aws: Any) -> None:
    import base64

    handler = websocket_handler(streaming_assistant(FakeModel()))
    recorded = Recorded(handler)
    framed = request(
        "$default",
        "c-5",
        body=base64.b64encode(event("session_start").encode()).decode(),
        isBase64Encoded=True,
    )
    assert handler(framed, Context()) == {"statusCode": 200}
    assert recorded.texts("c-5") == ["Hello, how can I help?"]
    for body in ("{", "not base64!"):
        bad = request("$default", "c-5", body=body, isBase64Encoded=body != "{")
        assert handler(bad, Context()) == {"statusCode": 200}
    assert len(recorded.frames) == 1


def test_the_lambda_time_left_limits_the_turn(aws: Any) -> None:
    release = threading.Event()
    assistant = Assistant("slow")

    @assistant.on_user_speak
    def answer() -> str:
        release.wait(5)
        return "late"

    handler = websocket_handler(assistant)
    recorded = Recorded(handler)
    started = time.monotonic()
    handler(message("c-6", event("user_speak", text="?")), Context(remaining_ms=1300))
    release.set()
    assert time.monotonic() - started < 1.5
    assert recorded.texts("c-6") == [assistant.slow_apology]


def test_importing_the_app_module_builds_no_websocket_transport() -> None:
    handler = websocket_handler(Assistant("lazy"))
    assert handler._transport is None
