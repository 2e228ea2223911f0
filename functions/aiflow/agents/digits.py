"""Keypad digits the model asked for: a small buffer kept in the call state between key presses.

The ``collect_digits`` call tool ends the turn with a prompt and :func:`start` (how many digits
at most). Each key press then goes through :func:`press`: ``*`` starts over, ``#`` or the
last allowed digit completes the input, which reaches the model as the next user message
:func:`keypad_message` (``"[keypad] 1234"``). The buffer is a plain dict so that it is stored
with the rest of the call state: ``{"max": 4, "buffer": "12"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEYPAD_PREFIX = "[keypad]"
"""How collected keypad digits appear to the model: ``"[keypad] 1234"``."""

MAX_DIGITS = 20
"""The most digits one input may have (also when the model asks for more)."""


@dataclass(frozen=True)
class KeyPress:
    """The buffer after one key press: still ``pending``, or ``complete`` with the digits."""

    pending: dict[str, Any] | None
    complete: str | None


def start(max_digits: int) -> dict[str, Any]:
    """An empty buffer for up to ``max_digits`` digits."""
    return {"max": max_digits, "buffer": ""}


def typed(pending: Mapping[str, Any]) -> str:
    """The digits typed so far."""
    return str(pending.get("buffer", ""))


def press(pending: Mapping[str, Any], key: str) -> KeyPress:
    """Add ``key`` (``0``-``9``, ``*``, ``#``) to the buffer."""
    if key == "*":
        return KeyPress({**pending, "buffer": ""}, None)
    buffer = typed(pending) + ("" if key == "#" else key)
    if key == "#" or len(buffer) >= int(pending.get("max", MAX_DIGITS)):
        return KeyPress(None, buffer)
    return KeyPress({**pending, "buffer": buffer}, None)


def keypad_message(digits: str) -> str:
    """The user message that brings the typed ``digits`` to the model."""
    return f"{KEYPAD_PREFIX} {digits or '(none)'}"
