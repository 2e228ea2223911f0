"""Actions in words: one-line descriptions for transcripts, the terminal and failures."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import traceback
from typing import Any

from ..errors import AiflowError
from ..protocol.actions import Action, AudioAction, SpeakAction, TransferAction
from ..protocol.wav import read_wav_format


def speech_text(action: SpeakAction) -> str:
    """The text of a speak (tags stripped from SSML)."""
    if action.text is not None:
        return action.text
    return " ".join(re.sub(r"<[^>]+>", " ", action.ssml or "").split())


def audio_duration_ms(encoded: str) -> int:
    """Playback length of a base64 WAV (1 s if it cannot be read)."""
    try:
        return read_wav_format(base64.b64decode(encoded)).duration_ms
    except (AiflowError, binascii.Error, ValueError):
        return 1000


def describe_action(action: Action) -> str:
    """A one-line, human description of an action (voice and barge-in in compact form)."""
    if isinstance(action, SpeakAction):
        extras = speech_settings(action)
        text = speech_text(action)
        return f"{text}  [{extras}]" if extras else text
    if isinstance(action, AudioAction):
        extras = speech_settings(action)
        seconds = audio_duration_ms(action.audio) / 1000
        return f"(audio {seconds:.1f} s)" + (f"  [{extras}]" if extras else "")
    if isinstance(action, TransferAction):
        timeout = f", timeout {action.timeout} s" if action.timeout else ""
        return (
            f"(transfer to {action.target_phone_number} as {action.caller_id_name} "
            f"{action.caller_id_number}{timeout})"
        )
    wire = without_session(action.to_wire())
    kind = wire.pop("type")
    for key in ("audio",):
        if key in wire:
            wire[key] = f"<{len(wire[key])} base64 chars>"
    details = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in wire.items())
    return f"({kind}{' ' + details if details else ''})"


def speech_settings(action: SpeakAction | AudioAction) -> str:
    """Voice, barge-in policy and input timeout of a speech action, compact."""
    parts: list[str] = []
    if isinstance(action, SpeakAction) and action.tts is not None:
        language = getattr(action.tts, "language", None)
        voice = f"{action.tts.provider}:{action.tts.voice}"
        parts.append(f"{voice} {language}" if language else voice)
    if action.barge_in is not None:
        policy = action.barge_in
        text = f"barge-in {policy.strategy.replace('_', ' ')}"
        if policy.minimum_characters is not None:
            text = f"barge-in ≥{policy.minimum_characters} chars"
        if policy.allow_after_ms:
            text += f" after {policy.allow_after_ms} ms"
        parts.append(text)
    if isinstance(action, SpeakAction):
        if action.user_input_timeout_seconds is not None:
            parts.append(f"waits {action.user_input_timeout_seconds:g} s")
        if action.vad is not None:
            parts.append(f"end of turn {action.vad.end_of_turn_silence_ms} ms")
        if action.ssml is not None:
            parts.append("ssml")
    return " · ".join(parts)


def without_session(wire: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wire.items() if k != "session_id"}


_FRAMEWORK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _in_framework(frame: traceback.FrameSummary) -> bool:
    return os.path.abspath(frame.filename).startswith(_FRAMEWORK + os.sep)


def where_raised(exc: BaseException) -> str | None:
    """``app.py:12 in answer``: the innermost frame of ``exc`` in the assistant's code (not
    in aiflow or an installed library), else the innermost of all; None without a traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    own = [f for f in frames if not _in_framework(f) and "site-packages" not in f.filename]
    frame = (own or frames)[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def format_error(exc: BaseException) -> list[str]:
    """``exc`` as traceback lines without aiflow's own frames (the handler's code and the
    libraries it called remain), so the lines point at the assistant's mistake."""
    error = traceback.TracebackException.from_exception(exc)
    kept = [frame for frame in error.stack if not _in_framework(frame)]
    if kept:
        error.stack = traceback.StackSummary.from_list(kept)
    return "".join(error.format()).rstrip("\n").splitlines()
