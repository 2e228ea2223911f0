"""The Lambda handler for the HTTP webhook (API Gateway HTTP API, payload format 2.0).

Routing is Powertools' ``APIGatewayHttpResolver``: ``POST /webhook`` runs the assistant
through :class:`aiflow.webhook.Webhook`; anything else gets a JSON 404/405. Only this
module knows about API Gateway.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from ..assistant import Assistant
from ..deadline import Deferrer
from ..redact import log_failure
from ..store.base import CallStore
from ..store.memory import MemoryStore
from ..webhook import TokenSource, Webhook
from .observability import Observer
from .settings import Settings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
# Keep this much of the Lambda timeout for answering after the handler gave up.
_SAFETY_MS = 300


def lambda_handler(
    assistant: Assistant,
    *,
    store: CallStore | None = None,
    token: str | TokenSource | None = None,
    settings: Settings | None = None,
    deferrer: Deferrer | None = None,
) -> LambdaHandler:
    """Turn ``assistant`` into a Lambda handler for ``POST /webhook``.

    Args:
        assistant: the assistant to run.
        store: call records; default DynamoDB (``AIFLOW_TABLE_NAME``), else in memory.
        token: the expected token or a function returning it; default
            ``AIFLOW_API_TOKEN``, else the Secrets Manager secret ``AIFLOW_TOKEN_SECRET``.
        settings: default :meth:`Settings.from_env`.
        deferrer: how slow turns reach the worker; default the Lambda function
            ``AIFLOW_WORKER_FUNCTION`` when set, else none (slow turns get the fallback).
    """
    settings = settings or Settings.from_env()
    webhook = Webhook(
        assistant,
        store=store or default_store(settings),
        token=token if token is not None else token_source(settings),
        max_body_bytes=settings.max_body_bytes,
        turn_budget_ms=settings.turn_budget_ms,
        deferrer=deferrer or default_deferrer(settings),
    )
    observer = Observer(assistant.name, redact_logs=settings.redact_logs)
    webhook.on_event = observer.event
    app = APIGatewayHttpResolver()

    @app.post("/webhook")
    def _webhook() -> Response[str]:
        started = time.perf_counter()
        request = app.current_event
        body = _raw_body(request.body, bool(request.is_base64_encoded))
        reply = webhook.handle(request.headers or {}, body, budget_ms=_budget(app, settings))
        observer.finish(reply, (time.perf_counter() - started) * 1000)
        content_type = "application/json" if reply.body is not None else None
        return Response(status_code=reply.status, content_type=content_type, body=reply.body)

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return _json(404, "not_found", "the only route is POST /webhook")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(exc: Exception) -> Response[str]:
        log_failure(logging.getLogger("aiflow"), "unexpected error outside the webhook core")
        return _json(500, "internal_error", "the webhook failed; see its logs")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        observer.start(context)
        try:
            return app.resolve(event, context)
        finally:
            # Routes outside the webhook (404/405) record nothing: no empty-flush warning.
            if observer.metrics.metric_set:
                observer.metrics.flush_metrics(raise_on_empty_metrics=False)
            # With POWERTOOLS_METRICS_DISABLED the flush keeps the set: start every
            # invocation afresh.
            observer.metrics.clear_metrics()

    handler.webhook = webhook  # type: ignore[attr-defined]  # for tests and the dev server
    return handler


def default_store(settings: Settings) -> CallStore:
    """DynamoDB when a table is configured, else a per-process memory store."""
    if settings.table_name:
        from ..store.dynamodb import DynamoDBStore

        store = DynamoDBStore(settings.table_name, ttl_seconds=settings.call_ttl_seconds)
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            _ = store.client  # create the client during init, which has the CPU boost
        return store
    return MemoryStore(ttl_seconds=settings.call_ttl_seconds)


def default_deferrer(settings: Settings) -> Deferrer | None:
    """The worker Lambda function, invoked asynchronously, if one is configured."""
    if not settings.worker_function:
        return None
    from ..deadline import LambdaDeferrer

    # Its client is created on the first slow turn: the Lambda service model costs ~30 ms,
    # which every cold start would pay, while most instances never need it.
    return LambdaDeferrer(settings.worker_function)


def token_source(settings: Settings) -> TokenSource:
    """Where the expected token comes from: the environment, else Secrets Manager (cached)."""
    if settings.api_token:
        fixed = settings.api_token
        return lambda: fixed
    if settings.token_secret:
        secret, max_age = settings.token_secret, settings.token_cache_seconds

        provider: Any = None

        def read_secret() -> str | None:
            nonlocal provider
            if provider is None:
                import boto3
                from aws_lambda_powertools.utilities.parameters import SecretsProvider

                # A client of the default session: Powertools' own would build a new
                # session and load botocore's data again (~70 ms on the first call).
                provider = SecretsProvider(boto3_client=boto3.client("secretsmanager"))
            value = provider.get(secret, max_age=max_age)
            return value if isinstance(value, str) else None

        return read_secret
    return lambda: None


def _raw_body(body: str | None, is_base64: bool) -> bytes:
    if body is None:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            return b"\x00not base64"  # parse_event answers 400 "not valid JSON"
    return body.encode()


def _budget(app: APIGatewayHttpResolver, settings: Settings) -> float:
    context = app.lambda_context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return float(max(0, min(settings.turn_budget_ms, remaining() - _SAFETY_MS)))
    return float(settings.turn_budget_ms)


def _json(status: int, code: str, message: str) -> Response[str]:
    body = json.dumps({"code": code, "message": message})
    return Response(status_code=status, content_type="application/json", body=body)
