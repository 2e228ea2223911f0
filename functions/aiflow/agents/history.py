"""The model's conversation history of a call: kept in ``call.state``, bounded, always valid.

The history is a list of Converse messages (text, tool calls and tool results) stored under
one key of the call state, ``{"messages": [...], "digits": {...}}`` (``digits``: a keypad
input in progress, see :mod:`aiflow.agents.digits`). It is bounded by
:func:`trim_history`, which drops the oldest whole turns, so it always starts with a caller
message and a tool call is never separated from its result; a stored history from an older
version or edited by hand is cut to whole turns by :func:`repair`.

A call state that cannot hold the key (a pydantic state model without the field) gets a
text-only history rebuilt from ``call.history`` each turn (:func:`from_call_history`);
nothing is written back then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..call import Call, Turn

Message = dict[str, Any]
"""One Converse message: ``{"role": "user" | "assistant", "content": [blocks]}``."""


def trim_history(messages: list[Message], limit: int) -> list[Message]:
    """Keep at most ``limit`` messages by dropping the oldest whole turns.

    A turn starts with a user message holding text and no tool result, so the kept history
    starts with a user message and never separates a tool call from its result. A single turn
    longer than ``limit`` is kept whole.
    """
    if len(messages) <= limit:
        return messages
    starts = [i for i, m in enumerate(messages) if _starts_turn(m)]
    for start in starts:
        if len(messages) - start <= limit:
            return messages[start:]
    return messages[starts[-1] :] if starts else []


def repair(messages: list[Any]) -> list[Message]:
    """Cut a stored history to whole turns (it may come from an older version or by hand)."""
    valid = [
        m
        for m in messages
        if isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), list)
        and m["content"]
    ]
    first = next((i for i, m in enumerate(valid) if _starts_turn(m)), len(valid))
    valid = valid[first:]
    # A complete turn ends with an assistant message without tool calls.
    last = max(
        (
            i
            for i, m in enumerate(valid)
            if m["role"] == "assistant" and not any("toolUse" in b for b in m["content"])
        ),
        default=-1,
    )
    return valid[: last + 1]


def from_call_history(history: Sequence[Turn], current: str | None) -> list[Message]:
    """A text-only history from the turns the core remembers (``call.history``).

    ``current``: the caller text being answered; the core may have remembered it already.
    """
    turns = list(history)
    if turns and current is not None and turns[-1].role == "caller":
        if turns[-1].text.strip() == current:
            turns.pop()
    messages: list[Message] = []
    for turn in turns:
        role = "user" if turn.role == "caller" else "assistant"
        if not turn.text.strip():
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"][0]["text"] += " " + turn.text.strip()
        else:
            messages.append({"role": role, "content": [{"text": turn.text.strip()}]})
    return repair(messages)


def _starts_turn(message: Mapping[str, Any]) -> bool:
    content = message.get("content") or []
    return (
        message.get("role") == "user"
        and any("text" in b for b in content)
        and not any("toolResult" in b for b in content)
    )


@dataclass
class Stored:
    """The history of one call as loaded at the start of a turn."""

    messages: list[Message]
    digits: dict[str, Any] | None
    persistent: bool  # False: rebuilt from call.history, nothing is written back


class CallMemory:
    """Loads and writes the history under ``key`` of ``call.state``, at most ``limit``
    messages."""

    def __init__(self, key: str, limit: int) -> None:
        self.key = key
        self.limit = limit

    def keeps_state(self, call: Call) -> bool:
        """Whether the call state can hold the history (else it is rebuilt each turn)."""
        state = call.state
        if isinstance(state, BaseModel):
            return self.key in type(state).model_fields
        return isinstance(state, dict)

    def load(self, call: Call, *, current: str | None = None) -> Stored:
        """The history before the caller's ``current`` text."""
        if not self.keeps_state(call):
            messages = from_call_history(call.history, current)
            return Stored(trim_history(messages, self.limit), None, persistent=False)
        raw = self._raw(call)
        raw = raw if isinstance(raw, dict) else {}
        found = raw.get("messages")
        messages = repair(found) if isinstance(found, list) else []
        digits = raw.get("digits")
        return Stored(
            trim_history(messages, self.limit),
            digits if isinstance(digits, dict) else None,
            persistent=True,
        )

    def commit(
        self,
        call: Call,
        stored: Stored,
        messages: list[Message],
        digits: dict[str, Any] | None,
    ) -> None:
        """Write a completed turn (and a keypad input to wait for, if any)."""
        if not stored.persistent:
            return
        doc: dict[str, Any] = {"messages": trim_history(messages, self.limit)}
        if digits is not None:
            doc["digits"] = digits
        self._write(call, doc)

    def write_digits(self, call: Call, digits: dict[str, Any]) -> None:
        """Store the keypad input in progress, keeping the messages."""
        raw = self._raw(call)
        doc = dict(raw) if isinstance(raw, dict) else {}
        doc["digits"] = digits
        self._write(call, doc)

    def _raw(self, call: Call) -> Any:
        state = call.state
        if isinstance(state, BaseModel):
            return getattr(state, self.key, None)
        return state.get(self.key) if isinstance(state, dict) else None

    def _write(self, call: Call, doc: dict[str, Any]) -> None:
        if isinstance(call.state, BaseModel):
            setattr(call.state, self.key, doc)
        else:
            call.state[self.key] = doc
