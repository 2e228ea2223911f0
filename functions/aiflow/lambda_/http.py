"""The Lambda handler for the HTTP webhook (API Gateway HTTP API, payload format 2.0).

Routing is Powertools' ``APIGatewayHttpResolver``: ``POST /webhook`` runs the assistant
through :class:`aiflow.webhook.Webhook`; anything else gets a JSON 404/405. Only the
``lambda_`` package knows about API Gateway.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from ..assistant import Assistant
from ..auth import TokenSource
from ..clock import Clock
from ..deadline import Deferrer
from ..redact import log_failure
from ..routing import Router
from ..settings import Settings
from ..store.base import CallStore
from ..webhook import Webhook
from .aws import token_source
from .observability import Observer
from .wiring import build_engine

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
# Keep this much of the Lambda timeout for answering after the handler gave up.
_SAFETY_MS = 300


def lambda_handler(
    assistant: Assistant | Router,
    *,
    store: CallStore | None = None,
    token: str | TokenSource | None = None,
    settings: Settings | None = None,
    deferrer: Deferrer | None = None,
    clock: Clock | None = None,
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
        clock: wall time for call timestamps (tests pass a :class:`~aiflow.FakeClock`).
    """
    settings = settings or Settings.from_env()
    engine = build_engine(assistant, settings, store=store, deferrer=deferrer, clock=clock)
    webhook = Webhook(
        engine,
        token=token if token is not None else token_source(settings),
        max_body_bytes=settings.max_body_bytes,
    )
    observer = Observer(assistant.name, settings)
    webhook.on_event = observer.event
    app = APIGatewayHttpResolver()

    @app.post("/webhook")
    def _webhook() -> Response[str]:
        started = time.perf_counter()
        request = app.current_event
        body = _raw_body(request.body, bool(request.is_base64_encoded))
        reply = webhook.handle(request.headers or {}, body, budget_ms=_budget(app, settings))
        observer.finish(
            reply.status,
            reply.report,
            (time.perf_counter() - started) * 1000,
            error=reply.error,
            body=reply.body,
        )
        content_type = "application/json" if reply.body is not None else None
        return Response(status_code=reply.status, content_type=content_type, body=reply.body)

    @app.route(
        "/webhook", method=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    )  # template.yaml routes ANY /webhook here, so that a wrong method is told what is right
    def _wrong_method() -> Response[str]:
        response = _json(405, "method_not_allowed", "the webhook takes POST only")
        response.headers["Allow"] = "POST"
        return response

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return _json(404, "not_found", "the only route is POST /webhook")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(exc: Exception) -> Response[str]:
        log_failure(
            logging.getLogger("aiflow"),
            "unexpected error outside the webhook core",
            error=exc,
            redact=settings.redact_logs,
        )
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
    handler.engine = engine  # type: ignore[attr-defined]
    return handler


def _raw_body(body: str | None, is_base64: bool) -> bytes:
    if body is None:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            return b"\x00not base64"  # parse_event answers 400 "not valid JSON"
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        return b"\xff"  # not UTF-8: parse_event answers 400


def _budget(app: APIGatewayHttpResolver, settings: Settings) -> float | None:
    context = app.lambda_context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return float(max(0, min(settings.answer_budget_ms, remaining() - _SAFETY_MS)))
    return None


def _json(status: int, code: str, message: str) -> Response[str]:
    body = json.dumps({"code": code, "message": message})
    return Response(status_code=status, content_type="application/json", body=body)
