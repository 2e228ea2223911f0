"""Logs and metrics of the Lambda functions (Powertools Logger and Metrics, EMF).

Every log line carries the call id as correlation id and the event type. Caller numbers
are masked and transcripts never logged unless ``AIFLOW_LOG_REDACT=false``: the observer
owns that setting, installs the redacting filter and passes it to the turn engine.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from ..protocol.events import BaseEvent
from ..redact import RedactingFilter, redact
from ..report import TurnReport
from ..settings import Settings


class Observer:
    """Wires Powertools to the framework's log records and emits one set of metrics per call.

    Args:
        service: the Powertools service name (``POWERTOOLS_SERVICE_NAME`` wins if set).
        settings: redaction and the metrics namespace.
    """

    def __init__(self, service: str, settings: Settings) -> None:
        self.redact_logs = settings.redact_logs
        name = settings.service or service
        self.logger = Logger(service=name)
        self.metrics = Metrics(namespace=settings.metrics_namespace, service=name)
        # The framework logs through stdlib "aiflow" loggers; give them Powertools' JSON
        # format (and so the correlation id) instead of a second, unstructured output.
        copy_config_to_registered_loggers(source_logger=self.logger, include={"aiflow"})
        if self.redact_logs:
            for target in (logging.getLogger(self.logger.name), logging.getLogger("aiflow")):
                for handler in target.handlers:
                    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
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

    def finish(
        self,
        status: int,
        report: TurnReport | None,
        elapsed_ms: float,
        *,
        error: str | None = None,
        body: str | None = None,
    ) -> None:
        """One log line and the metrics for an answered request or frame."""
        self.metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        if status == 401:
            self.metrics.add_metric(name="AuthFailures", unit=MetricUnit.Count, value=1)
        fields: dict[str, Any] = {"status": status, "latency_ms": round(elapsed_ms, 1)}
        if report is not None and report.event_type:
            self.metrics.add_dimension(name="EventType", value=report.event_type)
            self.metrics.add_metric(name="Events", unit=MetricUnit.Count, value=1)
            self.metrics.add_metric(
                name="HandlerLatency", unit=MetricUnit.Milliseconds, value=report.handler_ms
            )
            if report.fallback:
                self.metrics.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=1)
            if report.conflicts:
                self.metrics.add_metric(
                    name="StoreConflicts", unit=MetricUnit.Count, value=report.conflicts
                )
            fields.update(
                actions=report.action_types,
                handler_ms=round(report.handler_ms, 1),
                store_requests=report.store_requests,
            )
            if report.fallback:
                fields["fallback"] = True
            if report.merges:
                fields["merges"] = report.merges
            error = error or report.reason
        if error:
            fields["error"] = error
        if not self.redact_logs and body:
            fields["body"] = body
        failed = status >= 400 or (report is not None and report.fallback)
        (self.logger.warning if failed else self.logger.info)("request answered", extra=fields)

    def safe(self, value: Any) -> Any:
        """``value`` as it may appear in logs under the current redaction setting."""
        return redact(value) if self.redact_logs else value
