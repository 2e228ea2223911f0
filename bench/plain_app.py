"""The plain webhook a user writes from sipgate's AI Flow quick start (a second reference).

No framework and no models: the Powertools Logger, a DynamoDB ``Table`` resource and a
Secrets Manager client from boto3, the body read with ``json.loads``. Greets on
``session_start``, stores the call, answers everything else with 204.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger

logger = Logger()
table = boto3.resource("dynamodb").Table(os.environ["AIFLOW_TABLE_NAME"])
secrets = boto3.client("secretsmanager")
TOKEN: str | None = None


def answer(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    if body is None:
        return {"statusCode": status}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global TOKEN
    if TOKEN is None:
        secret = secrets.get_secret_value(SecretId=os.environ["AIFLOW_TOKEN_SECRET"])
        TOKEN = secret["SecretString"]
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if not hmac.compare_digest(headers.get("x-api-token", "").encode(), TOKEN.encode()):
        return answer(401, {"error": "unauthorized"})
    try:
        body = json.loads(event.get("body") or "")
        kind, session_id = body["type"], body["session"]["id"]
    except (ValueError, KeyError, TypeError):
        return answer(400, {"error": "not an AI Flow event"})
    logger.info("event", extra={"event_type": kind})

    if kind == "session_start":
        session = body["session"]
        table.put_item(
            Item={
                "session_id": session_id,
                "status": "active",
                "caller": session.get("from_phone_number", ""),
                "started_at": int(time.time()),
                "expires_at": int(time.time()) + 86400,
            }
        )
        text = "Hello! Thanks for calling. How can I help you?"
        return answer(200, {"type": "speak", "session_id": session_id, "text": text})
    if kind == "session_end":
        table.update_item(
            Key={"session_id": session_id},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": "ended"},
        )
    return answer(204)
