"""The dial queue: one SQS message per call, dialled by :mod:`aiflow.outbound.dialer`.

A message body is a :class:`DialRequest` as JSON::

    {"flow_id": "e3670012-...", "to": "+4915790000687", "device": "e2", "data": {...}}

``device`` and ``data`` are optional (the dialer's ``AIFLOW_SIPGATE_DEVICE`` is the default
device). :func:`enqueue_dial` checks the request before it is sent, so a bad number fails at
once instead of in the dead-letter queue.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..redact import mask_number
from .calls import check_data
from .client import check_flow_id, dial_number
from .errors import InvalidDial

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger("aiflow.outbound")

# SQS answers in milliseconds; these bound a broken network.
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 3.0


class DialRequest(BaseModel):
    """One queued call (the body of a dial-queue message)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow_id: str = Field(description="the AI Flow that places the call")
    to: str = Field(description="the number to call, E.164")
    device: str | None = Field(None, description="billing device; default: the dialer's")
    data: dict[str, Any] | None = Field(None, description="JSON for the assistant")

    @field_validator("flow_id")
    @classmethod
    def _flow(cls, value: str) -> str:
        return check_flow_id(value)

    @field_validator("to")
    @classmethod
    def _number(cls, value: str) -> str:
        return dial_number(value)

    def to_message(self) -> str:
        """The message body (absent optional fields left out)."""
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_message(cls, body: str) -> DialRequest:
        """Parse a message body.

        Raises:
            InvalidDial: not a dial request; the message names the field.
        """
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {_reason(error)}"
                for error in exc.errors(include_input=False)
            )
            raise InvalidDial(f"not a dial request: {problems}") from None


def enqueue_dial(
    queue_url: str,
    flow_id: str,
    to: str,
    *,
    device: str | None = None,
    data: dict[str, Any] | None = None,
    client: SQSClient | None = None,
) -> str:
    """Queue a call for the dialer function; returns the SQS message id.

    Raises:
        InvalidDial: bad flow id, number or data (nothing was queued).
        botocore.exceptions.ClientError / BotoCoreError: SQS refused or was unreachable.
    """
    if data is not None:
        data = check_data(data)
    try:
        request = DialRequest(flow_id=flow_id, to=to, device=device, data=data)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        raise InvalidDial(f"{'.'.join(str(p) for p in first['loc'])}: {_reason(first)}") from None
    sqs = client or sqs_client()
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=request.to_message())
    logger.info(
        "dial queued",
        extra={"flow_id": request.flow_id, "to": mask_number(request.to)},
    )
    return sent["MessageId"]


def sqs_client() -> SQSClient:
    """An SQS client with short timeouts and botocore's standard retries (3 attempts)."""
    from botocore.config import Config

    from .. import awsclients

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": 3, "mode": "standard"},
    )
    made: SQSClient = awsclients.client("sqs", config=config)
    return made


def _reason(error: Any) -> str:
    """pydantic's message, or ours when a validator raised an InvalidDial."""
    context = error.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, InvalidDial):
        # Our messages start with the field name already; keep only the explanation.
        return cause.message.split(": ", 1)[-1]
    return str(error.get("msg", "invalid"))
