"""What the simulated platform reports of the assistant's speech, and how a handler's
exception reaches the test."""

from __future__ import annotations

from typing import Any

from ..protocol.actions import AudioAction, SpeakAction
from ..report import TurnReport
from .describe import audio_duration_ms, speech_text, where_raised
from .results import TurnResult


def speech_fields(action: SpeakAction | AudioAction, ms_per_char: int) -> dict[str, Any]:
    """The fields of the ``assistant_speak`` the platform sends when ``action`` starts:
    its text (or SSML) and a duration estimated from its length (audio: the WAV's)."""
    fields: dict[str, Any] = {}
    if isinstance(action, SpeakAction):
        if action.text is not None:
            fields["text"] = action.text
        if action.ssml is not None:
            fields["ssml"] = action.ssml
        fields["duration_ms"] = max(400, len(speech_text(action)) * ms_per_char)
    else:
        fields["duration_ms"] = audio_duration_ms(action.audio)
    return fields


def raise_handler_error(turn: TurnResult, reports: list[TurnReport], session_id: str) -> None:
    """Raise the first handler exception of ``reports``, with a note saying where and in
    which turn it was raised (loud errors while developing; the caller would hear the
    fallback)."""
    __tracebackhide__ = True
    error = next((r.error for r in reports if r.error is not None), None)
    if error is None:
        return
    where = where_raised(error)
    note = (
        f"(raised by the assistant's handler{f' at {where}' if where else ''} in turn "
        f"{turn.number} of the simulated call {session_id[:8]}, {turn.label}; the "
        "caller would hear the fallback. CallSimulator(..., raise_errors=False) lets them.)"
    )
    if note not in getattr(error, "__notes__", []):
        error.add_note(note)
    raise error
