"""Shared, stdlib-only helpers of the benchmark (the cold-start child imports this module
before its timer starts, so it must stay cheap to import)."""

from __future__ import annotations

import functools
import json
import math
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

REGION = "eu-central-1"
# The deployed webhook (template.yaml: Handler of WebhookFunction, Assistant parameter).
DEPLOYED_ENTRY = "aiflow.lambda_.main:webhook"
DEPLOYED_ASSISTANT = "receptionist.app:assistant"
TABLE_NAME = "aiflow-bench-calls"
TOKEN = "bench-token-0123456789"
TOKEN_SECRET = "aiflow-bench-token"
WORKER_FUNCTION = "aiflow-bench-worker"

# The environment of the deployed webhook function (template.yaml: Globals + WebhookFunction),
# plus what the Lambda runtime itself sets. Credentials are dummies: nothing leaves the host.
LAMBDA_ENV: dict[str, str] = {
    "AWS_LAMBDA_FUNCTION_NAME": "aiflow-bench-webhook",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/aiflow-bench-webhook",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/02/[$LATEST]0123456789abcdef",
    "_HANDLER": DEPLOYED_ENTRY.replace(":", "."),
    "_X_AMZN_TRACE_ID": "Root=1-6957b336-a750a206e8774a03d87c905a;Sampled=0",
    "TZ": ":UTC",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AIFLOW_TABLE_NAME": TABLE_NAME,
    "AIFLOW_CALL_TTL_SECONDS": "86400",
    "AIFLOW_TURN_BUDGET_MS": "2500",
    "AIFLOW_LOG_REDACT": "true",
    "AIFLOW_TOKEN_SECRET": TOKEN_SECRET,
    "AIFLOW_API_TOKEN": "",  # declared empty in template.yaml: the secret is used
    "AIFLOW_TOKEN_CACHE_SECONDS": "300",
    "AIFLOW_MAX_BODY_BYTES": "262144",
    "AIFLOW_WORKER_FUNCTION": WORKER_FUNCTION,
    "AIFLOW_ASSISTANT": DEPLOYED_ASSISTANT,
    "POWERTOOLS_SERVICE_NAME": "aiflow",
    "POWERTOOLS_METRICS_NAMESPACE": "AiFlow",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

RESULT_MARKER = "BENCH_RESULT "


class FakeContext:
    """The parts of the Lambda context object that Powertools and aiflow read."""

    function_name = LAMBDA_ENV["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = (
        f"arn:aws:lambda:{REGION}:123456789012:function:{LAMBDA_ENV['AWS_LAMBDA_FUNCTION_NAME']}"
    )
    log_group_name = "/aws/lambda/aiflow-bench-webhook"
    log_stream_name = "bench"

    def __init__(self, timeout_ms: int = 10_000) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def http_event(body: dict[str, Any] | str, *, token: str = TOKEN) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for ``POST /webhook``."""
    raw = body if isinstance(body, str) else json.dumps(body)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "content-length": str(len(raw.encode())),
            "content-type": "application/json",
            "host": "bench.execute-api.eu-central-1.amazonaws.com",
            "user-agent": "sipgate-ai-flow",
            "x-api-token": token,
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.eu-central-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {
                "method": "POST",
                "path": "/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "sipgate-ai-flow",
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": "POST /webhook",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": raw,
        "isBase64Encoded": False,
    }


def session(session_id: str | None = None) -> dict[str, Any]:
    """The ``session`` object of an AI Flow event."""
    return {
        "id": session_id or str(uuid.uuid4()),
        "account_id": "bench-account",
        "phone_number": "+4921100000000",
        "direction": "inbound",
        "from_phone_number": "+4917612345678",
        "to_phone_number": "+4921100000000",
    }


def call_events(session_id: str, user_turns: int = 3) -> list[dict[str, Any]]:
    """The events of one complete call, in the order the platform sends them."""
    sess = session(session_id)
    texts = ["Hello, I have a question", "What are your opening hours", "Thank you"]
    events: list[dict[str, Any]] = [{"type": "session_start", "session": sess}]
    for i in range(user_turns):
        events.append({"type": "user_speak", "text": texts[i % len(texts)], "session": sess})
    events += [
        {"type": "assistant_speak", "text": "You said: Thank you", "duration_ms": 1800,
         "speech_started_at": int(time.time() * 1000), "session": sess},
        {"type": "assistant_speech_ended", "session": sess},
        {"type": "dtmf_received", "digit": "1", "session": sess},
        {"type": "user_input_timeout", "session": sess},
        {"type": "session_end", "reason": "caller_hangup", "session": sess},
    ]  # fmt: skip
    return events


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a child interpreter: the Lambda variables and little else."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(LAMBDA_ENV)
    env.update(_compiled_config())
    env.update(extra or {})
    return env


@functools.cache
def _compiled_config() -> dict[str, str]:
    """Point the receptionist at a copy of its YAML compiled to JSON, as in the built
    artifact (functions/Makefile compiles it), so the cold start measured is Lambda's.
    Runs in the parent only (children import this module inside the timer)."""
    import shutil
    import tempfile
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "functions/receptionist/receptionist.yaml"
    if not source.exists():
        return {}
    target = Path(tempfile.mkdtemp(prefix="aiflow-bench-")) / "receptionist.yaml"
    shutil.copy(source, target)
    try:
        from receptionist.config import compile_config

        compile_config(target)
    except Exception as exc:  # the benchmark still runs, on the YAML path
        print(f"  (could not compile receptionist.yaml: {exc}; measuring the YAML path)")
    return {"RECEPTIONIST_CONFIG": str(target)}


COMPILED_CONFIG = _compiled_config()
