"""Lambda SnapStart: what an entry point does before the snapshot and after each restore.

With SnapStart (``template.yaml``: ``EnableSnapStart=true``) Lambda runs a function's init
once, when a version is published, snapshots the initialized process and starts every new
execution environment from that snapshot instead of a cold start. The Lambda Python runtime
runs the hooks registered with ``snapshot_restore_py`` (part of the runtime);
:func:`register` registers these, and does nothing where that module does not exist.

Before the snapshot (time here is not a caller's):

- build every pydantic validator a request may need (events, actions, history, the
  assistants' call state), which a cold start otherwise builds on its first requests;
- build what the entry point defers to its first request (the WebSocket transport);
- close the AWS clients' connection pools: no restored environment may use a TCP connection
  another one shares (init opens none; the clients reconnect on their next request);
- collect garbage once and freeze the rest (:func:`gc.freeze`): the snapshot holds a clean
  heap that no later collection scans again.

After each restore:

- reseed :mod:`random`: every environment restored from one snapshot would otherwise draw
  the same numbers (retry jitter); ``uuid4`` and :mod:`secrets` read the OS and need nothing;
- forget the API token read from Secrets Manager, if any, so a rotated token is read and not
  the one cached in the snapshot (monotonic clocks are not comparable across a restore either);
- close connection pools again, in case anything opened one meanwhile.
"""

from __future__ import annotations

import gc
import importlib
import logging
import random
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from .. import awsclients
from ..assistant import Assistant
from ..call import Outbound
from ..history import Playback, Turn
from ..protocol.actions import (
    ACTION_TYPES,
    AzureTts,
    BargeInPolicy,
    ElevenLabsTts,
    VadOptions,
)
from ..protocol.events import KNOWN_EVENTS, Session, UnknownEvent
from .aws import forget_secret_tokens

logger = logging.getLogger("aiflow")

RUNTIME_HOOKS = "snapshot_restore_py"
"""The Lambda Python runtime's module for SnapStart runtime hooks."""


def runtime_hooks() -> Any:
    """``snapshot_restore_py`` of the Lambda runtime, or None outside it."""
    try:
        return importlib.import_module(RUNTIME_HOOKS)
    except ImportError:
        return None


def register(entry: Any) -> bool:
    """Register the hooks of a built entry point (``aiflow.lambda_.main`` does it for the
    deployed ones; call it for a handler of your own). False where there is no runtime."""
    hooks = runtime_hooks()
    if hooks is None:
        return False
    hooks.register_before_snapshot(before_snapshot, entry)
    hooks.register_after_restore(after_restore, entry)
    return True


def before_snapshot(entry: Any) -> None:
    """Everything a restored environment should find ready, and nothing it must not share."""
    transport = getattr(entry, "transport", None)  # builds a WebSocket handler's transport
    engine = getattr(entry, "engine", None) or getattr(transport, "engine", None)
    router = getattr(engine, "router", None)
    assistants: list[Assistant] = list(getattr(router, "assistants", []))
    built = warm_validators(validated_models(assistants))
    closed = awsclients.close_connections()
    gc.unfreeze()  # init froze what it built (aiflow.lambda_.gchold): collect all of it now
    gc.collect()
    gc.freeze()
    logger.info("ready for the snapshot", extra={"validators": built, "aws_clients": closed})


def after_restore(entry: Any) -> None:
    """Make this environment's own what the snapshot shared."""
    random.seed()
    forgotten = forget_secret_tokens()
    awsclients.close_connections()
    logger.info("restored from the snapshot", extra={"tokens_forgotten": forgotten})


def validated_models(assistants: Iterable[Assistant]) -> list[type[BaseModel]]:
    """The models whose validators a request may build: every event and action, the
    history and the assistants' call state."""
    models: list[type[BaseModel]] = [Session, *KNOWN_EVENTS.values(), UnknownEvent]
    models += [*ACTION_TYPES.values(), AzureTts, ElevenLabsTts, BargeInPolicy, VadOptions]
    models += [Turn, Playback, Outbound]
    models += [a.state_model for a in assistants if a.state_model is not None]
    return models


def warm_validators(models: Iterable[type[BaseModel]]) -> int:
    """Build the validators of ``models`` not built yet; how many were built."""
    built = 0
    for model in models:
        if not model.__pydantic_complete__:
            model.model_rebuild()
            built += 1
    return built
