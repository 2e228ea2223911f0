"""Call contexts: what the code that dialled a call hands to the assistant on that call.

:func:`aiflow.outbound.dial` saves an :class:`OutboundContext` (the AI Flow, the number, the
billing device and your JSON ``data``, e.g. the appointment to confirm) *before* it asks
sipgate to call, and the turn engine takes it on the call's ``session_start`` with
:meth:`OutboundContexts.take_for`. Taking consumes it, so it is handed out once.

Matching: sipgate's ``201`` answer carries no documented id (see :mod:`aiflow.outbound.client`),
so a context is found by the dialled number, which an outbound call's events carry as
``session.to_phone_number``, within a time window after the dial (default 120 s: retries plus
ringing). One context per number at a time: a newer dial to the same number replaces an older
one that was not taken yet.

DynamoDB layout, in the call table next to the call records (partition key ``session_id``; the
prefix ``outbound#`` cannot be a platform session id, which is a UUID)::

    session_id  S  "outbound#" + sha256(E.164 number) (the key holds no readable number)
    request_id  S  our id of the dial; a repeated delivery of the same dial is not saved twice
    created_at  N  Unix ms of the dial (the window starts here)
    expires_at  N  Unix seconds, DynamoDB TTL (default: one hour after the dial)
    flow_id     S  the AI Flow
    to          S  the dialled number, E.164
    device      S  the billing device
    data        S  the caller's JSON data

Requests: ``save`` is one ``PutItem``, ``take_for`` one conditional ``DeleteItem`` with
``ReturnValues=ALL_OLD`` (none for an inbound call), ``discard`` one conditional ``DeleteItem``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..awsclients import error_code
from ..protocol.events import Session
from ..protocol.phone import to_e164
from ..store.base import StoreError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "outbound#"
DEFAULT_WINDOW_MS = 120_000
DEFAULT_TTL_SECONDS = 3600


class OutboundContext(BaseModel):
    """What a dial leaves for the assistant of the call it starts.

    Attributes:
        request_id: our id of the dial (logs of the dial and of the call share it).
        flow_id: the AI Flow that placed the call.
        to: the dialled number, E.164 with ``+``.
        device: the billing device.
        data: the JSON object given to ``dial(data=...)`` (empty if none).
        created_at: Unix ms of the dial.
    """

    # defer_build: the validator is built on first use, not on the webhook's cold start.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    request_id: str = Field(min_length=1)
    flow_id: str = Field(min_length=1)
    to: str = Field(pattern=r"^\+\d{2,15}$")
    device: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: int = Field(ge=0)


class OutboundContexts(Protocol):
    """Where contexts wait for their call. Implementations must be safe across threads."""

    def save(self, context: OutboundContext) -> bool:
        """Store ``context`` for its number, replacing an older dial's.

        Returns:
            False if this very dial (same ``request_id``) is stored already: a repeated
            delivery of one queue message, which must not ring twice.

        Raises:
            StoreError: the backend failed.
        """
        ...

    def take_for(self, session: Session, now_ms: int) -> OutboundContext | None:
        """The context of the call ``session`` belongs to, removed so nobody gets it again.

        Only outbound calls can have one: ``session.direction == "inbound"`` returns None
        without asking the backend. Found by ``session.to_phone_number`` (or
        ``phone_number`` if that is missing) among contexts saved at most ``window_ms``
        before ``now_ms``.

        Raises:
            StoreError: the backend failed (treat as "no context" and log it).
        """
        ...

    def discard(self, context: OutboundContext) -> None:
        """Remove ``context`` if it is still this dial's (the call could not be placed)."""
        ...


def context_key(number: str) -> str:
    """The partition key of the context for ``number`` (E.164)."""
    return KEY_PREFIX + hashlib.sha256(number.encode()).hexdigest()


def dialled_number(session: Session) -> str | None:
    """The number an outbound call's events name as the callee, as E.164, or None."""
    if session.direction == "inbound":
        return None
    number = to_e164(session.to_phone_number or session.phone_number)
    return number if number and number.startswith("+") else None


class MemoryOutboundContexts:
    """Contexts in this process (tests, ``aiflow dev``), with the same rules as DynamoDB.

    Args:
        window_ms: how long after a dial its context can be taken.
    """

    def __init__(self, *, window_ms: int = DEFAULT_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self._contexts: dict[str, OutboundContext] = {}
        self._lock = threading.Lock()

    def save(self, context: OutboundContext) -> bool:
        """See :meth:`OutboundContexts.save`."""
        key = context_key(context.to)
        with self._lock:
            current = self._contexts.get(key)
            if current is not None and current.request_id == context.request_id:
                return False
            self._contexts[key] = context
            return True

    def take_for(self, session: Session, now_ms: int) -> OutboundContext | None:
        """See :meth:`OutboundContexts.take_for`."""
        number = dialled_number(session)
        if number is None:
            return None
        key = context_key(number)
        with self._lock:
            context = self._contexts.get(key)
            if context is None or context.created_at < now_ms - self.window_ms:
                return None
            del self._contexts[key]
            return context

    def discard(self, context: OutboundContext) -> None:
        """See :meth:`OutboundContexts.discard`."""
        key = context_key(context.to)
        with self._lock:
            current = self._contexts.get(key)
            if current is not None and current.request_id == context.request_id:
                del self._contexts[key]


class DynamoDBOutboundContexts:
    """Contexts in the call table (layout in the module docstring).

    Args:
        table_name: the call table (``AIFLOW_TABLE_NAME``).
        client: a ``boto3.client("dynamodb")``; default: aiflow's, with short timeouts.
        window_ms: how long after a dial its context can be taken.
        ttl_seconds: when DynamoDB may delete a context nobody took.
        clock: Unix seconds (for ``expires_at``).
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        window_ms: int = DEFAULT_WINDOW_MS,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self.window_ms = window_ms
        self.ttl_seconds = max(ttl_seconds, window_ms // 1000 + 1)
        self.clock = clock
        self._client = client

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, client: DynamoDBClient | None = None
    ) -> DynamoDBOutboundContexts | None:
        """Contexts in ``AIFLOW_TABLE_NAME`` (None if unset), with the window from
        ``AIFLOW_OUTBOUND_WINDOW_SECONDS`` (default 120)."""
        env = os.environ if env is None else env
        table = env.get("AIFLOW_TABLE_NAME")
        if not table:
            return None
        raw = env.get("AIFLOW_OUTBOUND_WINDOW_SECONDS") or str(DEFAULT_WINDOW_MS // 1000)
        try:
            window_s = int(raw)
        except ValueError:
            window_s = 0
        if window_s <= 0:
            raise StoreError(
                f"AIFLOW_OUTBOUND_WINDOW_SECONDS must be a whole number > 0, got {raw!r}",
                code="bad_setting",
            )
        return cls(table, client=client, window_ms=window_s * 1000)

    @property
    def client(self) -> DynamoDBClient:
        """The boto3 client (created on first use)."""
        if self._client is None:
            from ..store.dynamodb import dynamodb_client

            self._client = dynamodb_client()
        return self._client

    def save(self, context: OutboundContext) -> bool:
        """See :meth:`OutboundContexts.save` (one ``PutItem``)."""
        expires = context.created_at // 1000 + self.ttl_seconds
        item = {
            "session_id": {"S": context_key(context.to)},
            "request_id": {"S": context.request_id},
            "created_at": {"N": str(context.created_at)},
            "expires_at": {"N": str(max(expires, int(self.clock()) + self.ttl_seconds))},
            "flow_id": {"S": context.flow_id},
            "to": {"S": context.to},
            "device": {"S": context.device},
            "data": {"S": json.dumps(context.data, ensure_ascii=False, separators=(",", ":"))},
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(session_id) OR request_id <> :rid",
                ExpressionAttributeValues={":rid": {"S": context.request_id}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _store_error("PutItem", exc) from exc
        return True

    def take_for(self, session: Session, now_ms: int) -> OutboundContext | None:
        """See :meth:`OutboundContexts.take_for` (one conditional ``DeleteItem``; none for
        an inbound call)."""
        number = dialled_number(session)
        if number is None:
            return None
        try:
            deleted = self.client.delete_item(
                TableName=self.table_name,
                Key={"session_id": {"S": context_key(number)}},
                # Older contexts stay for TTL to remove: they belong to no call any more.
                ConditionExpression="created_at >= :oldest",
                ExpressionAttributeValues={":oldest": {"N": str(now_ms - self.window_ms)}},
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None  # none, or too old
            raise _store_error("DeleteItem", exc) from exc
        item = deleted.get("Attributes")
        if not item:
            return None
        try:
            return OutboundContext(
                request_id=item["request_id"]["S"],
                flow_id=item["flow_id"]["S"],
                to=item["to"]["S"],
                device=item["device"]["S"],
                data=json.loads(item["data"]["S"]),
                created_at=int(item["created_at"]["N"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(f"malformed outbound context item: {type(exc).__name__}") from None

    def discard(self, context: OutboundContext) -> None:
        """See :meth:`OutboundContexts.discard` (one conditional ``DeleteItem``)."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"session_id": {"S": context_key(context.to)}},
                ConditionExpression="request_id = :rid",
                ExpressionAttributeValues={":rid": {"S": context.request_id}},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise _store_error("DeleteItem", exc) from exc


def _store_error(operation: str, exc: Exception) -> StoreError:
    code = error_code(exc)
    return StoreError(f"DynamoDB {operation} of an outbound context failed: {code}")
