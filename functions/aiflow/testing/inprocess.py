"""The assistant's entry points in this process, as :class:`~aiflow.testing.CallSimulator`
drives them: the Lambda handler it builds (HTTP or WebSocket), the turn engine's reports (a
handler's exception), the slow-turn worker run when the simulated platform says so, outbound
call contexts, and the call as stored."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import replace
from typing import Any, Literal

from ..assistant import Assistant
from ..call import Call
from ..clock import Clock
from ..lambda_.http import lambda_handler
from ..lambda_.websocket import WebSocketHandler
from ..local.transports import InProcessTransport, InProcessWebSocketTransport, Transport
from ..report import TurnReport
from ..routing import Router
from ..settings import Settings
from ..store.base import CallStore
from ..turns import TurnEngine

Via = Literal["http", "websocket"]


class InProcess:
    """One handler's turn engine, seen from a simulated call.

    Args:
        engine: the engine behind the handler.
        session_id: the simulated call (reports of other calls are not collected).
        owned: the engine was built for this call (closed with it).
    """

    def __init__(self, engine: TurnEngine, session_id: str, *, owned: bool) -> None:
        self.engine = engine
        self.session_id = session_id
        self.owned = owned
        self.slow_turns: list[dict[str, Any]] = []  # worker payloads not yet run
        self._reports: dict[int, list[TurnReport]] = defaultdict(list)
        self._lock = threading.Lock()
        engine.listeners.append(self._listen)

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        target: Assistant | Router,
        session_id: str,
        *,
        via: Via,
        store: CallStore,
        token: str,
        settings: Settings | None,
        clock: Clock | None,
        worker: bool,
    ) -> tuple[Transport, InProcess]:
        """The Lambda handler of ``target`` exactly as deployed (``lambda_handler`` or
        ``websocket_handler``) on ``store``, and its transport."""
        settings = replace(settings or Settings(), api_token=token, table_name=None)
        name = target.name
        if via == "websocket":
            ws = WebSocketHandler(target, store=store, token=token, settings=settings, clock=clock)
            transport: Transport = InProcessWebSocketTransport(ws, name=name, clock=clock)
            return transport, cls(ws.transport.engine, session_id, owned=True)
        slow_turns: list[dict[str, Any]] = []
        handler = lambda_handler(
            target,
            store=store,
            token=token,
            settings=settings,
            clock=clock,
            deferrer=slow_turns.append if worker else None,
        )
        inprocess = cls(handler.engine, session_id, owned=True)  # type: ignore[attr-defined]
        inprocess.slow_turns = slow_turns
        return InProcessTransport(handler, name=name), inprocess

    @classmethod
    def of(cls, handler: Any, session_id: str) -> InProcess | None:
        """For a handler built elsewhere: its engine's reports, if it exposes its engine."""
        engine = getattr(handler, "engine", None)
        if isinstance(handler, WebSocketHandler):
            engine = handler.transport.engine
        if not isinstance(engine, TurnEngine):
            return None
        return cls(engine, session_id, owned=False)

    # --- reports ----------------------------------------------------------------------------

    def _listen(self, report: TurnReport) -> None:
        if report.session_id != self.session_id:
            return
        # The engine reports in the thread that called it: the thread of the request.
        with self._lock:
            self._reports[threading.get_ident()].append(report)

    def take_reports(self) -> list[TurnReport]:
        """The reports of this thread's requests since the last call."""
        with self._lock:
            return self._reports.pop(threading.get_ident(), [])

    # --- the worker ---------------------------------------------------------------------------

    def run_slow_turns(self) -> int:
        """Run the worker (``engine.finish_slow_turn``) for every deferred turn, here and now;
        returns how many ran."""
        ran = 0
        while self.slow_turns:
            payload = self.slow_turns.pop(0)
            self.engine.finish_slow_turn(payload)
            ran += 1
        return ran

    # --- outbound and the stored call ---------------------------------------------------------

    def leave_outbound_context(
        self, *, to: str, data: dict[str, Any], flow_id: str, device: str
    ) -> None:
        """What ``aiflow.outbound.dial`` does before sipgate rings: save the call's context
        where the engine takes it on ``session_start``."""
        from ..outbound.contexts import MemoryOutboundContexts, OutboundContext

        contexts = self.engine.outbound() if self.engine.outbound is not None else None
        if contexts is None:
            memory = MemoryOutboundContexts()
            self.engine.outbound = lambda: memory
            contexts = memory
        context = OutboundContext(
            request_id=f"simulated-{self.session_id}",
            flow_id=flow_id,
            to=to,
            device=device,
            data=data,
            created_at=self.engine.clock.now_ms(),
        )
        contexts.save(context)

    def stored_call(self) -> Call[Any] | None:
        """The call as its record is stored now (its assistant's state model), or None."""
        stored = self.engine.store.load(self.session_id)
        if stored is None:
            return None
        router = self.engine.router
        assistant = router.by_name(stored.doc.get("assistant")) or self.engine.assistant
        return Call.from_doc(
            stored.doc,
            version=stored.version,
            state_model=assistant.state_model,
            clock=self.engine.clock,
        )

    def close(self) -> None:
        """Stop listening; stop the engine's threads if it was built for this call."""
        if self._listen in self.engine.listeners:
            self.engine.listeners.remove(self._listen)
        if self.owned:
            self.engine.close()
