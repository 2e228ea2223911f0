"""The dialer Lambda function: dials the calls of the dial queue (template.yaml, EnableOutbound).

    Handler: aiflow.outbound.dialer.handler

SQS invokes it with up to 3 messages (one :class:`~aiflow.outbound.queue.DialRequest` each);
at most 2 instances run at once (``ScalingConfig.MaximumConcurrency``), which bounds the calls
started in parallel. Each message ends in one of three ways:

* dialled (201), or a repeated delivery of a dial already handled: done, SQS deletes it;
* a failure that may pass (429, 5xx, no connection, Secrets Manager or DynamoDB unavailable):
  reported as a batch item failure (Powertools batch processing), so SQS delivers it again
  after the visibility timeout, and after 5 receives moves it to the dead-letter queue;
* a failure that repeating cannot fix (404 unknown AI Flow, 400 no phone number, 401/403 token,
  a malformed message, or a request that was sent but not answered, which might have rung
  already): sent to the dead-letter queue at once, with the error code as message attributes,
  and deleted from the queue. A person fixes the cause and redrives it (or deletes it). Without
  ``AIFLOW_DIAL_DLQ_URL`` such messages are logged and dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..redact import RedactingFilter, log_failure
from .calls import dial
from .client import SipgateClient
from .contexts import DynamoDBOutboundContexts, OutboundContexts
from .errors import DialError, DuplicateDial
from .queue import DialRequest, sqs_client

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger("aiflow.outbound")

# Time a dial may still need when a record is started: a Lambda that runs out of time in the
# middle of a dial cannot tell SQS which records succeeded.
SAFETY_MS = 2_000


class NotEnoughTime(Exception):
    """Too little of the invocation left to dial safely: the record goes back to the queue."""


class Dialer:
    """Dial the records of one SQS batch (see the module docstring).

    Args:
        client: the sipgate client (default: :meth:`SipgateClient.from_env`).
        contexts: where call contexts are stored (default: the call table, if configured).
        dead_letter_queue_url: where permanent failures go (``AIFLOW_DIAL_DLQ_URL``).
        sqs: the SQS client for the dead-letter queue (created on first use).
    """

    def __init__(
        self,
        *,
        client: SipgateClient,
        contexts: OutboundContexts | None = None,
        dead_letter_queue_url: str | None = None,
        sqs: SQSClient | None = None,
    ) -> None:
        self.client = client
        self.contexts = contexts
        self.dead_letter_queue_url = dead_letter_queue_url
        self._sqs = sqs
        self._deadline: Callable[[], int] | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The Lambda handler: ``{"batchItemFailures": [...]}`` for SQS."""
        # Imported here: only the dialer function ships Powertools' batch utility (the other
        # functions' artifacts leave it out, see functions/Makefile).
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )

        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._deadline = remaining if callable(remaining) else None
        processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
        result = process_partial_response(
            event=event, record_handler=self.dial_record, processor=processor, context=context
        )
        return dict(result)

    def dial_record(self, record: SQSRecord) -> str:
        """Dial one message; raises for a failure SQS should retry."""
        facts = {"message_id": record.message_id}
        needed_ms = self.client.worst_case_seconds() * 1000 + SAFETY_MS
        if self._deadline is not None and self._deadline() < needed_ms:
            raise NotEnoughTime(f"{self._deadline()} ms left, a dial may need {needed_ms:.0f}")
        try:
            request = DialRequest.from_message(record.body)
            result = dial(
                request.flow_id,
                request.to,
                device=request.device,
                data=request.data,
                client=self.client,
                contexts=self.contexts,
                request_id=record.message_id,
            )
        except DuplicateDial:
            return "duplicate"
        except DialError as exc:
            if exc.retryable:
                logger.warning(
                    "dial failed, will be retried",
                    extra={**facts, "code": exc.code, "status": exc.status},
                )
                raise
            self._dead_letter(record, exc)
            return "dead-lettered"
        logger.info(
            "dialled",
            extra={**facts, "flow_id": result.flow_id, "attempts": result.attempts},
        )
        return "dialled"

    def _dead_letter(self, record: SQSRecord, error: DialError) -> None:
        facts = {"message_id": record.message_id, "code": error.code, "status": error.status}
        if not self.dead_letter_queue_url:
            logger.error("dial failed for good; no dead-letter queue, dropped", extra=facts)
            return
        attributes: dict[str, Any] = {
            "aiflow_error": {"DataType": "String", "StringValue": error.code},
        }
        if error.status is not None:
            attributes["aiflow_status"] = {"DataType": "Number", "StringValue": str(error.status)}
        try:
            self.sqs.send_message(
                QueueUrl=self.dead_letter_queue_url,
                MessageBody=record.body,
                MessageAttributes=attributes,
            )
        except Exception:
            # Not lost: report the record as failed; SQS retries it (and redrives it to the
            # dead-letter queue after maxReceiveCount by itself).
            log_failure(
                logger, "could not move a failed dial to the dead-letter queue", facts=facts
            )
            raise
        logger.error("dial failed for good; moved to the dead-letter queue", extra=facts)

    @property
    def sqs(self) -> SQSClient:
        """The SQS client (created on first use)."""
        if self._sqs is None:
            self._sqs = sqs_client()
        return self._sqs


def dialer_handler(
    *,
    client: SipgateClient | None = None,
    contexts: OutboundContexts | None = None,
    dead_letter_queue_url: str | None = None,
) -> Dialer:
    """The dialer configured from the environment (``AIFLOW_SIPGATE_*``, ``AIFLOW_TABLE_NAME``,
    ``AIFLOW_DIAL_DLQ_URL``), with Powertools' JSON logs, numbers masked."""
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "aiflow")
    powertools = Logger(service=service)
    copy_config_to_registered_loggers(source_logger=powertools, include={"aiflow"})
    for target in (logging.getLogger(powertools.name), logging.getLogger("aiflow")):
        for log_handler in target.handlers:
            log_handler.addFilter(RedactingFilter())
    return Dialer(
        client=client or SipgateClient.from_env(),
        contexts=contexts if contexts is not None else DynamoDBOutboundContexts.from_env(),
        dead_letter_queue_url=dead_letter_queue_url or os.environ.get("AIFLOW_DIAL_DLQ_URL"),
    )


def __getattr__(name: str) -> Any:
    # template.yaml points the function at `handler`; it is built on first access (the Lambda
    # runtime's import), so importing this module for tests configures nothing.
    if name != "handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    entry = dialer_handler()
    globals()["handler"] = entry
    return entry
