"""The configuration of a :class:`~aiflow.agents.BedrockAgent`: model, prompt, tools, limits,
the built-in sentences and the settings of the ``bedrock-runtime`` client."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..call_tools import TransferTarget

DEFAULT_READ_TIMEOUT_S = 10.0
"""Read timeout without ``read_timeout_s`` or ``turn_budget_s``. Over HTTP the deadline guard
covers about 2.5 s plus three fillers of ~2.3 s before the caller hears the apology, so an
answer that has not started after 10 s is never heard; waiting longer only holds a Lambda."""

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "handoff": "One moment, please, I am connecting you.",
        "farewell": "Goodbye!",
        "limit": "Sorry, I could not finish that. Could you please say it again?",
    },
    "de": {
        "handoff": "Einen Moment bitte, ich verbinde Sie.",
        "farewell": "Auf Wiederhören!",
        "limit": "Entschuldigung, das hat nicht geklappt. Können Sie das bitte noch einmal sagen?",
    },
}


class BedrockConfig(BaseModel):
    """Configuration of a :class:`BedrockAgent` (also accepted as a plain dict, e.g. YAML).

    Attributes:
        model_id: Bedrock model or inference-profile id (``eu.…`` for cross-region inference).
        system_prompt: the instructions for the model.
        region: AWS region of the client (default: ``AWS_REGION`` of the Lambda).
        endpoint_url: another endpoint for the client (a VPC endpoint; default: the AWS one).
        transfer_targets: name → :class:`TransferTarget` for the ``transfer_call`` tool.
        allow_sms: offer the ``send_sms`` tool (SMS must be enabled for the AI Flow).
        allow_hangup: offer the ``end_call`` tool.
        allow_digits: offer the ``collect_digits`` tool.
        max_tool_steps: at most this many model calls per caller turn.
        max_tokens: answer length limit per model call.
        temperature: sampling temperature (omitted: the model's default).
        history_messages: how many Bedrock messages are kept between turns.
        max_tool_result_chars: tool results longer than this are cut.
        turn_budget_s: do not start another model call once the turn took this long; also
            the default read timeout.
        language: ``"en"`` or ``"de"``: the built-in sentences below.
        handoff_text, farewell_text: said when the model gives an empty handoff/farewell.
        limit_text: said when the tool steps or the time budget ran out.
        state_key: the key in ``call.state`` for the history.
        cache_prompt: add prompt-cache points after the system prompt and the tools.
        tool_error_status: send ``status: "error"`` in failed tool results (turn off for
            models that reject the field).
        connect_timeout_s: seconds to open the connection (default 1: the endpoint is in
            the same region, a slower connect means it is unreachable).
        read_timeout_s: seconds to wait for the answer to start, and between two chunks of
            a stream (default: ``turn_budget_s``, else 10).
        max_attempts: model-call attempts in total, in botocore's ``standard`` retry mode
            (throttling, 5xx, timeouts and connection errors are retried after a short
            jittered backoff, at most 1 s before the second attempt). A model call takes
            at most about ``max_attempts × (connect_timeout_s + read_timeout_s) + 1 s``
            before it fails with :class:`~aiflow.agents.AgentError`; botocore's own
            defaults (60 s timeouts, legacy retries) would leave a caller in silence.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str = Field(min_length=1)
    system_prompt: str = Field(min_length=1)
    region: str | None = None
    endpoint_url: str | None = None
    transfer_targets: dict[str, TransferTarget] = Field(default_factory=dict)
    allow_sms: bool = False
    allow_hangup: bool = True
    allow_digits: bool = True
    max_tool_steps: int = Field(4, ge=1, le=16)
    max_tokens: int = Field(300, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    history_messages: int = Field(20, ge=2)
    max_tool_result_chars: int = Field(2000, ge=100)
    turn_budget_s: float | None = Field(None, gt=0)
    language: str = "en"
    handoff_text: str | None = None
    farewell_text: str | None = None
    limit_text: str | None = None
    state_key: str = Field("bedrock", min_length=1)
    cache_prompt: bool = False
    tool_error_status: bool = True
    connect_timeout_s: float = Field(1.0, gt=0)
    read_timeout_s: float | None = Field(None, gt=0)
    max_attempts: int = Field(2, ge=1, le=5)

    @field_validator("transfer_targets")
    @classmethod
    def _target_names(cls, value: dict[str, TransferTarget]) -> dict[str, TransferTarget]:
        for name in value:
            if not name.strip() or len(name) > 64:
                raise ValueError(f"transfer target name {name!r} must be 1-64 characters")
        return value

    def text(self, kind: Literal["handoff", "farewell", "limit"]) -> str:
        """The configured or built-in sentence of ``kind`` in ``language``."""
        configured = {
            "handoff": self.handoff_text,
            "farewell": self.farewell_text,
            "limit": self.limit_text,
        }[kind]
        return configured or _TEXTS.get(self.language[:2].lower(), _TEXTS["en"])[kind]

    def client_settings(self) -> dict[str, Any]:
        """The ``botocore.config.Config`` arguments of the ``bedrock-runtime`` client."""
        read = self.read_timeout_s or self.turn_budget_s or DEFAULT_READ_TIMEOUT_S
        return {
            "connect_timeout": self.connect_timeout_s,
            "read_timeout": read,
            "retries": {"mode": "standard", "total_max_attempts": self.max_attempts},
        }
