"""A local stand-in for API Gateway (HTTP API, payload format 2.0) in front of a Lambda handler.

The dev server and the call simulator both send every request through :class:`LocalGateway`:
it builds the event API Gateway would build, calls the real Lambda handler (the one
:func:`aiflow.lambda_.lambda_handler` returns) with a Lambda-like context, and turns the
handler's result back into status, headers and body. So routing, auth, parsing and status
codes run exactly as deployed. Standard library only.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("aiflow.dev")
LambdaHandler = Callable[[dict[str, Any], Any], Any]
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")


@dataclass
class LocalContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    function_name: str = "aiflow-local"
    memory_limit_in_mb: int = 512
    timeout_ms: int = 10_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/aiflow-local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """A well-formed ARN (some libraries parse it)."""
        return f"arn:aws:lambda:eu-central-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) Lambda timeout."""
        elapsed = (time.monotonic() - self._started) * 1000
        return max(0, int(self.timeout_ms - elapsed))


@dataclass(frozen=True)
class GatewayResponse:
    """What API Gateway would send back to the client."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")


def http_api_event(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The API Gateway HTTP API (v2) event for one request.

    Args:
        method: ``POST``, ``GET``, ...
        target: the request target, path plus optional query (``/webhook?x=1``).
        headers: request headers; names are lower-cased as API Gateway does.
        body: the raw body; text types are passed as text, anything else (and a "text"
            body that is not UTF-8) base64-encoded, as API Gateway does.
        source_ip: the client address.
    """
    parts = urlsplit(target)
    path = parts.path or "/"
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    content_type = lowered.get("content-type", "application/json")
    is_text = not body or (content_type.startswith(_TEXT_TYPES) and _is_utf8(body))
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if parts.query:
        query: dict[str, str] = {}
        for pair in parts.query.split("&"):
            key, _, value = pair.partition("=")
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    if body:
        event["body"] = body.decode("utf-8") if is_text else base64.b64encode(body).decode()
    return event


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def lambda_response(result: Any) -> GatewayResponse:
    """Turn a Lambda handler's return value into an HTTP response, as HTTP API v2 does.

    A dict with ``statusCode`` is a full response; anything else is sent as a 200 JSON body.
    """
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(name)] = ",".join(str(v) for v in values)
        if result.get("cookies"):
            headers["Set-Cookie"] = "; ".join(result["cookies"])
        raw = result.get("body")
        if raw is None:
            body = b""
        elif result.get("isBase64Encoded"):
            body = base64.b64decode(raw)
        else:
            body = str(raw).encode("utf-8")
        return GatewayResponse(int(result["statusCode"]), headers, body)
    text = result if isinstance(result, str) else json.dumps(result)
    return GatewayResponse(200, {"Content-Type": "application/json"}, text.encode("utf-8"))


class LocalGateway:
    """Calls a Lambda handler the way API Gateway (HTTP API, v2 payload) would.

    Args:
        handler: the Lambda handler.
        timeout_ms: the simulated Lambda timeout (``get_remaining_time_in_millis``).
    """

    def __init__(self, handler: LambdaHandler, *, timeout_ms: int = 10_000) -> None:
        self.handler = handler
        self.timeout_ms = timeout_ms

    def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> GatewayResponse:
        """Answer one HTTP request. A handler that raises gets the 500 API Gateway sends."""
        event = http_api_event(method, target, headers, body)
        return self.invoke(event, LocalContext(timeout_ms=self.timeout_ms))

    def invoke(self, event: dict[str, Any], context: Any = None) -> GatewayResponse:
        """Call the handler with an API Gateway event as it is (e.g. a sample event)."""
        context = context if context is not None else LocalContext(timeout_ms=self.timeout_ms)
        try:
            result = self.handler(event, context)
        except Exception:
            logger.exception("the Lambda handler raised; API Gateway answers 500")
            body = json.dumps({"message": "Internal Server Error"}).encode()
            return GatewayResponse(500, {"Content-Type": "application/json"}, body)
        return lambda_response(result)
