"""Logs and metrics of the Lambda functions (Powertools Logger and Metrics, EMF).

Every log line carries the call id as correlation id and the event type. Caller numbers
are masked and transcripts never logged unless ``AIFLOW_LOG_REDACT=false``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from ..protocol.events import BaseEvent
from ..redact import RedactingFilter, redact
from ..redact import configure as configure_redaction
from ..webhook import HttpReply


class Observer:
    """Wires Powertools to the framework's log records and emits one set of metrics per call.

    Args:
        service: the Powertools service name (``POWERTOOLS_SERVICE_NAME`` wins if set).
        redact_logs: mask caller numbers and drop transcripts from logs.
    """

    def __init__(self, service: str = "aiflow", *, redact_logs: bool = True) -> None:
        self.redact_logs = redact_logs
        configure_redaction(enabled=redact_logs)
        self.logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", service))
        self.metrics = Metrics(
            namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AiFlow"),
            service=os.environ.get("POWERTOOLS_SERVICE_NAME", service),
        )
        # The framework logs through stdlib "aiflow" loggers; give them Powertools' JSON
        # format (and so the correlation id) instead of a second, unstructured output.
        copy_config_to_registered_loggers(source_logger=self.logger, include={"aiflow"})
        if redact_logs:
            for target in (logging.getLogger(self.logger.name), logging.getLogger("aiflow")):
                for handler in target.handlers:
                    handler.addFilter(RedactingFilter())

    def start(self, context: Any) -> None:
        """Reset per-invocation keys (Lambda reuses the process)."""
        self.logger.remove_keys(["event_type", "session_id"])
        self.logger.set_correlation_id(getattr(context, "aws_request_id", None))

    def event(self, event: BaseEvent) -> None:
        """Tag every following log line with the call and the event type."""
        self.logger.set_correlation_id(event.session.id)
        self.logger.append_keys(event_type=event.type)
        if not self.redact_logs:
            self.logger.debug("event received", extra={"event": event.to_wire()})

    def finish(self, reply: HttpReply, elapsed_ms: float) -> None:
        """One log line and the metrics for the answered request."""
        self.metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        if reply.status == 401:
            self.metrics.add_metric(name="AuthFailures", unit=MetricUnit.Count, value=1)
        if reply.event_type:
            self.metrics.add_dimension(name="EventType", value=reply.event_type)
            self.metrics.add_metric(name="Events", unit=MetricUnit.Count, value=1)
            self.metrics.add_metric(
                name="HandlerLatency", unit=MetricUnit.Milliseconds, value=reply.handler_ms
            )
        if reply.fallback:
            self.metrics.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=1)
        if reply.conflicts:
            self.metrics.add_metric(
                name="StoreConflicts", unit=MetricUnit.Count, value=reply.conflicts
            )
        fields: dict[str, Any] = {
            "status": reply.status,
            "actions": reply.actions,
            "latency_ms": round(elapsed_ms, 1),
            "handler_ms": round(reply.handler_ms, 1),
            "store_requests": reply.store_requests,
        }
        if reply.error:
            fields["error"] = reply.error
        if reply.fallback:
            fields["fallback"] = True
        if not self.redact_logs and reply.body:
            fields["body"] = reply.body
        if reply.fallback or reply.status >= 400:
            self.logger.warning("request answered", extra=fields)
        else:
            self.logger.info("request answered", extra=fields)

    def safe(self, value: Any) -> Any:
        """``value`` as it may appear in logs under the current redaction setting."""
        return redact(value) if self.redact_logs else value
