"""The call context handed to handlers: who is calling, and what this call remembers.

A :class:`Call` is loaded before each event and saved after it by the turn engine
(:mod:`aiflow.turns`). Handlers read the caller's number, keep their own data in
``call.state`` (a dict, or an instance of the state model given to ``Assistant(state=...)``;
annotate ``call: Call[MyState]`` to have it typed) and read the conversation ``history``.

The call also owns its bookkeeping, used by the assistant core and by streaming alike:
held-back actions (:attr:`Call.pending`, released when the awaited speech ended), the status,
the history (bounded, and trimmed to what the caller heard when they interrupted).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Generic, Literal

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

from .clock import SYSTEM_CLOCK, Clock
from .effects import Effects
from .history import (
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_HISTORY_MAX_BYTES,
    Playback,
    Role,
    Turn,
    bound,
    new_turn,
    speech_key,
    strip_tags,
    trim_interrupted,
)
from .pending import PendingActions
from .protocol.actions import Action, SpeakAction, TransferAction
from .protocol.events import Session
from .protocol.phone import to_e164

S = TypeVar("S", default=Any)
T = TypeVar("T")
CallStatus = Literal["active", "transferring", "ended"]
DOC_VERSION = 2

__all__ = ["Call", "CallStatus", "Outbound", "Role", "Turn"]


class Outbound(BaseModel):
    """What the code that placed an outbound call attached to it (``aiflow.outbound.dial``)."""

    # defer_build: only outbound calls need its validator, so an inbound cold start skips it.
    model_config = ConfigDict(extra="allow", defer_build=True)

    flow_id: str | None = None
    to: str | None = None
    data: Any = None
    dialled_at: int | None = None


class Call(Generic[S]):
    """Everything a handler knows about the current call.

    Attributes:
        session_id: the platform's id of this call.
        caller: the caller's number, E.164 with ``+`` (``None`` if withheld).
        called: the number the caller dialled, E.164 with ``+``.
        direction: ``"inbound"``, ``"outbound"`` or ``None`` if the platform did not say.
        outbound: for a call placed with :func:`aiflow.outbound.dial`, what was attached.
        state: per-call data your handlers keep between events (persisted).
        history: the conversation so far, oldest first, bounded.
        pending: actions held back until the speech playing now was heard (persisted).
        status: ``active``, ``transferring`` (a transfer was sent) or ``ended``.
        is_new: this event started the call (no earlier record existed).
        resumed: this is a repeated ``session_start`` of a known call, e.g. the caller is
            back after a transfer with timeout failed (``previous_status`` says from where).
        transferred_to: the target of the last transfer sent.
    """

    def __init__(self, session_id: str, *, state: S | None = None, clock: Clock | None = None):
        self.session_id = session_id
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.account_id: str | None = None
        self.phone_number: str | None = None
        self.caller: str | None = None
        self.called: str | None = None
        self.direction: Literal["inbound", "outbound"] | None = None
        self.outbound: Outbound | None = None
        self.assistant: str | None = None
        self.state: S = state if state is not None else {}  # type: ignore[assignment]
        self.history: list[Turn] = []
        self.pending = PendingActions()
        self.playback: Playback | None = None
        self.caller_started_at: int | None = None
        # The platform's assistant_speak texts match what we said: speeches can be told apart.
        self.speech_by_text = False
        self.status: CallStatus = "active"
        self.transferred_to: str | None = None
        self.started_at: int = self.clock.now_ms()
        self.version: int = 0
        self.is_new: bool = True
        self.resumed: bool = False
        self.previous_status: CallStatus | None = None
        self.history_limit: int = DEFAULT_HISTORY_LIMIT
        self.history_max_bytes: int = DEFAULT_HISTORY_MAX_BYTES
        # A turn that outran its time budget and continues in the worker (aiflow.deadline).
        self.slow_turn: dict[str, Any] | None = None
        # Extra persisted sections owned by framework features (e.g. the call record).
        self.extras: dict[str, Any] = {}
        self.effects: Effects | None = None

    @classmethod
    def from_session(
        cls, session: Session, *, state: S | None = None, clock: Clock | None = None
    ) -> Call[S]:
        """A new call for the ``session`` object of an event."""
        call = cls(session.id, state=state, clock=clock)
        call.update_session(session)
        return call

    def update_session(self, session: Session) -> None:
        """Fill in what the platform told us (later events often carry only the id)."""
        self.account_id = session.account_id or self.account_id
        self.phone_number = to_e164(session.phone_number) or self.phone_number
        self.caller = to_e164(session.from_phone_number) or self.caller
        self.called = to_e164(session.to_phone_number) or self.called
        self.direction = session.direction or self.direction

    # --- side effects -------------------------------------------------------------------

    def once(self, key: str, fn: Callable[[], T]) -> T:
        """Run the side effect ``fn`` at most once for this call and ``key``; return its
        (JSON) result, also to reruns of the handler. See :mod:`aiflow.effects`."""
        if self.effects is None:
            self.effects = Effects(None, self.session_id)
        return self.effects.once(key, fn)

    # --- the conversation ---------------------------------------------------------------

    def remember(self, role: Role, text: str, *, at: int | None = None) -> Turn:
        """Append a turn to the history, dropping the oldest beyond the limits."""
        turn = new_turn(role, text, at if at is not None else self.clock.now_ms())
        self.history.append(turn)
        bound(self.history, limit=self.history_limit, max_bytes=self.history_max_bytes)
        return turn

    def caller_said(self, text: str, *, barged_in: bool = False) -> Turn:
        """A caller turn; if they talked over us, first cut our interrupted turn down to
        what they heard (see :func:`aiflow.history.trim_interrupted`)."""
        if barged_in:
            trim_interrupted(
                self.history,
                self.playback,
                caller_started_at=self.caller_started_at,
                now=self.clock.now_ms(),
            )
        self.playback = None  # a repeated delivery of the same user_speak must not cut twice
        self.caller_started_at = None
        self.caller_interrupted()
        return self.remember("caller", text)

    def caller_interrupted(self) -> None:
        """The caller moved on (spoke, pressed a key): a slow answer to their earlier turn
        is no longer wanted, whether the worker still runs or already delivered it."""
        self.slow_turn = None
        self.pending.drop_slow_answer()

    def caller_started_talking(self, at: int | None = None) -> None:
        """``user_speech_started``: the best time we get for an interruption."""
        self.caller_started_at = at if at is not None else self.clock.now_ms()

    def said(self, actions: list[Action]) -> None:
        """Note sent ``actions``: speech in the history, a transfer in the status."""
        for action in actions:
            if isinstance(action, SpeakAction):
                self.remember("assistant", action.text or strip_tags(action.ssml or ""))
            elif isinstance(action, TransferAction):
                self.status = "transferring"
                self.transferred_to = action.target_phone_number

    # --- held-back actions --------------------------------------------------------------

    def hold(self, actions: list[Action], *, after: list[Action]) -> None:
        """Hold ``actions`` back until the speeches among ``after`` were heard."""
        self.pending.hold(actions, after=after)

    def speech_started(
        self, text: str | None, *, started_at: int | None, duration_ms: float | None
    ) -> None:
        """``assistant_speak``: what plays now, for held actions and barge-in trimming."""
        if text is not None and not self.speech_by_text:
            key = speech_key(text)
            self.speech_by_text = key in self.pending.awaiting or any(
                t.role == "assistant" and speech_key(t.text) == key for t in self.history
            )
        self.pending.speech_started(text)
        if duration_ms:
            start = started_at or self.clock.now_ms()
            self.playback = Playback(text=text, started_at=start, duration_ms=duration_ms)
        else:
            self.playback = None

    def speech_ended(self) -> list[Action]:
        """``assistant_speech_ended``: the held actions, if the speech they awaited ended."""
        return self.pending.speech_ended(by_text=self.speech_by_text)

    def release_pending(self) -> list[Action]:
        """Everything held, now (e.g. on ``user_input_timeout``)."""
        return self.pending.release()

    # --- persistence (used by the turn engine; not needed in handlers) ------------------

    def to_doc(self) -> dict[str, Any]:
        """The persisted part of the call as a JSON-ready dict."""
        # A deep copy, so that a snapshot cannot change when a handler mutates call.state.
        state = (
            self.state.model_dump(mode="json")
            if isinstance(self.state, BaseModel)
            else copy.deepcopy(self.state)
        )
        doc: dict[str, Any] = {
            "v": DOC_VERSION,
            "session_id": self.session_id,
            "account_id": self.account_id,
            "phone_number": self.phone_number,
            "caller": self.caller,
            "called": self.called,
            "direction": self.direction,
            "status": self.status,
            "started_at": self.started_at,
            "state": state,
            "history": [t.to_doc() for t in self.history],
            "pending": self.pending.to_doc(),
            "slow_turn": self.slow_turn,
        }
        optional = {
            "assistant": self.assistant,
            "outbound": self.outbound.model_dump(mode="json") if self.outbound else None,
            "transferred_to": self.transferred_to,
            "playback": self.playback.model_dump(mode="json") if self.playback else None,
            "caller_started_at": self.caller_started_at,
            "speech_by_text": self.speech_by_text or None,
        }
        doc.update({k: v for k, v in optional.items() if v is not None})
        doc.update(copy.deepcopy(self.extras))
        return doc

    @classmethod
    def from_doc(
        cls,
        doc: dict[str, Any],
        *,
        version: int = 0,
        state_model: type[BaseModel] | None = None,
        clock: Clock | None = None,
    ) -> Call[Any]:
        """Rebuild a call saved with :meth:`to_doc` (``is_new`` is False)."""
        raw_state = doc.get("state") or {}
        state: Any = state_model.model_validate(raw_state) if state_model else dict(raw_state)
        call: Call[Any] = cls(doc["session_id"], state=state, clock=clock)
        call.account_id = doc.get("account_id")
        call.phone_number = doc.get("phone_number")
        call.caller = doc.get("caller")
        call.called = doc.get("called")
        call.direction = doc.get("direction")
        call.assistant = doc.get("assistant")
        outbound = doc.get("outbound")
        call.outbound = Outbound.model_validate(outbound) if outbound else None
        call.status = doc.get("status", "active")
        call.transferred_to = doc.get("transferred_to")
        call.started_at = doc.get("started_at", call.started_at)
        call.history = [Turn.model_validate(t) for t in doc.get("history", [])]
        call.pending = PendingActions.from_doc(
            doc.get("pending"), legacy_after=int(doc.get("pending_after") or 0)
        )
        playback = doc.get("playback")
        call.playback = Playback.model_validate(playback) if playback else None
        call.caller_started_at = doc.get("caller_started_at")
        call.speech_by_text = bool(doc.get("speech_by_text", False))
        call.slow_turn = doc.get("slow_turn")
        call.extras = {k: copy.deepcopy(v) for k, v in doc.items() if k not in _CORE_KEYS}
        call.version = version
        call.is_new = False
        return call

    def restore(self, doc: dict[str, Any], *, state_model: type[BaseModel] | None = None) -> None:
        """Roll back to a snapshot taken with :meth:`to_doc` (keeps the transient flags)."""
        saved = Call.from_doc(doc, version=self.version, state_model=state_model, clock=self.clock)
        for name in _RESTORED:
            setattr(self, name, getattr(saved, name))

    def __repr__(self) -> str:
        turns = len(self.history)
        return f"Call(session_id={self.session_id!r}, status={self.status!r}, turns={turns})"


_CORE_KEYS = frozenset(
    {
        "v",
        "session_id",
        "account_id",
        "phone_number",
        "caller",
        "called",
        "direction",
        "assistant",
        "outbound",
        "status",
        "transferred_to",
        "started_at",
        "state",
        "history",
        "pending",
        "pending_after",
        "playback",
        "caller_started_at",
        "speech_by_text",
        "slow_turn",
    }
)
_RESTORED = (
    "state",
    "history",
    "pending",
    "status",
    "transferred_to",
    "caller",
    "called",
    "direction",
    "outbound",
    "playback",
    "caller_started_at",
    "speech_by_text",
    "slow_turn",
    "extras",
)
