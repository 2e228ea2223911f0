"""Where a cold start's time goes, measured inside the child (``firstanswer_child.py --phases``).

Stdlib only: the child imports this before the webhook module. Time is *exclusive*: every
moment between two probe events goes to exactly one category, the innermost open probe or
else the current phase (``construction``, ``parse``, ``reply``, ...). Probes:

- garbage collection passes (``gc.callbacks``): ``gc``, wherever they strike.
- module loads (``_load_unlocked`` of ``importlib._bootstrap``, which runs for every module
  really loaded, whatever imported it): ``import:<top-level package>``; the webhook module
  itself and the assistant module of ``AIFLOW_ASSISTANT`` count as ``construction`` (their
  bodies build the handler); during the request, a
  load inside a token/store/validators probe counts for that probe, any other one as
  ``request-import:<top-level package>``.
- installed only right before the request, on modules already loaded (never imports one):
  botocore client creation and API calls (``dynamodb`` -> ``store``, ``secretsmanager`` ->
  ``token``), pydantic's lazy schema builds (``validators``). The first DynamoDB call ends
  ``parse`` and starts ``reply``.

The probes cost a few microseconds per module or call; the headline runs run without them.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

_REQUEST_PROBES = ("token", "store", "validators")


class Recorder:
    """Exclusive wall and CPU time (ns) per category."""

    def __init__(self, entry_module: str, assistant: str = "") -> None:
        # The handler's module and the assistant's (``AIFLOW_ASSISTANT``, module:object):
        # their own bodies build the handler; what they import counts as imports.
        self.construction = {entry_module, assistant.partition(":")[0]} - {""}
        # A benchmark app that wraps another (lean_gc_app imports lean_app), from the parent.
        self.construction |= set(filter(None, os.environ.get("BENCH_CONSTRUCTION", "").split(",")))
        self.phase = "child"
        self.stack: list[str] = []
        self.totals: dict[str, list[int]] = {}
        self._last = (time.perf_counter_ns(), time.process_time_ns())
        self.in_request = False

    def _settle(self) -> None:
        now = (time.perf_counter_ns(), time.process_time_ns())
        category = self.stack[-1] if self.stack else self.phase
        spent = self.totals.setdefault(category, [0, 0])
        spent[0] += now[0] - self._last[0]
        spent[1] += now[1] - self._last[1]
        self._last = now

    def set_phase(self, phase: str) -> None:
        """From now on, time outside every probe goes to ``phase``."""
        self._settle()
        self.phase = phase

    def enter(self, category: str) -> None:
        self._settle()
        self.stack.append(category)

    def leave(self) -> None:
        self._settle()
        self.stack.pop()

    def timed(self, category: Callable[..., str], func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` wrapped so that its time counts for ``category(*args)``."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.enter(category(*args, **kwargs))
            try:
                return func(*args, **kwargs)
            finally:
                self.leave()

        wrapper.__wrapped__ = func  # type: ignore[attr-defined]
        return wrapper

    # --- module loads ---------------------------------------------------------------------

    def _import_category(self, spec: Any, *_: Any) -> str:
        name = getattr(spec, "name", "?")
        if not self.in_request:
            return "construction" if name in self.construction else f"import:{name.split('.')[0]}"
        if self.stack and self.stack[-1] in _REQUEST_PROBES:
            return self.stack[-1]
        return f"request-import:{name.split('.')[0]}"

    def track_imports(self) -> None:
        """Count every module load from now on."""
        bootstrap = sys.modules["_frozen_importlib"]  # importlib._bootstrap, as loaded at start-up
        bootstrap._load_unlocked = self.timed(self._import_category, bootstrap._load_unlocked)

    # --- garbage collection -----------------------------------------------------------------

    def track_gc(self) -> None:
        """Count the cyclic garbage collector's passes as ``gc``, wherever they strike (a
        pass runs when allocations pile up: its cost grows with every object alive)."""

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                self.enter("gc")
            elif self.stack and self.stack[-1] == "gc":
                self.leave()

        gc.callbacks.append(callback)

    # --- the first request ----------------------------------------------------------------

    def track_request(self) -> list[str]:
        """Install the request probes on what is loaded; returns what was probed."""
        probed: list[str] = []
        self.in_request = True
        client_mod = sys.modules.get("botocore.client")
        if client_mod is not None:
            base = client_mod.BaseClient

            def api_category(client: Any, operation: str, *_: Any, **__: Any) -> str:
                service = client.meta.service_model.service_name
                if service == "dynamodb" and self.phase == "parse":
                    self.set_phase("reply")  # the first DynamoDB call ends parsing
                return _service_category(service)

            base._make_api_call = self.timed(api_category, base._make_api_call)
            probed.append("botocore API calls")
        session_mod = sys.modules.get("botocore.session")
        if session_mod is not None:
            session = session_mod.Session

            def client_category(_: Any, *args: Any, **kwargs: Any) -> str:
                return _service_category(args[0] if args else kwargs.get("service_name", "?"))

            session.create_client = self.timed(client_category, session.create_client)
            probed.append("botocore client creation")
        construction = sys.modules.get("pydantic._internal._model_construction")
        if construction is not None:
            construction.complete_model_class = self.timed(
                lambda *a, **k: "validators", construction.complete_model_class
            )
            probed.append("pydantic model builds")
        adapter_mod = sys.modules.get("pydantic.type_adapter")
        if adapter_mod is not None and hasattr(adapter_mod.TypeAdapter, "_init_core_attrs"):
            adapter = adapter_mod.TypeAdapter
            adapter._init_core_attrs = self.timed(
                lambda *a, **k: "validators", adapter._init_core_attrs
            )
            probed.append("pydantic TypeAdapter builds")
        return probed

    def result(self) -> dict[str, list[float]]:
        """Milliseconds per category: ``{category: [wall, cpu]}``."""
        self._settle()
        return {k: [v[0] / 1e6, v[1] / 1e6] for k, v in self.totals.items()}


def _service_category(service: str) -> str:
    return {"dynamodb": "store", "secretsmanager": "token"}.get(service, f"aws:{service}")
