"""The framework's configuration, read once from environment variables and passed down.

``template.yaml`` (or the dev server) sets the variables; :meth:`Settings.from_env` reads them
in one place, so no other module of the framework looks at the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import AiflowError
from .plain import FrozenValue


class SettingsError(AiflowError):
    """An environment variable has a value we cannot use."""

    code = "bad_setting"


@dataclass(frozen=True, eq=False, repr=False)  # FrozenValue: ==, hash, repr
class Settings(FrozenValue):
    """What ``template.yaml`` (or the dev server) passes in the environment.

    Attributes:
        table_name: ``AIFLOW_TABLE_NAME``, the DynamoDB table of call records.
        api_token: ``AIFLOW_API_TOKEN``, a token given directly (local development).
        token_secret: ``AIFLOW_TOKEN_SECRET``, the Secrets Manager secret holding the token.
        token_cache_seconds: ``AIFLOW_TOKEN_CACHE_SECONDS``: a rotated token is picked up
            within this time, without a redeploy.
        max_body_bytes: ``AIFLOW_MAX_BODY_BYTES``; larger bodies get 413.
        call_ttl_seconds: ``AIFLOW_CALL_TTL_SECONDS``, lifetime of a call record.
        turn_budget_ms: ``AIFLOW_TURN_BUDGET_MS``, the handler's time before the deadline
            guard says a filler (or the caller hears the fallback).
        answer_budget_ms: ``AIFLOW_ANSWER_BUDGET_MS``, the longest time from a request's
            arrival to its answer, whatever a dependency does (default 2800; the platform
            tolerates about 5 s).
        redact_logs: ``AIFLOW_LOG_REDACT`` (default true): mask numbers, drop transcripts.
        worker_function: ``AIFLOW_WORKER_FUNCTION``, the asynchronous worker for slow turns.
        ws_endpoint: ``AIFLOW_WS_ENDPOINT``, a fixed WebSocket callback URL (custom domain).
        bedrock_model_id: ``AIFLOW_BEDROCK_MODEL_ID``, the model of Bedrock-based assistants.
        record_calls: ``AIFLOW_RECORD_CALLS`` (default false; template parameter
            ``EnableCallRecords``): record the calls of every assistant that does not say
            ``record_calls=False`` (see :mod:`aiflow.records`).
        records_table: ``AIFLOW_RECORDS_TABLE``, the DynamoDB table of finished call records.
        record_retention_days: ``AIFLOW_RECORD_RETENTION_DAYS`` (default 30; template
            parameter ``CallRecordRetentionDays``): how long a finished record is kept.
        in_lambda: ``AWS_LAMBDA_FUNCTION_NAME`` is set (create clients during init).
        service: ``POWERTOOLS_SERVICE_NAME`` (default: the assistant's name).
        metrics_namespace: ``POWERTOOLS_METRICS_NAMESPACE`` (default ``AiFlow``).
    """

    table_name: str | None = None
    api_token: str | None = field(default=None, repr=False)  # a secret: never in a repr
    token_secret: str | None = None
    token_cache_seconds: int = 300
    max_body_bytes: int = 256 * 1024
    call_ttl_seconds: int = 24 * 3600
    turn_budget_ms: int = 2500
    answer_budget_ms: int = 2800
    redact_logs: bool = True
    worker_function: str | None = None
    ws_endpoint: str | None = None
    bedrock_model_id: str | None = None
    record_calls: bool = False
    records_table: str | None = None
    record_retention_days: int = 30
    in_lambda: bool = False
    service: str | None = None
    metrics_namespace: str = "AiFlow"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raises :class:`SettingsError` naming a bad variable."""
        env = os.environ if env is None else env
        return cls(
            table_name=env.get("AIFLOW_TABLE_NAME") or None,
            api_token=env.get("AIFLOW_API_TOKEN") or None,
            token_secret=env.get("AIFLOW_TOKEN_SECRET") or None,
            token_cache_seconds=_int(env, "AIFLOW_TOKEN_CACHE_SECONDS", 300),
            max_body_bytes=_int(env, "AIFLOW_MAX_BODY_BYTES", 256 * 1024),
            call_ttl_seconds=_int(env, "AIFLOW_CALL_TTL_SECONDS", 24 * 3600),
            turn_budget_ms=_int(env, "AIFLOW_TURN_BUDGET_MS", 2500),
            answer_budget_ms=_int(env, "AIFLOW_ANSWER_BUDGET_MS", 2800, maximum=29_000),
            redact_logs=_bool(env, "AIFLOW_LOG_REDACT", True),
            worker_function=env.get("AIFLOW_WORKER_FUNCTION") or None,
            ws_endpoint=env.get("AIFLOW_WS_ENDPOINT") or None,
            bedrock_model_id=env.get("AIFLOW_BEDROCK_MODEL_ID") or None,
            record_calls=_bool(env, "AIFLOW_RECORD_CALLS", False),
            records_table=env.get("AIFLOW_RECORDS_TABLE") or None,
            record_retention_days=_int(env, "AIFLOW_RECORD_RETENTION_DAYS", 30, maximum=3650),
            in_lambda=bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
            service=env.get("POWERTOOLS_SERVICE_NAME") or None,
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or "AiFlow",
        )


def runtime_handler(env: Mapping[str, str] | None = None) -> str:
    """The handler the Lambda runtime loads (``_HANDLER``, e.g.
    ``aiflow.lambda_.main.webhook``); empty outside Lambda."""
    env = os.environ if env is None else env
    return env.get("_HANDLER", "")


def _int(env: Mapping[str, str], name: str, default: int, *, maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than 0, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")
