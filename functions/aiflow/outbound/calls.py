"""``dial()``: store the call context, then ask sipgate to place the call."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from typing import Any

from ..redact import log_failure, mask_number
from ..store.base import StoreError
from .client import DialResult, SipgateClient, check_flow_id, dial_number
from .contexts import DynamoDBOutboundContexts, OutboundContext, OutboundContexts
from .errors import ContextNotSaved, DialError, DialNotConfigured, DuplicateDial, InvalidDial

logger = logging.getLogger("aiflow.outbound")

# A DynamoDB item holds 400 KB and an SQS message 256 KB; a call context is a few facts.
MAX_DATA_BYTES = 32 * 1024


def dial(
    flow_id: str,
    to: str,
    *,
    device: str | None = None,
    data: dict[str, Any] | None = None,
    client: SipgateClient | None = None,
    contexts: OutboundContexts | None = None,
    request_id: str | None = None,
) -> DialResult:
    """Let AI Flow ``flow_id`` call ``to``; the assistant gets ``data`` on that call.

    The context (``data`` and the dial's facts) is stored first, so it is there when the
    callee answers; when the call cannot be placed it is removed again.

    Args:
        flow_id: the AI Flow (its phone number is the caller id).
        to: the number to call, with country code (``+49...``, ``0049...`` or ``49...``).
        device: the billing device; default: the client's (``AIFLOW_SIPGATE_DEVICE``).
        data: a JSON object for the assistant (``call.outbound.data``), at most 32 KB.
        client: default: :meth:`SipgateClient.from_env`.
        contexts: where the context waits; default: the call table ``AIFLOW_TABLE_NAME``,
            if set (``data`` needs one).
        request_id: our id of this dial; a queue passes its message id so that a repeated
            delivery does not ring twice. Default: a new UUID.

    Returns:
        What sipgate answered, with ``request_id`` and ``context_saved``.

    Raises:
        DialError: see :mod:`aiflow.outbound.errors`; nothing was placed unless the error's
            ``outcome_unknown`` is true.
    """
    client = client or SipgateClient.from_env()
    number = dial_number(to)
    flow = check_flow_id(flow_id)
    billing = client.resolve_device(device)
    payload = check_data(data)
    if contexts is None:
        contexts = DynamoDBOutboundContexts.from_env()
        if contexts is None and data is not None:
            raise DialNotConfigured(
                "data needs a store for the call context: set AIFLOW_TABLE_NAME to the call "
                "table (stack output CallsTableName) or pass contexts="
            )
    context = OutboundContext(
        request_id=request_id or uuid.uuid4().hex,
        flow_id=flow,
        to=number,
        device=billing,
        data=payload,
        created_at=int(time.time() * 1000),
    )
    facts = {"flow_id": flow, "to": mask_number(number), "request_id": context.request_id}
    saved = False
    if contexts is not None:
        try:
            saved = contexts.save(context)
        except StoreError as exc:
            raise ContextNotSaved(
                f"the call context could not be stored ({exc.message}); the call was not placed"
            ) from exc
        if not saved:
            logger.warning("dial already handled, not repeated", extra=facts)
            raise DuplicateDial(
                f"dial {context.request_id} was handled before (a repeated delivery); "
                "it is not placed twice"
            )
    try:
        result = client.call(flow, number, device=billing)
    except DialError as exc:
        if saved and contexts is not None and not exc.outcome_unknown:
            _discard(contexts, context, facts)
        raise
    return dataclasses.replace(result, request_id=context.request_id, context_saved=saved)


def check_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """``data`` as a JSON object of at most :data:`MAX_DATA_BYTES` (``{}`` for None).

    Raises:
        InvalidDial: not a JSON object, or too big.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidDial(f"data: must be a JSON object, got {type(data).__name__}")
    try:
        encoded = json.dumps(data, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidDial(f"data: must be JSON ({exc})") from None
    if len(encoded.encode()) > MAX_DATA_BYTES:
        raise InvalidDial(f"data: at most {MAX_DATA_BYTES} bytes of JSON, got {len(encoded)}")
    result: dict[str, Any] = json.loads(encoded)
    return result


def _discard(contexts: OutboundContexts, context: OutboundContext, facts: dict[str, Any]) -> None:
    """Best effort: a context left behind expires after the window anyway."""
    try:
        contexts.discard(context)
    except StoreError:
        log_failure(logger, "could not remove the context of a failed dial", **facts)
