"""Outbound calls: let an AI Flow call someone, and hand the assistant what the call is about.

    from aiflow.outbound import dial

    result = dial("e3670012-96a3-4ae5-ac42-87abe22015c3", "+4915790000687", device="e2",
                  data={"appointment": "2026-03-02T09:30", "patient": "Weber"})

* :func:`dial` stores the call context, then asks sipgate to place the call
  (:class:`SipgateClient`, ``POST /v3/ai-flows/{id}/call``); sipgate's answers become typed
  errors (:mod:`aiflow.outbound.errors`).
* :class:`OutboundContexts` (DynamoDB or memory) keeps the context until the call's
  ``session_start``, where the turn engine takes it (``take_for``) for ``call.outbound``.
* :func:`enqueue_dial` queues a call for the dialer function (:mod:`aiflow.outbound.dialer`),
  which dials with bounded concurrency and retries through SQS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .calls import dial
    from .client import DialResult, RetryPolicy, SipgateClient, dial_number, secret_token_source
    from .contexts import (
        DynamoDBOutboundContexts,
        MemoryOutboundContexts,
        OutboundContext,
        OutboundContexts,
    )
    from .errors import (
        ContextNotSaved,
        DialError,
        DialNotConfigured,
        DuplicateDial,
        FlowHasNoNumber,
        FlowNotFound,
        InvalidDial,
        RateLimited,
        SipgateUnavailable,
        TokenUnavailable,
        Unauthorized,
        UnexpectedAnswer,
    )
    from .queue import DialRequest, enqueue_dial

__all__ = [
    "ContextNotSaved",
    "DialError",
    "DialNotConfigured",
    "DialRequest",
    "DialResult",
    "DuplicateDial",
    "DynamoDBOutboundContexts",
    "FlowHasNoNumber",
    "FlowNotFound",
    "InvalidDial",
    "MemoryOutboundContexts",
    "OutboundContext",
    "OutboundContexts",
    "RateLimited",
    "RetryPolicy",
    "SipgateClient",
    "SipgateUnavailable",
    "TokenUnavailable",
    "Unauthorized",
    "UnexpectedAnswer",
    "dial",
    "dial_number",
    "enqueue_dial",
    "secret_token_source",
]

# Names are imported on first use: the webhook needs only `contexts` on its cold start, not
# the HTTP client, the queue or the dialer.
_MODULES = {
    "dial": "calls",
    "DialResult": "client",
    "RetryPolicy": "client",
    "SipgateClient": "client",
    "dial_number": "client",
    "secret_token_source": "client",
    "DynamoDBOutboundContexts": "contexts",
    "MemoryOutboundContexts": "contexts",
    "OutboundContext": "contexts",
    "OutboundContexts": "contexts",
    "DialRequest": "queue",
    "enqueue_dial": "queue",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name) or ("errors" if name in __all__ else None)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
