"""The AI Flow webhook's HTTP rules, independent of where it runs: headers and body in,
status and body out.

This is where the protocol's HTTP rules live (spec section 1): 401 for a missing or wrong
token, 413 for an oversized body, 400 for a body that is not an event, 204 for no action,
for every ``session_end`` and for events of a call that has ended, 200 with one action or an
array otherwise. Everything between parsing and answering is the turn engine's
(:mod:`aiflow.turns`): a valid event always gets 200 or 204, with the fallback speech when
we fail.

The Lambda entry point, the dev server and the test simulator all call :meth:`Webhook.handle`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping

from .auth import Refusal, TokenConfigError, TokenSource, check_token, clean_token
from .errors import EventParseError
from .plain import Plain
from .protocol.actions import reply_body
from .protocol.events import BaseEvent, parse_event
from .redact import log_failure
from .report import TurnReport
from .turns import TurnEngine

logger = logging.getLogger("aiflow")

DEFAULT_MAX_BODY_BYTES = 256 * 1024


class HttpReply(Plain):
    """What to answer, plus the turn's report for logs and metrics.

    Attributes:
        status: the HTTP status.
        body: the JSON body (None for 204).
        error: the error code of a 4xx, or why the caller heard the fallback.
        report: the turn engine's report (None when no event was processed).
    """

    __slots__ = ("status", "body", "error", "report")

    def __init__(
        self,
        status: int,
        body: str | None = None,
        error: str | None = None,
        report: TurnReport | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.error = error
        self.report = report

    @property
    def headers(self) -> dict[str, str]:
        """Response headers (JSON whenever there is a body)."""
        return {"Content-Type": "application/json"} if self.body is not None else {}


class Webhook:
    """Answers AI Flow webhook requests through a turn engine.

    Args:
        engine: runs the assistant's turns.
        token: the expected ``X-API-TOKEN`` value, or a function returning it (so a rotated
            secret is picked up); ``None`` refuses every request.
        max_body_bytes: larger bodies get 413.
    """

    def __init__(
        self,
        engine: TurnEngine,
        *,
        token: str | TokenSource | None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.engine = engine
        self.max_body_bytes = max_body_bytes
        self._token: TokenSource = token if callable(token) else _checked(token)
        self.on_event: Callable[[BaseEvent], None] | None = None

    def handle(
        self,
        headers: Mapping[str, str],
        body: bytes | str | None,
        *,
        budget_ms: float | None = None,
    ) -> HttpReply:
        """Answer one webhook request. Never raises.

        Args:
            headers: the request headers.
            body: the request body.
            budget_ms: the answer must be ready within this long of the call (default the
                engine's answer budget); what reading the token takes is deducted.
        """
        arrived = time.monotonic()
        try:
            raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        except UnicodeEncodeError:
            return _refused(Refusal(400, "invalid_unicode", "the body is not valid UTF-8"))
        if len(raw) > self.max_body_bytes:
            return _refused(
                Refusal(
                    413,
                    "body_too_large",
                    f"the body has {len(raw)} bytes; the limit is {self.max_body_bytes}",
                )
            )
        try:
            expected = self._expected_token()
        except TokenConfigError as exc:
            logger.error("the configured API token is refused: %s", exc.message)
            return self._token_unavailable(raw)
        except Exception:
            log_failure(logger, "the API token could not be read; the caller hears the fallback")
            return self._token_unavailable(raw)
        refused = check_token(headers, expected)
        if refused is not None:
            return _refused(refused)
        try:
            event = parse_event(raw)
        except EventParseError as exc:
            return HttpReply(400, _error_body(exc), exc.code)
        if self.on_event is not None:
            self.on_event(event)  # e.g. the transport tags its log lines with the call id
        budget = self.engine.limits.answer_budget_ms if budget_ms is None else budget_ms
        left = budget - (time.monotonic() - arrived) * 1000
        return self.answer(event, self.engine.run(event, budget_ms=left))

    def answer(self, event: BaseEvent, report: TurnReport) -> HttpReply:
        """The HTTP answer for a processed event."""
        if event.type == "session_end" or report.ignored or not report.actions:
            return HttpReply(204, None, report.reason, report)
        return HttpReply(200, reply_body(report.actions), report.reason, report)

    def _expected_token(self) -> str | None:
        """The configured token (None: none configured); raises when it cannot be used."""
        value = self._token()
        return None if value is None else clean_token(value, where="the configured API token")

    def _token_unavailable(self, raw: bytes) -> HttpReply:
        """No usable token: nothing runs and nothing is stored, but a valid event still gets
        the fallback speech (a real caller may be waiting, and it reveals nothing)."""
        try:
            event = parse_event(raw)
        except EventParseError as exc:
            return HttpReply(400, _error_body(exc), exc.code)
        report = TurnReport(event_type=event.type, session_id=event.session.id)
        report.fallback, report.reason = True, "token_unavailable"
        if event.type not in ("session_end", "assistant_speak", "user_speech_started"):
            assistant = self.engine.assistant_for(event)
            report.actions = assistant.fallback_reply(event.session.id)
        return self.answer(event, report)


def _checked(token: str | None) -> TokenSource:
    """A fixed token, checked now so that a bad one is logged at cold start."""
    if token is None:
        return lambda: None
    try:
        fixed = clean_token(token, where="the configured API token")
    except TokenConfigError as exc:
        logger.error("the configured API token is refused: %s", exc.message)
        problem = exc

        def refuse() -> str:
            raise problem

        return refuse
    return lambda: fixed


def _refused(refusal: Refusal) -> HttpReply:
    return HttpReply(refusal.status, refusal.body, refusal.code)


def _error_body(exc: EventParseError) -> str:
    return json.dumps(exc.to_dict())
