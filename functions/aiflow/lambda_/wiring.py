"""Building the turn engine of a Lambda function from :class:`~aiflow.settings.Settings`:
which store, which worker, which budgets."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..assistant import Assistant
from ..deadline import Deferrer
from ..routing import Router
from ..settings import Settings
from ..store.base import CallStore, Connections, HasConnections
from ..turns import TurnEngine, TurnLimits

if TYPE_CHECKING:
    from ..outbound.contexts import OutboundContexts


def default_store(settings: Settings) -> CallStore:
    """DynamoDB when a table is configured, else a per-process memory store."""
    if settings.table_name:
        from ..store.dynamodb import DynamoDBStore, dynamodb_client

        # In Lambda the client is created during init, which has the CPU boost. The engine
        # stops waiting at its deadline; botocore stops a request that outlives the budget.
        client = (
            dynamodb_client(read_timeout=settings.answer_budget_ms / 1000)
            if settings.in_lambda
            else None
        )
        return DynamoDBStore(
            settings.table_name, ttl_seconds=settings.call_ttl_seconds, client=client
        )
    from ..store.memory import MemoryStore

    return MemoryStore(ttl_seconds=settings.call_ttl_seconds)


def default_deferrer(settings: Settings) -> Deferrer | None:
    """The worker Lambda function, invoked asynchronously, if one is configured."""
    if not settings.worker_function:
        return None
    from .aws import LambdaDeferrer

    return LambdaDeferrer(settings.worker_function, settings=settings)


def limits(settings: Settings) -> TurnLimits:
    """The engine's budgets from the settings."""
    return TurnLimits(
        turn_budget_ms=settings.turn_budget_ms,
        answer_budget_ms=settings.answer_budget_ms,
        filler_after_ms=settings.turn_budget_ms,
    )


def build_engine(
    target: Assistant | Router,
    settings: Settings,
    *,
    store: CallStore | None = None,
    deferrer: Deferrer | None = None,
) -> TurnEngine:
    """The engine of one function: the given or default store and worker, and the outbound
    call contexts next to the calls."""
    call_store = store if store is not None else default_store(settings)
    engine = TurnEngine(
        target,
        call_store,
        limits=limits(settings),
        deferrer=deferrer if deferrer is not None else default_deferrer(settings),
        redact_logs=settings.redact_logs,
    )
    engine.outbound = _outbound_contexts(call_store)
    return engine


def _outbound_contexts(store: CallStore) -> Callable[[], OutboundContexts | None]:
    """Outbound call contexts next to the calls in DynamoDB (where ``aiflow dial`` leaves
    them), built on the first outbound call: an inbound line never imports aiflow.outbound.
    Other stores have none (tests wire :class:`~aiflow.outbound.MemoryOutboundContexts`)."""
    built: list[OutboundContexts | None] = []

    def contexts() -> OutboundContexts | None:
        if not built:
            from ..store.dynamodb import DynamoDBStore

            found: OutboundContexts | None = None
            if isinstance(store, DynamoDBStore):
                from ..outbound.contexts import DynamoDBOutboundContexts

                found = DynamoDBOutboundContexts(store.table_name, client=store.client)
            built.append(found)
        return built[0]

    return contexts


def connections_of(store: CallStore) -> Connections:
    """The WebSocket connection records of ``store``'s backend.

    Raises:
        TypeError: the store keeps none (pass ``connections=`` explicitly); connection
            records are never silently kept per process.
    """
    if isinstance(store, HasConnections):
        return store.connections()
    raise TypeError(
        f"{type(store).__name__} keeps no WebSocket connection records; pass connections=... "
        "to websocket_handler (records kept per process would miss interruptions)"
    )
