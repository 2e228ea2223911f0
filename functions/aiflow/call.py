"""The call context handed to handlers: who is calling, and what this call remembers.

A :class:`Call` is loaded before each event and saved after it by the transport (see
``aiflow.store``). Handlers read the caller's number, keep their own data in ``call.state``
(a dict, or an instance of the state model given to ``Assistant(state=...)``) and can read
the conversation ``history``.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .protocol.actions import Action, parse_action
from .protocol.events import Session
from .protocol.phone import to_e164

Role = Literal["caller", "assistant"]
CallStatus = Literal["active", "transferring", "ended"]
DEFAULT_HISTORY_LIMIT = 50


def now_ms() -> int:
    """Unix time in milliseconds (the unit the platform uses)."""
    return time.time_ns() // 1_000_000


class Turn(BaseModel):
    """One entry of the conversation history."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    role: Role
    text: str
    # A lambda, so that patching aiflow.call.now_ms (tests, simulators) takes effect here too.
    at: int = Field(default_factory=lambda: now_ms(), description="Unix ms")
    interrupted: bool = Field(False, description="the caller cut this assistant turn short")

    def to_doc(self) -> dict[str, Any]:
        """The turn as a compact JSON-ready dict."""
        doc: dict[str, Any] = {"role": self.role, "text": self.text, "at": self.at}
        if self.interrupted:
            doc["interrupted"] = True
        return doc


class Call:
    """Everything a handler knows about the current call.

    Attributes:
        session_id: the platform's id of this call.
        caller: the caller's number, E.164 with ``+`` (``None`` if withheld).
        called: the number the caller dialled, E.164 with ``+``.
        direction: ``"inbound"``, ``"outbound"`` or ``None`` if the platform did not say.
        state: per-call data your handlers keep between events (persisted).
        history: the conversation so far, oldest first, bounded.
        pending: actions waiting for the end of the current speech (persisted).
        status: ``active``, ``transferring`` (a transfer was sent) or ``ended``.
        is_new: this event started the call (no earlier record existed).
        resumed: this is a repeated ``session_start`` of a known call, e.g. the caller is
            back after a transfer with timeout failed (``previous_status`` says from where).
    """

    def __init__(self, session_id: str, *, state: Any = None) -> None:
        self.session_id = session_id
        self.account_id: str | None = None
        self.phone_number: str | None = None
        self.caller: str | None = None
        self.called: str | None = None
        self.direction: Literal["inbound", "outbound"] | None = None
        self.state: Any = {} if state is None else state
        self.history: list[Turn] = []
        self.pending: list[Action] = []
        # How many speech ends to wait for before ``pending`` is sent (one per speech).
        self.pending_after: int = 0
        self.status: CallStatus = "active"
        self.started_at: int = now_ms()
        self.version: int = 0
        self.is_new: bool = True
        self.resumed: bool = False
        self.previous_status: CallStatus | None = None
        self.history_limit: int = DEFAULT_HISTORY_LIMIT
        # A turn that outran its time budget and continues in the worker (see aiflow.deadline).
        self.slow_turn: dict[str, Any] | None = None

    @classmethod
    def from_session(cls, session: Session, *, state: Any = None) -> Call:
        """A new call for the ``session`` object of an event."""
        call = cls(session.id, state=state)
        call.update_session(session)
        return call

    def update_session(self, session: Session) -> None:
        """Fill in what the platform told us (later events often carry only the id)."""
        self.account_id = session.account_id or self.account_id
        self.phone_number = to_e164(session.phone_number) or self.phone_number
        self.caller = to_e164(session.from_phone_number) or self.caller
        self.called = to_e164(session.to_phone_number) or self.called
        self.direction = session.direction or self.direction

    def remember(self, role: Role, text: str, *, at: int | None = None) -> Turn:
        """Append a turn to the history, dropping the oldest beyond ``history_limit``."""
        turn = Turn(role=role, text=text, at=at if at is not None else now_ms())
        self.history.append(turn)
        if len(self.history) > self.history_limit:
            del self.history[: len(self.history) - self.history_limit]
        return turn

    # --- persistence (used by stores; not needed in handlers) ---------------------------

    def to_doc(self) -> dict[str, Any]:
        """The persisted part of the call as a JSON-ready dict."""
        # A deep copy, so that a snapshot cannot change when a handler mutates call.state.
        state = (
            self.state.model_dump(mode="json")
            if isinstance(self.state, BaseModel)
            else copy.deepcopy(self.state)
        )
        return {
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
            "pending": [a.to_wire() for a in self.pending],
            "pending_after": self.pending_after,
            "slow_turn": self.slow_turn,
        }

    @classmethod
    def from_doc(
        cls, doc: dict[str, Any], *, version: int = 0, state_model: type[BaseModel] | None = None
    ) -> Call:
        """Rebuild a call saved with :meth:`to_doc` (``is_new`` is False)."""
        raw_state = doc.get("state") or {}
        state: Any = state_model.model_validate(raw_state) if state_model else dict(raw_state)
        call = cls(doc["session_id"], state=state)
        call.account_id = doc.get("account_id")
        call.phone_number = doc.get("phone_number")
        call.caller = doc.get("caller")
        call.called = doc.get("called")
        call.direction = doc.get("direction")
        call.status = doc.get("status", "active")
        call.started_at = doc.get("started_at", call.started_at)
        call.history = [Turn.model_validate(t) for t in doc.get("history", [])]
        call.pending = [parse_action(a) for a in doc.get("pending", [])]
        call.slow_turn = doc.get("slow_turn")
        call.pending_after = int(doc.get("pending_after", 1 if call.pending else 0))
        call.version = version
        call.is_new = False
        return call

    def restore(self, doc: dict[str, Any], *, state_model: type[BaseModel] | None = None) -> None:
        """Roll back to a snapshot taken with :meth:`to_doc` (keeps the transient flags)."""
        saved = Call.from_doc(doc, version=self.version, state_model=state_model)
        names = (
            "state",
            "history",
            "pending",
            "pending_after",
            "status",
            "caller",
            "called",
            "direction",
            "slow_turn",
        )
        for name in names:
            setattr(self, name, getattr(saved, name))

    def __repr__(self) -> str:
        turns = len(self.history)
        return f"Call(session_id={self.session_id!r}, status={self.status!r}, turns={turns})"


def merge_docs(
    loaded: dict[str, Any], ours: dict[str, Any], fresh: dict[str, Any]
) -> dict[str, Any]:
    """Three-way merge of call documents: our changes since ``loaded`` applied to ``fresh``.

    History and pending actions are unions (in order); ``state`` is merged key by key when
    it is a dict; any other field takes our value if we changed it, else the newer one.
    """

    def turn_key(turn: dict[str, Any]) -> tuple[Any, ...]:
        return (turn.get("role"), turn.get("text"), turn.get("at"))

    merged = dict(fresh)
    for name, value in ours.items():
        if name in ("history", "pending", "state", "pending_after"):
            continue
        if value != loaded.get(name):
            merged[name] = value
    known = {turn_key(t) for t in loaded.get("history", [])}
    known |= {turn_key(t) for t in fresh.get("history", [])}
    merged["history"] = list(fresh.get("history", [])) + [
        t for t in ours.get("history", []) if turn_key(t) not in known
    ]
    added = [p for p in ours.get("pending", []) if p not in loaded.get("pending", [])]
    kept = [p for p in fresh.get("pending", []) if p not in added]
    merged["pending"] = kept + added
    merged["pending_after"] = max(
        int(ours.get("pending_after") or 0), int(fresh.get("pending_after") or 0)
    )
    old, mine, new = loaded.get("state"), ours.get("state"), fresh.get("state")
    if isinstance(old, dict) and isinstance(mine, dict) and isinstance(new, dict):
        state = dict(new)
        for key in set(mine) | set(old):
            if mine.get(key, _MISSING) != old.get(key, _MISSING):
                if key in mine:
                    state[key] = mine[key]
                else:
                    state.pop(key, None)
        merged["state"] = state
    elif mine != old:
        merged["state"] = mine
    return merged


_MISSING = object()
