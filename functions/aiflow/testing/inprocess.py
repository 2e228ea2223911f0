"""What a :class:`~aiflow.testing.CallSimulator` calls (:func:`connect`), and the assistant's
entry points in this process as it drives them (:class:`InProcess`): the Lambda handler it
builds (HTTP or WebSocket), the turn engine's reports (a handler's exception), the slow-turn
worker run when the simulated platform says so, outbound call contexts, and the call as
stored."""

from __future__ import annotations

import os
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..assistant import Assistant
from ..call import Call
from ..clock import Clock
from ..lambda_.http import lambda_handler
from ..lambda_.websocket import WebSocketHandler
from ..local.server import DevServer
from ..local.transports import (
    HttpTransport,
    InProcessTransport,
    InProcessWebSocketTransport,
    SimulatorError,
    Transport,
    WebSocketClientTransport,
    load_object,
)
from ..protocol.phone import to_e164
from ..report import TurnReport
from ..routing import Router
from ..settings import Settings
from ..store.base import CallStore
from ..store.memory import MemoryStore
from ..turns import TurnEngine
from .options import CallOptions

Via = Literal["http", "loopback", "websocket"]


class InProcess:
    """One handler's turn engine, seen from a simulated call.

    Args:
        engine: the engine behind the handler.
        session_id: the simulated call (reports of other calls are not collected).
        owned: the engine was built for this call (closed with it).
        any_thread: the engine runs in another thread than the call's requests (a server on
            loopback): its reports are collected whichever thread made them.
    """

    def __init__(
        self, engine: TurnEngine, session_id: str, *, owned: bool, any_thread: bool = False
    ) -> None:
        self.engine = engine
        self.session_id = session_id
        self.owned = owned
        self.any_thread = any_thread
        self.slow_turns: list[dict[str, Any]] = []  # worker payloads not yet run
        self.server: DevServer | None = None
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
        ``websocket_handler``) on ``store``, and its transport: in process, or real HTTP to
        a dev server on a free loopback port (``loopback``)."""
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
        engine = handler.engine  # type: ignore[attr-defined]
        inprocess = cls(engine, session_id, owned=True, any_thread=via == "loopback")
        inprocess.slow_turns = slow_turns
        if via == "loopback":
            inprocess.server = DevServer(handler, port=0).start()
            return HttpTransport(inprocess.server.webhook_url), inprocess
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
            self._reports[self._thread()].append(report)

    def take_reports(self) -> list[TurnReport]:
        """The reports of this thread's requests since the last call."""
        with self._lock:
            return self._reports.pop(self._thread(), [])

    def _thread(self) -> int:
        return 0 if self.any_thread else threading.get_ident()

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
        """What ``aiflow.outbound.dial`` does before sipgate rings: save the context of the
        call to ``to`` where the engine takes it on ``session_start``."""
        from ..outbound.contexts import MemoryOutboundContexts, OutboundContext

        number = to_e164(to)
        if not number or not number.startswith("+"):
            raise SimulatorError(
                f"an outbound call needs the callee's number in international form, got {to!r}",
                code="bad_number",
            )

        contexts = self.engine.outbound() if self.engine.outbound is not None else None
        if contexts is None:
            memory = MemoryOutboundContexts()
            self.engine.outbound = lambda: memory
            contexts = memory
        context = OutboundContext(
            request_id=f"simulated-{self.session_id}",
            flow_id=flow_id,
            to=number,
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
        """Stop listening; stop the server and the engine's threads if they were built for
        this call."""
        if self.server is not None:
            self.server.stop()
        if self._listen in self.engine.listeners:
            self.engine.listeners.remove(self._listen)
        if self.owned:
            self.engine.close()


@dataclass
class Connected:
    """How a simulated call reaches its target.

    Attributes:
        transport: delivers the events.
        inprocess: the engine seen from the call, when it runs in this process and exposes
            its engine.
        handler: the Lambda handler called in process, if any.
        token: the token the call sends (None: no header).
        store: the call store of an assistant built here.
        in_process: the target runs in this process (its logs can be quieted).
    """

    transport: Transport
    inprocess: InProcess | None
    handler: Any
    token: str | None
    store: CallStore | None
    in_process: bool


def connect(
    target: Any,
    session_id: str,
    *,
    options: CallOptions,
    store: CallStore | None,
    token: str | None,
    clock: Clock | None,
    settings: Settings | None,
    transport: Via | Transport,
) -> Connected:
    """The transport for ``target`` (see :class:`~aiflow.testing.CallSimulator`'s
    arguments): an Assistant or Router built here, a Lambda handler, ``module:object``, or
    a URL."""
    sent = token if token is not None else os.environ.get("AIFLOW_API_TOKEN")
    if not isinstance(transport, str):
        return Connected(transport, None, None, sent, store, False)
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        http = HttpTransport(target, timeout_s=options.http_timeout_s)
        return Connected(http, None, None, sent, store, False)
    if isinstance(target, str) and target.startswith(("ws://", "wss://")):
        return Connected(
            WebSocketClientTransport(target, sent or ""), None, None, sent, store, False
        )
    resolved = load_object(target) if isinstance(target, str) else target
    if isinstance(resolved, Assistant | Router):
        own_token = token or secrets.token_urlsafe(18)
        own_store = store if store is not None else MemoryStore()
        built, inprocess = InProcess.build(
            resolved,
            session_id,
            via=transport,
            store=own_store,
            token=own_token,
            settings=settings,
            clock=clock,
            worker=options.worker != "off",
        )
        handler = getattr(built, "handler", None)
        return Connected(built, inprocess, handler, own_token, own_store, True)
    if callable(resolved):
        name = getattr(resolved, "__name__", type(resolved).__name__)
        way: Transport
        if isinstance(resolved, WebSocketHandler):
            way = InProcessWebSocketTransport(resolved, name=name, clock=clock)
        else:
            way = InProcessTransport(resolved, name=name)
        return Connected(way, InProcess.of(resolved, session_id), resolved, sent, store, True)
    raise SimulatorError(
        f"cannot call {type(resolved).__name__}: pass an Assistant, a Router, a Lambda "
        "handler, 'module:object' or an http(s):// or ws(s):// URL",
        code="bad_target",
    )
