"""The conversation history of a call: turns, bounded by count and by bytes, and trimmed to
what the caller really heard when they interrupted.

Every assistant gets barge-in-aware history: when a caller talks over a sentence
(``user_speak`` with ``barged_in``), the assistant turn they interrupted is cut down to the
words they probably heard, from the last ``assistant_speak`` (playback start and duration)
and the moment they started talking (``user_speech_started`` over WebSocket, else the
arrival of their transcript). An LLM then sees what the caller heard, not what we meant to
say.
"""

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["caller", "assistant"]

DEFAULT_HISTORY_LIMIT = 50
DEFAULT_HISTORY_MAX_BYTES = 48_000
# One turn never takes more than this much of the history (a 17 KB transcript is kept cut).
MAX_TURN_CHARS = 4_000
_CUT_MARK = " …"


class Turn(BaseModel):
    """One entry of the conversation history."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    role: Role
    text: str
    at: int = Field(0, description="Unix ms")
    interrupted: bool = Field(False, description="the caller cut this assistant turn short")

    def to_doc(self) -> dict[str, Any]:
        """The turn as a compact JSON-ready dict."""
        doc: dict[str, Any] = {"role": self.role, "text": self.text, "at": self.at}
        if self.interrupted:
            doc["interrupted"] = True
        return doc


class Playback(BaseModel):
    """The speech that started playing last (from ``assistant_speak``)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    text: str | None = None
    started_at: int
    duration_ms: float


def new_turn(role: Role, text: str, at: int) -> Turn:
    """A turn, its text cut to :data:`MAX_TURN_CHARS` (a marker shows the cut)."""
    if len(text) > MAX_TURN_CHARS:
        text = text[: MAX_TURN_CHARS - len(_CUT_MARK)] + _CUT_MARK
    return Turn(role=role, text=text, at=at)


def bound(history: list[Turn], *, limit: int, max_bytes: int) -> int:
    """Drop the oldest turns until at most ``limit`` remain and they take at most
    ``max_bytes`` as JSON; the newest turn always stays. Returns how many were dropped."""
    dropped = max(0, len(history) - limit)
    del history[:dropped]
    size = sum(turn_bytes(t) for t in history)
    while size > max_bytes and len(history) > 1:
        size -= turn_bytes(history.pop(0))
        dropped += 1
    return dropped


def turn_bytes(turn: Turn) -> int:
    """The size of ``turn`` in the stored record (UTF-8 JSON)."""
    return len(json.dumps(turn.to_doc(), ensure_ascii=False).encode("utf-8")) + 1


def trim_interrupted(
    history: list[Turn], playback: Playback | None, *, caller_started_at: int | None, now: int
) -> Turn | None:
    """Cut the assistant turn the caller interrupted down to what they probably heard.

    The heard share is (interruption − playback start) / playback duration; the interruption
    is when the caller started talking if known and plausible, else ``now``. The text is cut
    at a word boundary and the turn marked ``interrupted``; a turn of which nothing was heard
    is removed.

    Returns:
        The trimmed turn (None if nothing was trimmed or the turn was removed).
    """
    if playback is None or playback.duration_ms <= 0:
        return None
    interrupted_at = now
    if caller_started_at is not None and playback.started_at <= caller_started_at < now:
        interrupted_at = caller_started_at
    heard = (interrupted_at - playback.started_at) / playback.duration_ms
    if heard >= 1:
        return None  # the speech had ended: nothing was cut off
    turn = spoken_turn(history, playback.text)
    if turn is None:
        return None
    kept = cut_text(turn.text, max(heard, 0.0))
    if not kept:
        history.remove(turn)
        return None
    turn.text = kept
    turn.interrupted = True
    return turn


def spoken_turn(history: Iterable[Turn], text: str | None) -> Turn | None:
    """The assistant turn whose text is ``text`` (else the latest assistant turn)."""
    assistant_turns = [t for t in reversed(list(history)) if t.role == "assistant"]
    if text is not None:
        wanted = speech_key(text)
        for turn in assistant_turns:
            if speech_key(turn.text) == wanted:
                return turn
    # The platform may render the text differently (SSML); the latest turn is the best guess.
    return assistant_turns[0] if assistant_turns else None


def cut_text(text: str, fraction: float) -> str:
    """The words of ``text`` spoken within the first ``fraction`` of its playback.

    Speaking time is taken as proportional to characters; a word counts as heard once
    more than half of it was spoken.
    """
    budget = fraction * len(text)
    kept: list[str] = []
    position = 0
    for word in text.split():
        start = text.index(word, position)
        position = start + len(word)
        if start + len(word) / 2 > budget:
            break
        kept.append(word)
    return " ".join(kept)


def speech_key(text: str) -> str:
    """``text`` compared loosely: tags stripped, white space folded, case ignored."""
    return strip_tags(text).casefold()


def strip_tags(text: str) -> str:
    """``text`` without SSML/XML tags, white space folded."""
    out: list[str] = []
    depth = 0
    for char in text:
        if char == "<":
            depth += 1
            out.append(" ")
        elif char == ">" and depth:
            depth -= 1
        elif not depth:
            out.append(char)
    return " ".join("".join(out).split())
