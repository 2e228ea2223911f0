"""The baseline: the minimum any Powertools webhook Lambda of this kind has.

Powertools Logger + Metrics + ``APIGatewayHttpResolver`` with one ``POST`` route, one small
pydantic model validating the body, and a DynamoDB client created at import. The route does
what a stateful webhook must do at least: one ``GetItem`` and one ``PutItem``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ValidationError

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()
dynamodb = boto3.client("dynamodb")
TABLE = os.environ.get("AIFLOW_TABLE_NAME", "calls")


class Session(BaseModel):
    id: str


class Event(BaseModel):
    type: str
    session: Session
    text: str | None = None


@app.post("/webhook")
def webhook() -> Response[str]:
    try:
        event = Event.model_validate_json(app.current_event.body or "")
    except ValidationError:
        return Response(status_code=400, content_type="application/json", body='{"code":"bad"}')
    key = {"session_id": {"S": event.session.id}}
    found = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
    version = int(found.get("Item", {}).get("version", {}).get("N", "0"))
    dynamodb.put_item(
        TableName=TABLE,
        Item={**key, "version": {"N": str(version + 1)}, "doc": {"S": event.model_dump_json()}},
    )
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    logger.info("request answered", extra={"event_type": event.type})
    reply = {"type": "speak", "session_id": event.session.id, "text": "Hello!"}
    return Response(status_code=200, content_type="application/json", body=json.dumps(reply))


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
