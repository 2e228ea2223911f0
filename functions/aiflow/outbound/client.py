"""A small client for sipgate's outbound-call endpoint (protocol spec section 4).

    POST {base}/v3/ai-flows/{aiFlowId}/call
    Authorization: Bearer <token>
    {"billingDevice": "e2", "toPhoneNumber": "4915790000687"}   ->  201 Created

What the ``201`` body holds is not documented. sipgate's API guide ("Outbound Calls",
sipgate.github.io/sipgate-ai-flow-api/api/guides/outbound-calls.html) only says the endpoint
"returns 201 Created when the call has been successfully initiated" and lists 400 (the AI Flow
has no phone number) and 404 (unknown AI Flow). Its TypeScript SDK's ``assistant.call({aiFlowId,
billingDevice, toPhoneNumber})`` "resolves when the call has been successfully initiated (201
Created)" and throws otherwise (sdk/outbound-calls.html): it hands no value back. Neither
sipgate/n8n-nodes-ai-flow (trigger and action nodes only) nor sipgate/flow-io (answers calls,
never places one) calls the endpoint. So nothing here depends on the body: an id found in a
JSON body is passed on as :attr:`DialResult.call_id`, for logs only.

Numbers: the current API guide asks for "E.164 without leading +" (``4915790000687``); older
versions of the page and the SDK example show ``+4915790000687``. We accept both and send the
digits without ``+``, as the framework does for ``transfer`` (``aiflow.protocol.phone``).

Only the standard library speaks HTTP here (no runtime dependency); every request has a
timeout, 429 and 5xx are retried with exponential backoff and jitter within a bound, and every
other answer becomes a typed :class:`~aiflow.outbound.errors.DialError`.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import quote, urlsplit

from ..awsclients import error_code
from ..protocol.phone import to_e164
from ..redact import mask_number, mask_numbers_in
from .errors import (
    DialError,
    DialNotConfigured,
    FlowHasNoNumber,
    FlowNotFound,
    InvalidDial,
    RateLimited,
    SipgateUnavailable,
    TokenUnavailable,
    Unauthorized,
    UnexpectedAnswer,
)

logger = logging.getLogger("aiflow.outbound")

DEFAULT_API_URL = "https://api.sipgate.com"
CALL_PATH = "/v3/ai-flows/{flow_id}/call"
DEFAULT_TIMEOUT_S = 5.0
TOKEN_CACHE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024
EXCERPT_CHARS = 160
_E164 = re.compile(r"^\+\d{2,15}$")
_FLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_UUID_SPLIT = re.compile(f"({_UUID.pattern})")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# Keys a JSON body might carry the new call's id under (none is documented).
_ID_KEYS = ("sessionId", "session_id", "callId", "call_id", "id")

TokenSource = Callable[[], str]


@dataclass(frozen=True)
class RetryPolicy:
    """How 429 and 5xx answers are retried.

    Attributes:
        attempts: requests at most, the first included.
        base_delay: seconds before the first retry (doubled for each further one).
        max_delay: cap of one wait.
        max_wait: cap of all waits together, ``Retry-After`` included: a longer
            ``Retry-After`` ends the dial with :class:`RateLimited` at once.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0
    max_wait: float = 8.0

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): exponential, with
        "equal jitter" (half fixed, half random) so parallel dialers spread out but still
        back off."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class DialResult:
    """What happened when a call was started.

    Attributes:
        flow_id: the AI Flow that places the call.
        to: the dialled number, E.164 with ``+``.
        device: the billing device sent.
        status: sipgate's answer (201).
        attempts: requests sent (more than 1 after 429/5xx answers).
        elapsed_ms: from the first request to the answer, waits included.
        call_id: an id from the answer's JSON body, if it had one (undocumented; logs only).
        request_id: our id of this dial (set by :func:`aiflow.outbound.dial`), also in the
            call context handed to the assistant.
        context_saved: whether a call context was stored for the call's ``session_start``.
    """

    flow_id: str
    to: str
    device: str
    status: int
    attempts: int
    elapsed_ms: float
    call_id: str | None = None
    request_id: str | None = None
    context_saved: bool = False


class SipgateClient:
    """Starts outbound calls through sipgate's REST API.

    Args:
        token: the sipgate token, or a function returning it (read on every call; see
            :func:`secret_token_source`).
        base_url: ``https://api.sipgate.com``, or a fake on loopback in tests.
        device: the default billing device (e.g. ``"e2"``).
        timeout: seconds for connecting and for each read of one request.
        retry: how 429 and 5xx are retried.
    """

    def __init__(
        self,
        token: str | TokenSource,
        *,
        base_url: str = DEFAULT_API_URL,
        device: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._token: TokenSource = (lambda: token) if isinstance(token, str) else token
        self.base_url = base_url.rstrip("/")
        self.device = device
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DialNotConfigured(f"sipgate API URL must be http(s)://host, got {base_url!r}")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            # The token travels in a header: plain HTTP only to a fake on this machine.
            raise DialNotConfigured(f"sipgate API URL must use https, got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SipgateClient:
        """A client configured from the environment.

        ``AIFLOW_SIPGATE_TOKEN`` (the token, local use) or ``AIFLOW_SIPGATE_TOKEN_SECRET``
        (a Secrets Manager secret holding it, deployed), ``AIFLOW_SIPGATE_DEVICE`` (default
        billing device) and ``AIFLOW_SIPGATE_API_URL`` (default ``https://api.sipgate.com``).
        A missing token is reported when a call is placed, not here.
        """
        env = os.environ if env is None else env
        token: str | TokenSource
        if env.get("AIFLOW_SIPGATE_TOKEN"):
            token = env["AIFLOW_SIPGATE_TOKEN"]
        elif env.get("AIFLOW_SIPGATE_TOKEN_SECRET"):
            token = secret_token_source(env["AIFLOW_SIPGATE_TOKEN_SECRET"])
        else:
            token = _no_token
        return cls(
            token,
            base_url=env.get("AIFLOW_SIPGATE_API_URL") or DEFAULT_API_URL,
            device=env.get("AIFLOW_SIPGATE_DEVICE") or None,
        )

    def resolve_device(self, device: str | None = None) -> str:
        """The billing device to send: ``device``, else the client's default.

        Raises:
            DialNotConfigured: neither is set.
            InvalidDial: it is not a device id such as ``e2``.
        """
        chosen = device or self.device
        if not chosen:
            raise DialNotConfigured(
                "no billing device: pass device= (CLI: --device) or set AIFLOW_SIPGATE_DEVICE "
                "(the device of your sipgate account that pays for the call, e.g. e2)"
            )
        if not _DEVICE.match(chosen):
            raise InvalidDial(f"device: must be a sipgate device id such as e2, got {chosen!r}")
        return chosen

    def worst_case_seconds(self) -> float:
        """An upper bound of one :meth:`call` (connect and read timeouts of every attempt
        plus all waits), for callers with a deadline such as a Lambda function."""
        return self.retry.attempts * 2 * self.timeout + self.retry.max_wait

    def call(self, flow_id: str, to: str, *, device: str | None = None) -> DialResult:
        """Ask sipgate to let AI Flow ``flow_id`` call ``to``.

        Returns when sipgate answered 201: the phone rings; the call's events follow
        (``session.direction == "outbound"``).

        Raises:
            InvalidDial: bad flow id, number or device (nothing was sent).
            DialNotConfigured: no token or no device.
            FlowNotFound, FlowHasNoNumber, Unauthorized, RateLimited, SipgateUnavailable,
            UnexpectedAnswer: sipgate's answer, see :mod:`aiflow.outbound.errors`.
        """
        number = dial_number(to)
        flow = check_flow_id(flow_id)
        billing = self.resolve_device(device)
        token = self._read_token()
        path = self._prefix + CALL_PATH.format(flow_id=quote(flow, safe=""))
        body = json.dumps({"billingDevice": billing, "toPhoneNumber": number[1:]}).encode()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "aiflow-serverless",
        }
        facts = {"flow_id": flow, "to": mask_number(number), "device": billing}
        started = time.monotonic()
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                status, reason, answer_headers, raw = self._post(path, body, headers)
            except _NotSent as exc:
                error: DialError = SipgateUnavailable(
                    f"could not reach sipgate at {self.base_url} ({exc}); the call was not "
                    "placed. Check AIFLOW_SIPGATE_API_URL and the network."
                )
            except _MaybeSent as exc:
                logger.error("no answer from sipgate", extra={**facts, "error": str(exc)})
                raise SipgateUnavailable(
                    f"no answer from sipgate within {self.timeout:g} s after the request was "
                    f"sent ({exc}): the call may or may not have been placed, so it is not "
                    "repeated automatically. Check the AI Flow's call log before dialling again.",
                    outcome_unknown=True,
                ) from None
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                if 200 <= status < 300:
                    logger.info(
                        "outbound call started",
                        extra={
                            **facts,
                            "status": status,
                            "attempts": attempt,
                            "elapsed_ms": round(elapsed_ms, 1),
                        },
                    )
                    return DialResult(
                        flow_id=flow,
                        to=number,
                        device=billing,
                        status=status,
                        attempts=attempt,
                        elapsed_ms=elapsed_ms,
                        call_id=_call_id(raw),
                    )
                retry_after = _retry_after(answer_headers)
                error = answer_error(
                    status, reason, raw, flow_id=flow, device=billing, number=number
                )
                error.retry_after = retry_after
            if not error.retryable or attempt >= self.retry.attempts:
                raise self._give_up(error, attempt, started, facts)
            wait = retry_after if retry_after is not None else self.retry.backoff(attempt)
            if waited + wait > self.retry.max_wait:
                raise self._give_up(error, attempt, started, facts)
            logger.warning(
                "sipgate asked to retry",
                extra={**facts, "status": error.status, "attempt": attempt, "wait_s": wait},
            )
            time.sleep(wait)
            waited += wait

    def _read_token(self) -> str:
        token = self._token().strip()
        if not token:
            raise DialNotConfigured("the sipgate token is empty")
        if any(ch in token for ch in "\r\n\0"):
            raise DialNotConfigured("the sipgate token contains line breaks or NUL characters")
        return token

    def _post(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str, Message, bytes]:
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:  # refused, DNS, TLS, connect timeout: nothing was sent
                raise _NotSent(type(exc).__name__) from exc
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                raw = response.read(MAX_BODY_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise _MaybeSent(type(exc).__name__) from exc
            return response.status, response.reason, response.headers, raw
        finally:
            connection.close()

    def _give_up(
        self, error: DialError, attempts: int, started: float, facts: dict[str, Any]
    ) -> DialError:
        if attempts > 1:
            seconds = time.monotonic() - started
            error.message += f" (gave up after {attempts} attempts in {seconds:.1f} s)"
            error.args = (error.message,)
        logger.warning(
            "sipgate refused the call",
            extra={**facts, "code": error.code, "status": error.status, "attempts": attempts},
        )
        return error


def dial_number(number: str) -> str:
    """``number`` as E.164 with ``+`` (``0049 157 9000-0687`` -> ``+4915790000687``).

    Raises:
        InvalidDial: not a phone number, or a national number without country code.
    """
    text = number.strip() if isinstance(number, str) else ""
    e164 = to_e164(text)
    if e164 and _E164.match(e164):
        return e164
    if text.startswith("0") and not text.startswith("00"):
        raise InvalidDial(
            f"to: {mask_number(text)} is a national number; write it with the country code "
            "(e.g. +49 instead of the leading 0)"
        )
    raise InvalidDial(
        "to: must be a phone number with country code (+49..., 0049... or 49...), "
        f"got {mask_number(text) if text else 'nothing'}"
    )


def check_flow_id(flow_id: str) -> str:
    """``flow_id`` if it can be an AI Flow id (sipgate's are UUIDs).

    Raises:
        InvalidDial: empty, too long, or with characters no id has.
    """
    if isinstance(flow_id, str) and _FLOW_ID.match(flow_id.strip()):
        return flow_id.strip()
    raise InvalidDial(
        f"flow: must be the id of an AI Flow (e.g. e3670012-96a3-4ae5-ac42-87abe22015c3), "
        f"got {flow_id!r}"
    )


def answer_error(
    status: int, reason: str, raw: bytes, *, flow_id: str, device: str, number: str
) -> DialError:
    """The typed error for a non-2xx answer, its message saying what to check."""
    said = f"sipgate answered {status} {reason}".rstrip() + f": {excerpt(raw, number)}"
    if status == 404:
        return FlowNotFound(
            f"{said}. No AI Flow {flow_id!r} for this token: check the flow id (sipgate app, "
            "AI Flow settings) and that the token belongs to the same account.",
            status=status,
        )
    if status == 400:
        return FlowHasNoNumber(
            f"{said}. AI Flow {flow_id!r} needs a phone number (the caller id of outbound "
            f"calls); also check the billing device {device!r} and the number dialled.",
            status=status,
        )
    if status in (401, 403):
        return Unauthorized(
            f"{said}. Check the token (AIFLOW_SIPGATE_TOKEN, or the secret named by "
            "AIFLOW_SIPGATE_TOKEN_SECRET) and its scopes; outbound calls must also be enabled "
            "for the account by sipgate support.",
            status=status,
        )
    if status == 429:
        return RateLimited(
            f"{said}. Too many calls at once: dial fewer in parallel (the dial queue's "
            "MaximumConcurrency) or try again later.",
            status=status,
        )
    if status >= 500:
        return SipgateUnavailable(
            f"{said}. sipgate has a problem; the call was not placed. Try again later.",
            status=status,
        )
    return UnexpectedAnswer(
        f"{said}. Unexpected for this endpoint; the call was probably not placed.",
        status=status,
    )


def excerpt(raw: bytes, number: str | None = None) -> str:
    """The start of a body for an error message: one line, phone numbers masked."""
    text = " ".join(raw.decode("utf-8", "replace").split())
    if number:
        for form in (number, number.removeprefix("+")):
            text = text.replace(form, mask_number(number))
    # Mask anything that looks like a phone number, but keep ids (UUIDs) readable.
    text = "".join(
        part if _UUID.fullmatch(part) else mask_numbers_in(part) for part in _UUID_SPLIT.split(text)
    )
    if not text:
        return "(empty body)"
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def secret_token_source(secret_id: str, *, max_age: int = TOKEN_CACHE_SECONDS) -> TokenSource:
    """Read the token from the Secrets Manager secret ``secret_id`` through Powertools'
    ``SecretsProvider`` (cached for ``max_age`` seconds, so a new token is picked up without
    a redeploy). The secret's value is the raw token, or JSON ``{"token": "..."}``.

    The boto3 client has short timeouts and one retry: botocore's defaults (60 s, backoff)
    would outlast the caller's patience and a Lambda's time.
    """
    provider: Any = None

    def read() -> str:
        nonlocal provider
        if provider is None:
            import boto3
            from aws_lambda_powertools.utilities.parameters import SecretsProvider
            from botocore.config import Config

            config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2})
            provider = SecretsProvider(boto3_client=boto3.client("secretsmanager", config=config))
        try:
            value = provider.get(secret_id, max_age=max_age)
        except Exception as exc:
            cause = exc.__cause__ or exc.__context__ or exc
            code = error_code(cause)
            if code in ("ResourceNotFoundException", "AccessDeniedException"):
                raise DialNotConfigured(
                    f"cannot read the sipgate token secret {secret_id!r} ({code}): check "
                    "AIFLOW_SIPGATE_TOKEN_SECRET and secretsmanager:GetSecretValue on it"
                ) from None
            raise TokenUnavailable(
                f"Secrets Manager did not give the sipgate token ({code}); try again"
            ) from None
        text = value.decode() if isinstance(value, bytes) else str(value or "")
        return token_from_secret(text, secret_id)

    return read


def token_from_secret(value: str, secret_id: str) -> str:
    """The token in a secret's value: the raw string, or ``token`` of a JSON object.

    Raises:
        DialNotConfigured: the value is still the placeholder the stack created.
    """
    if value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            if "placeholder" in parsed:
                raise DialNotConfigured(
                    f"the secret {secret_id!r} still holds the placeholder the stack created: "
                    "put your sipgate token into it (stack output SetSipgateTokenCommand)"
                )
            if isinstance(parsed.get("token"), str):
                return str(parsed["token"])
    return value


class _NotSent(Exception):
    """The connection failed before the request left: safe to repeat."""


class _MaybeSent(Exception):
    """The request left but no complete answer came back."""


def _no_token() -> str:
    raise DialNotConfigured(
        "no sipgate token: set AIFLOW_SIPGATE_TOKEN, or AIFLOW_SIPGATE_TOKEN_SECRET to a "
        "Secrets Manager secret that holds it"
    )


def _retry_after(headers: Message) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), if present and valid."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _call_id(raw: bytes) -> str | None:
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in _ID_KEYS:
            value = body.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None
