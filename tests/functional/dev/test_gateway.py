"""The local API Gateway builds HTTP API v2 events and turns Lambda results into responses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from aiflow.local.gateway import LocalContext, LocalGateway, http_api_event, lambda_response


def test_a_request_becomes_an_http_api_v2_event() -> None:
    event = http_api_event(
        "post",
        "/webhook?debug=1&x=a&x=b",
        {"Content-Type": "application/json", "X-API-TOKEN": "secret", "Host": "127.0.0.1:3000"},
        b'{"type":"session_start"}',
    )

    assert event["version"] == "2.0"
    assert event["rawPath"] == "/webhook"
    assert event["rawQueryString"] == "debug=1&x=a&x=b"
    assert event["queryStringParameters"] == {"debug": "1", "x": "a,b"}
    assert event["headers"]["x-api-token"] == "secret"  # lower-cased, as API Gateway does
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["path"] == "/webhook"
    assert event["body"] == '{"type":"session_start"}'
    assert event["isBase64Encoded"] is False


def test_a_binary_body_is_base64_encoded() -> None:
    event = http_api_event("POST", "/webhook", {"Content-Type": "audio/wav"}, b"\x00\xff")

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"


def test_lambda_results_become_responses() -> None:
    full = lambda_response(
        {"statusCode": 204, "headers": {"X-A": "1"}, "body": "", "isBase64Encoded": False}
    )
    encoded = lambda_response(
        {"statusCode": 200, "body": base64.b64encode(b"hi").decode(), "isBase64Encoded": True}
    )
    bare = lambda_response({"ok": True})

    assert (full.status, full.headers, full.body) == (204, {"X-A": "1"}, b"")
    assert encoded.body == b"hi"
    assert (bare.status, json.loads(bare.body)) == (200, {"ok": True})


def test_a_handler_that_raises_gets_api_gateways_500() -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    response = LocalGateway(broken).request("POST", "/webhook", {}, b"{}")

    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal Server Error"}


def test_the_context_counts_down_the_remaining_time() -> None:
    context = LocalContext(timeout_ms=3000)

    assert 2900 < context.get_remaining_time_in_millis() <= 3000
    assert context.invoked_function_arn.endswith(":function:aiflow-local")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_method_on_the_webhook_is_405_with_allow_post(method: str) -> None:
    from aiflow.lambda_ import Settings, lambda_handler
    from aiflow.store import MemoryStore
    from tests.examples.hello import assistant

    handler = lambda_handler(assistant, store=MemoryStore(), token="t", settings=Settings())

    response = LocalGateway(handler).request(method, "/webhook", {"X-API-TOKEN": "t"})

    assert response.status == 405
    assert response.headers.get("Allow") == "POST"
    assert json.loads(response.body)["code"] == "method_not_allowed"
