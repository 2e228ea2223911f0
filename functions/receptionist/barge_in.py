"""Barge-in bookkeeping: keep in the history only what the caller heard of a sentence."""

from __future__ import annotations

from aiflow import Call, Turn

from .state import ReceptionistState


def trim_interrupted_turn(call: Call, state: ReceptionistState, now: int) -> Turn | None:
    """Cut the assistant turn the caller interrupted down to what they probably heard.

    The heard share is (interruption − playback start) / playback duration, from the last
    ``assistant_speak``; the interruption is when the caller started talking if we know it
    (WebSocket), else ``now``. The text is cut at a word boundary and the turn marked
    ``interrupted``; a turn of which nothing was heard is removed from the history.

    Returns:
        The trimmed turn (None if nothing was trimmed or the turn was removed).
    """
    speech = state.last_speech
    state.last_speech = None  # a repeated delivery of the same user_speak must not cut twice
    if speech is None or speech.duration_ms <= 0:
        return None
    interrupted_at = now
    started = state.caller_started_at
    if started is not None and speech.started_at <= started < now:
        interrupted_at = started
    heard = (interrupted_at - speech.started_at) / speech.duration_ms
    if heard >= 1:
        return None  # the speech had ended: nothing was cut off
    turn = _spoken_turn(call, speech.text)
    if turn is None:
        return None
    kept = cut_text(turn.text, max(heard, 0.0))
    if not kept:
        call.history.remove(turn)
        return None
    turn.text = kept
    turn.interrupted = True
    return turn


def _spoken_turn(call: Call, text: str | None) -> Turn | None:
    assistant_turns = [t for t in reversed(call.history) if t.role == "assistant"]
    if text is not None:
        wanted = " ".join(text.split())
        for turn in assistant_turns:
            if " ".join(turn.text.split()) == wanted:
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
