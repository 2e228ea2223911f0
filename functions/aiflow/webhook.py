"""The AI Flow webhook, independent of any transport: headers and body in, status and body out.

This is where the protocol's HTTP rules live (spec section 1): 401 for a missing or wrong
token, 413 for an oversized body, 400 for a body that is not an event, 204 for no action
and for every ``session_end``, 200 with one action or an array otherwise. A valid event
whose processing fails for our reasons (storage outage, throttling, a handler bug, the time
budget) gets 200 with the fallback ``speak``: the caller hears something, never silence.

The Lambda entry point, the dev server and the test client all call :meth:`Webhook.handle`.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from . import deadline as deadline_guard
from .assistant import Assistant, Reply
from .call import Call
from .errors import AiflowError, EventParseError
from .protocol.actions import Action, reply_body
from .protocol.events import BaseEvent, parse_event
from .redact import log_failure
from .store.base import CallStore, ConflictError, StoredCall, StoreError

logger = logging.getLogger("aiflow")

TOKEN_HEADERS = ("x-api-token", "x-api-key")
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_TURN_BUDGET_MS = 2500
# Events that read or change the call even without a handler of their own.
STATEFUL_EVENTS = frozenset(
    {
        "session_start",
        "session_end",
        "user_speak",
        "user_barge_in",
        "assistant_speech_ended",
        "user_input_timeout",
    }
)

TokenSource = Callable[[], str | None]


@dataclass
class HttpReply:
    """What to answer, plus what the transport logs and measures about it."""

    status: int
    body: str | None = None
    event_type: str | None = None
    session_id: str | None = None
    actions: list[str] = field(default_factory=list)
    fallback: bool = False
    error: str | None = None
    handler_ms: float = 0.0
    store_requests: int = 0
    conflicts: int = 0
    deferred: bool = False

    @property
    def headers(self) -> dict[str, str]:
        """Response headers (JSON whenever there is a body)."""
        return {"Content-Type": "application/json"} if self.body is not None else {}


class TurnTimeout(AiflowError):
    """The handler did not finish within the turn's time budget."""

    code = "turn_timeout"


class Webhook:
    """Answers AI Flow webhook requests for one assistant.

    Args:
        assistant: the assistant whose handlers run.
        store: where call records live (DynamoDB in Lambda, memory in unit tests).
        token: the expected ``X-API-TOKEN`` value, or a function returning it (so a rotated
            secret is picked up); ``None`` refuses every request.
        max_body_bytes: larger bodies get 413.
        turn_budget_ms: a handler still running after this long is abandoned and the
            caller hears the fallback.
        max_attempts: how often a save that lost a race is retried.
        deferrer: starts the worker for a turn that outran the budget (see
            :mod:`aiflow.deadline`); without one, the caller hears the fallback.
    """

    def __init__(
        self,
        assistant: Assistant,
        *,
        store: CallStore,
        token: str | TokenSource | None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        turn_budget_ms: int = DEFAULT_TURN_BUDGET_MS,
        max_attempts: int = 8,
        deferrer: deadline_guard.Deferrer | None = None,
    ) -> None:
        self.assistant = assistant
        self.store = store
        self._token: TokenSource = token if callable(token) else (lambda: token)
        self.max_body_bytes = max_body_bytes
        self.turn_budget_ms = turn_budget_ms
        self.max_attempts = max_attempts
        self._pool: ThreadPoolExecutor | None = None
        self.on_event: Callable[[BaseEvent], None] | None = None
        self.deferrer: deadline_guard.Deferrer | None = deferrer

    # --- HTTP -----------------------------------------------------------------------------

    def handle(
        self,
        headers: Mapping[str, str],
        body: bytes | str | None,
        *,
        budget_ms: float | None = None,
    ) -> HttpReply:
        """Answer one webhook request. Never raises."""
        raw = body.encode() if isinstance(body, str) else (body or b"")
        if len(raw) > self.max_body_bytes:
            return _error(
                413,
                "body_too_large",
                f"the body has {len(raw)} bytes; the limit is {self.max_body_bytes}",
            )
        try:
            expected = self._token()
        except Exception:
            log_failure(logger, "the API token could not be read")
            return self._token_unavailable(raw)
        refused = check_token(headers, expected)
        if refused is not None:
            return refused
        try:
            event = parse_event(raw)
        except EventParseError as exc:
            return _error(400, exc.code, exc.message, exc.details)
        if self.on_event is not None:
            self.on_event(event)  # e.g. the transport tags its log lines with the call id
        return self.answer(event, budget_ms=budget_ms)

    def answer(self, event: BaseEvent, *, budget_ms: float | None = None) -> HttpReply:
        """Process an authenticated, parsed event and build the HTTP answer."""
        outcome = self.process(event, budget_ms=budget_ms)
        status = 204 if event.type == "session_end" or not outcome.actions else 200
        return HttpReply(
            status=status,
            body=reply_body(outcome.actions) if status == 200 else None,
            event_type=event.type,
            session_id=event.session.id,
            actions=[a.type for a in outcome.actions],
            fallback=outcome.fallback,
            error=outcome.error,
            handler_ms=outcome.handler_ms,
            store_requests=outcome.store_requests,
            conflicts=outcome.conflicts,
            deferred=outcome.deferred,
        )

    # --- events ---------------------------------------------------------------------------

    def process(self, event: BaseEvent, *, budget_ms: float | None = None) -> Outcome:
        """Load the call, run the assistant, save what changed; fall back on our failures."""
        if event.type not in STATEFUL_EVENTS and self.assistant.handler_for(event) is None:
            return Outcome()  # nothing would read or change the call: no storage request
        # A budget of 0 (the Lambda is about to time out) means "no time", not "the default".
        budget = self.turn_budget_ms if budget_ms is None else budget_ms
        deadline = time.monotonic() + budget / 1000
        outcome = Outcome()
        for attempt in range(self.max_attempts):
            try:
                stored = self.store.load(event.session.id)
                outcome.store_requests += 1
                call = self._call_for(event, stored)
                before = call.to_doc() if stored else None
                slow_turn: dict[str, Any] | None = None
                reply = deadline_guard.while_waiting(self.assistant, event, call)
                if reply is None:
                    try:
                        reply = self._run(event, call, deadline)
                    except TurnTimeout:
                        if self.deferrer is None or event.type in deadline_guard.NO_ANSWER_EXPECTED:
                            raise
                        # Forget what the abandoned handler changed; the worker reruns it.
                        call = self._call_for(event, stored)
                        slow_turn = deadline_guard.start_slow_turn(self.assistant, event, call)
                        reply = deadline_guard.filler(self.assistant)
                        outcome.deferred = True
                after = call.to_doc()
                # A session_end of a call we never stored (expired, or lost to an outage)
                # would only create a record nobody reads.
                unknown_end = stored is None and event.type == "session_end"
                if after != before and not unknown_end:
                    outcome.store_requests += 1
                    self.store.save(
                        event.session.id, after, version=stored.version if stored else 0
                    )
                if slow_turn is not None and self.deferrer is not None:
                    self.deferrer(slow_turn)  # after the save, so the worker finds the marker
            except ConflictError:
                outcome.conflicts += 1
                # Another event of this call saved first: back off briefly, reload, rerun.
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                continue
            except StoreError as exc:
                logger.warning("call store failed; the caller hears the fallback: %s", exc.code)
                return self._fallback(event, outcome, exc.code)
            except TurnTimeout:
                logger.warning("handler exceeded the turn budget; the caller hears the fallback")
                return self._fallback(event, outcome, TurnTimeout.code)
            except Exception:
                log_failure(logger, "unexpected failure; the caller hears the fallback")
                return self._fallback(event, outcome, "internal_error")
            outcome.actions = reply.actions
            outcome.fallback = reply.fallback
            outcome.handler_ms = reply.handler_ms
            return outcome
        logger.warning("gave up after %d conflicting saves", outcome.conflicts)
        return self._fallback(event, outcome, "store_conflict")

    def _call_for(self, event: BaseEvent, stored: StoredCall | None) -> Call:
        if stored is None:
            return Call.from_session(event.session, state=self._new_state())
        return Call.from_doc(
            stored.doc, version=stored.version, state_model=self.assistant.state_model
        )

    def _new_state(self) -> Any:
        model = self.assistant.state_model
        return model() if model is not None else {}

    def _run(self, event: BaseEvent, call: Call, deadline: float) -> Reply:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TurnTimeout("no time left for the handler")
        if self._pool is None:
            # One worker thread per process: it lets us stop waiting for a slow handler.
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="aiflow-turn")
        future = self._pool.submit(self.assistant.handle, event, call)
        try:
            return future.result(timeout=remaining)
        except FutureTimeout:
            raise TurnTimeout("the handler did not finish in time") from None

    def _fallback(self, event: BaseEvent, outcome: Outcome, error: str) -> Outcome:
        outcome.error = error
        outcome.fallback = True
        if event.type in deadline_guard.NO_ANSWER_EXPECTED:
            outcome.actions = []
        else:
            outcome.actions = self.assistant.fallback_reply(Call(event.session.id))
        return outcome

    def _token_unavailable(self, raw: bytes) -> HttpReply:
        try:
            event = parse_event(raw)
        except EventParseError:
            return _error(503, "token_unavailable", "the API token could not be read")
        # We cannot check the token, so nothing runs and nothing is stored; but a real
        # caller may be waiting, and fallback speech reveals nothing.
        outcome = self._fallback(event, Outcome(), "token_unavailable")
        status = 200 if outcome.actions else 204
        return HttpReply(
            status=status,
            body=reply_body(outcome.actions) if outcome.actions else None,
            event_type=event.type,
            session_id=event.session.id,
            actions=[a.type for a in outcome.actions],
            fallback=True,
            error="token_unavailable",
        )


@dataclass
class Outcome:
    """The result of processing one event."""

    actions: list[Action] = field(default_factory=list)
    fallback: bool = False
    error: str | None = None
    handler_ms: float = 0.0
    store_requests: int = 0
    conflicts: int = 0
    deferred: bool = False


def check_token(headers: Mapping[str, str], expected: str | None) -> HttpReply | None:
    """None if ``headers`` carry the expected token, else the 401 to answer.

    Header names are case-insensitive; ``X-API-Key`` is accepted as an alias. The comparison
    takes the same time however much of the token matches.
    """
    supplied = None
    for name, value in headers.items():
        if name.lower() in TOKEN_HEADERS:
            supplied = value
            break
    if not expected:
        return _error(401, "unauthorized", "the webhook has no API token configured")
    if supplied is None:
        return _error(401, "unauthorized", "the X-API-TOKEN header is missing")
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        return _error(401, "unauthorized", "the X-API-TOKEN header is wrong")
    return None


def _error(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> HttpReply:
    body = EventParseError(message, code=code, details=details).to_dict()
    return HttpReply(status=status, body=json.dumps(body), error=code)
