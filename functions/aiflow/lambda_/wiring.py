"""Building the turn engine of a Lambda function from :class:`~aiflow.settings.Settings`:
which store, which worker, which budgets, and whether calls are recorded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..assistant import Assistant
from ..clock import Clock
from ..deadline import Deferrer
from ..records.policy import RecordPolicy, policy_for
from ..routing import Router, as_router
from ..settings import Settings
from ..store.base import CallStore, Connections, HasConnections
from ..turns import TurnEngine, TurnLimits

if TYPE_CHECKING:
    from ..outbound.contexts import OutboundContexts
    from ..records.store import RecordStore

logger = logging.getLogger("aiflow.records")


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
    records: RecordStore | None = None,
    clock: Clock | None = None,
) -> TurnEngine:
    """The engine of one function: the given or default store and worker, the outbound
    call contexts next to the calls, and the call recorder if calls are recorded (finished
    records go to ``records``, default :func:`default_record_store`; ``clock``: wall time, a
    fake one in tests)."""
    call_store = store if store is not None else default_store(settings)
    engine = TurnEngine(
        target,
        call_store,
        limits=limits(settings),
        deferrer=deferrer if deferrer is not None else default_deferrer(settings),
        clock=clock,
        redact_logs=settings.redact_logs,
    )
    engine.outbound = _outbound_contexts(call_store)
    policies = record_policies(target, settings)
    if policies:
        from ..records.recorder import CallRecorder

        recorder = CallRecorder(
            policies,
            records if records is not None else default_record_store(settings, call_store),
            retention_days=settings.record_retention_days,
            redact_logs=settings.redact_logs,
        )
        engine.recorders.append(recorder.record)
        engine.listeners.append(recorder.finish)
    return engine


def record_policies(target: Assistant | Router, settings: Settings) -> dict[str, RecordPolicy]:
    """Assistant name -> how its calls are recorded, for the assistants that record."""
    policies: dict[str, RecordPolicy] = {}
    for assistant in as_router(target).assistants:
        policy = policy_for(assistant.record_calls, deployment=settings.record_calls)
        if policy is not None:
            policies[assistant.name] = policy
    return policies


def default_record_store(settings: Settings, store: CallStore) -> RecordStore:
    """The records table (``AIFLOW_RECORDS_TABLE``) through the call store's client, else a
    per-process memory store (with a warning in Lambda, where that loses them)."""
    from ..records.store import DynamoDBRecordStore, MemoryRecordStore
    from ..store.dynamodb import DynamoDBStore

    if settings.records_table:
        client = store.client if isinstance(store, DynamoDBStore) else None
        return DynamoDBRecordStore(settings.records_table, client=client)
    if settings.in_lambda:
        logger.warning(
            "calls are recorded but AIFLOW_RECORDS_TABLE is not set: finished records are "
            "kept in memory only; deploy with EnableCallRecords=true"
        )
    return MemoryRecordStore()


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
