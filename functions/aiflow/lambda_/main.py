"""The deployed entry points, for whichever assistant ``AIFLOW_ASSISTANT`` names.

``template.yaml`` points every function here and sets one variable from its ``Assistant``
parameter, so deploying another assistant is one setting, not three ``Handler:`` lines::

    Parameters:  Assistant: {Default: pizza.app:assistant}   ->  AIFLOW_ASSISTANT
    WebhookFunction    Handler: aiflow.lambda_.main.webhook
    WorkerFunction     Handler: aiflow.lambda_.main.worker
    WebSocketFunction  Handler: aiflow.lambda_.main.websocket

Each function builds only the entry point it uses, on first attribute access (the Lambda
runtime does that during init, which has the CPU boost): a cold start pays for one. A bad
setting fails that init with an :class:`AssistantSettingError` naming the variable and the fix.
The garbage collector is held until then (:mod:`.gchold`), and the entry point registers the
Lambda SnapStart hooks (:mod:`.snapstart`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..assistant import Assistant
from ..errors import AiflowError
from ..routing import Router
from . import gchold, snapstart

ASSISTANT_ENV = "AIFLOW_ASSISTANT"
_FIX = (
    "set the template parameter Assistant (template.yaml, or `aiflow dev TARGET` locally) "
    "to module:object, e.g. receptionist.app:assistant, naming an aiflow.Assistant in a "
    "package next to aiflow in the deployment (the folder of the template's CodeUri)"
)

ENTRY_POINTS: dict[str, str] = {
    "webhook": "http:lambda_handler",
    "worker": "worker:worker_handler",  # finishes turns that outran the time budget
    "websocket": "websocket:websocket_handler",  # $connect, $default, $disconnect
}
"""Entry point -> ``module:factory`` in :mod:`aiflow.lambda_`, imported only by the function
that uses it: the HTTP function never loads the WebSocket transport, nor the reverse."""


def entry_factory(name: str) -> Callable[[Assistant | Router], Any]:
    """The factory of entry point ``name`` (its module imported now)."""
    module, _, factory = ENTRY_POINTS[name].partition(":")
    found: Callable[[Assistant | Router], Any] = getattr(
        importlib.import_module(f"{__package__}.{module}"), factory
    )
    return found


class AssistantSettingError(AiflowError):
    """``AIFLOW_ASSISTANT`` is missing or does not name an :class:`~aiflow.Assistant`."""

    code = "bad_assistant_setting"


def assistant_spec(env: Mapping[str, str] | None = None) -> str:
    """The ``module:object`` of ``AIFLOW_ASSISTANT``, checked for its form."""
    env = os.environ if env is None else env
    spec = (env.get(ASSISTANT_ENV) or "").strip()
    if not spec:
        raise AssistantSettingError(f"{ASSISTANT_ENV} is not set: {_FIX}")
    module, colon, name = spec.partition(":")
    if not colon or not module or not name:
        raise AssistantSettingError(
            f"{ASSISTANT_ENV}={spec!r} is not module:object (a colon between the two): {_FIX}"
        )
    return spec


def load_assistant(spec: str) -> Assistant | Router:
    """Import ``module:object`` and check it is an :class:`~aiflow.Assistant` (or a
    :class:`~aiflow.routing.Router` of several).

    Raises:
        AssistantSettingError: the module is missing or has no such Assistant. Errors
            raised by the module itself (a broken configuration, say) propagate unchanged.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.split(".")[0] == exc.name.split(".")[0]:
            raise AssistantSettingError(
                f"{ASSISTANT_ENV}={spec!r}: no module {exc.name!r} in this deployment: {_FIX}"
            ) from None
        raise
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AssistantSettingError(
                f"{ASSISTANT_ENV}={spec!r}: {module_name} has no attribute {attribute!r}: {_FIX}"
            ) from None
    if not isinstance(obj, Assistant | Router):
        raise AssistantSettingError(
            f"{ASSISTANT_ENV}={spec!r} is a {type(obj).__name__}, not an aiflow.Assistant "
            f"or Router: {_FIX}"
        )
    return obj


def build_entry_point(name: str, env: Mapping[str, str] | None = None) -> Any:
    """The Lambda handler ``name`` (webhook, worker, websocket) of the configured assistant."""
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    spec = assistant_spec(env)
    entry = entry_factory(name)(load_assistant(spec))
    snapstart.register(entry)  # the SnapStart hooks (a no-op outside the Lambda runtime)
    return entry


def __getattr__(name: str) -> Any:
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        entry = build_entry_point(name)
    finally:
        gchold.release()  # init is over: freeze what it built, collect garbage again
    globals()[name] = entry  # built once per process
    return entry
