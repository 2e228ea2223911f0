"""What can go wrong when placing an outbound call: one error per answer of sipgate.

Every non-2xx answer of ``POST /v3/ai-flows/{aiFlowId}/call`` becomes one of these, with a
message that says what sipgate answered (status and a short excerpt of its body, phone
numbers masked) and what to check. ``retryable`` tells a queue whether the same request may
succeed later unchanged; ``outcome_unknown`` marks the one case where the call may have been
placed although no answer came back (then repeating it could ring the person twice).
"""

from __future__ import annotations

from ..errors import AiflowError


class DialError(AiflowError):
    """Base class: the call was not started (or, with ``outcome_unknown``, maybe it was).

    Attributes:
        status: sipgate's HTTP status, if an answer arrived.
        retryable: the same request may succeed later (rate limit, outage).
        outcome_unknown: the request was sent but no answer came back in time.
        retry_after: seconds sipgate asked us to wait (``Retry-After``), if it did.
    """

    code = "dial_failed"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class InvalidDial(DialError, ValueError):
    """The request cannot be sent as given (bad number, flow id, device or data)."""

    code = "invalid_dial"


class DialNotConfigured(DialError):
    """Something the dial needs is not configured: the token, the billing device, a table."""

    code = "dial_not_configured"


class TokenUnavailable(DialError):
    """The sipgate token could not be read from Secrets Manager right now."""

    code = "sipgate_token_unavailable"
    retryable = True


class ContextNotSaved(DialError):
    """The call context could not be stored, so the call was not placed."""

    code = "outbound_context_not_saved"
    retryable = True


class DuplicateDial(DialError):
    """This dial (its ``request_id``) was handled before: a queue delivered it twice."""

    code = "duplicate_dial"


class FlowNotFound(DialError):
    """404: sipgate knows no AI Flow with this id (for this token's account)."""

    code = "flow_not_found"


class FlowHasNoNumber(DialError):
    """400: the AI Flow has no phone number, which outbound calls use as caller id."""

    code = "flow_has_no_number"


class Unauthorized(DialError):
    """401/403: the token is wrong, expired, lacks the scope, or outbound calls are not
    enabled for the account."""

    code = "sipgate_unauthorized"


class RateLimited(DialError):
    """429: sipgate asked us to slow down and waiting longer was not within the bound."""

    code = "sipgate_rate_limited"
    retryable = True


class SipgateUnavailable(DialError):
    """5xx, a timeout or no connection. Retryable unless the request may have arrived."""

    code = "sipgate_unavailable"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(
            message, status=status, retry_after=retry_after, outcome_unknown=outcome_unknown
        )
        # An instance attribute: whether this one may be repeated depends on how it failed.
        self.retryable = not outcome_unknown


class UnexpectedAnswer(DialError):
    """Any other answer (another 4xx, a 3xx): not retried; the message has the details."""

    code = "sipgate_unexpected_answer"
