"""Configuration of the Lambda functions, read once from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import AiflowError


class SettingsError(AiflowError):
    """An environment variable has a value we cannot use."""

    code = "bad_setting"


@dataclass(frozen=True)
class Settings:
    """What ``template.yaml`` (or the dev server) passes in the environment.

    Attributes:
        table_name: ``AIFLOW_TABLE_NAME``, the DynamoDB table of call records.
        api_token: ``AIFLOW_API_TOKEN``, a token given directly (local development).
        token_secret: ``AIFLOW_TOKEN_SECRET``, the Secrets Manager secret holding the token.
        token_cache_seconds: ``AIFLOW_TOKEN_CACHE_SECONDS``: a rotated token is picked up
            within this time, without a redeploy.
        max_body_bytes: ``AIFLOW_MAX_BODY_BYTES``; larger bodies get 413.
        call_ttl_seconds: ``AIFLOW_CALL_TTL_SECONDS``, lifetime of a call record.
        turn_budget_ms: ``AIFLOW_TURN_BUDGET_MS``, time a turn may take before fallback.
        redact_logs: ``AIFLOW_LOG_REDACT`` (default true): mask numbers, drop transcripts.
        worker_function: ``AIFLOW_WORKER_FUNCTION``, the asynchronous worker for slow turns.
    """

    table_name: str | None = None
    api_token: str | None = None
    token_secret: str | None = None
    token_cache_seconds: int = 300
    max_body_bytes: int = 256 * 1024
    call_ttl_seconds: int = 24 * 3600
    turn_budget_ms: int = 2500
    redact_logs: bool = True
    worker_function: str | None = None

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
            redact_logs=_bool(env, "AIFLOW_LOG_REDACT", True),
            worker_function=env.get("AIFLOW_WORKER_FUNCTION") or None,
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than 0, got {value}")
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
