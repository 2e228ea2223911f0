"""The lean hand-written webhook: what a competent developer writes by hand on our stack.

The reference for the first-answer cold start (bench/README.md, section 1a). Powertools
Logger, Metrics and ``APIGatewayHttpResolver``; one pydantic event model; the API token
from the Secrets Manager secret ``AIFLOW_TOKEN_SECRET`` (read on first use, cached for
``AIFLOW_TOKEN_CACHE_SECONDS``, compared in constant time); the call state in one DynamoDB
``UpdateItem``; boto3 clients with short timeouts created at import (during init, as AWS
recommends). It greets on ``session_start`` and answers every other event with 204: a
reference for the first answer, not an assistant.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from pydantic import BaseModel, ConfigDict, ValidationError

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()

_AWS_CONFIG = Config(connect_timeout=0.3, read_timeout=0.6, retries={"total_max_attempts": 2})
dynamodb = boto3.client("dynamodb", config=_AWS_CONFIG)
secrets = boto3.client("secretsmanager", config=_AWS_CONFIG)

TABLE = os.environ["AIFLOW_TABLE_NAME"]
TOKEN_SECRET = os.environ["AIFLOW_TOKEN_SECRET"]
TOKEN_CACHE_SECONDS = float(os.environ.get("AIFLOW_TOKEN_CACHE_SECONDS", "300"))
TTL_SECONDS = int(os.environ.get("AIFLOW_CALL_TTL_SECONDS", "86400"))
GREETING = "Good morning, Praxis Dr. Weber. How can I help you?"

_token: tuple[str, float] | None = None


class Session(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    account_id: str | None = None
    phone_number: str | None = None
    direction: str | None = None
    from_phone_number: str | None = None
    to_phone_number: str | None = None


class Event(BaseModel):
    """An AI Flow event: the fields this webhook reads; the rest is kept as extra."""

    model_config = ConfigDict(extra="allow")

    type: str
    session: Session
    text: str | None = None


def expected_token() -> str:
    global _token
    now = time.monotonic()
    if _token is None or now - _token[1] > TOKEN_CACHE_SECONDS:
        _token = (secrets.get_secret_value(SecretId=TOKEN_SECRET)["SecretString"], now)
    return _token[0]


def error(status: int, code: str, message: str) -> Response[str]:
    body = json.dumps({"code": code, "message": message})
    return Response(status_code=status, content_type="application/json", body=body)


@app.post("/webhook")
def webhook() -> Response[str]:
    request = app.current_event
    supplied = request.headers.get("x-api-token") or ""
    if not hmac.compare_digest(supplied.encode(), expected_token().encode()):
        return error(401, "unauthorized", "the X-API-TOKEN header is missing or wrong")
    try:
        event = Event.model_validate_json(request.body or "")
    except ValidationError as exc:
        return error(400, "invalid_event", f"the body is not an event ({exc.error_count()})")
    now = int(time.time())
    dynamodb.update_item(
        TableName=TABLE,
        Key={"session_id": {"S": event.session.id}},
        UpdateExpression=(
            "SET #status = :status, last_event = :type, expires_at = :expires,"
            " started_at = if_not_exists(started_at, :now) ADD version :one"
        ),
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": "ended" if event.type == "session_end" else "active"},
            ":type": {"S": event.type},
            ":expires": {"N": str(now + TTL_SECONDS)},
            ":now": {"N": str(now)},
            ":one": {"N": "1"},
        },
    )
    metrics.add_metric(name="Events", unit=MetricUnit.Count, value=1)
    logger.info("event answered", extra={"event_type": event.type})
    if event.type != "session_start":
        return Response(status_code=204)
    reply = {"type": "speak", "session_id": event.session.id, "text": GREETING}
    return Response(status_code=200, content_type="application/json", body=json.dumps(reply))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
