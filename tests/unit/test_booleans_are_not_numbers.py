"""Python's True is an int; on the wire a boolean where a number belongs is always a bug."""

from collections.abc import Callable
from typing import Any

import pytest

from aiflow import (
    InvalidActionError,
    configure_transcription,
    configure_voice_to_voice,
    mix_audio,
    speak,
    transfer,
)

CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "minimum characters",
        lambda: speak("x", barge_in={"strategy": "minimum_characters", "minimum_characters": True}),
        "speak.barge_in.minimum_characters",
    ),
    (
        "allow after ms",
        lambda: speak("x", barge_in={"strategy": "immediate", "allow_after_ms": False}),
        "speak.barge_in.allow_after_ms",
    ),
    ("vad", lambda: speak("x", vad={"end_of_turn_silence_ms": True}), "speak.vad"),
    ("timeout seconds", lambda: speak("x", user_input_timeout_seconds=True), "speak.user_input"),
    ("volume", lambda: mix_audio(stop=True, volume=True), "mix_audio.volume"),
    (
        "transfer timeout",
        lambda: transfer("4921", caller_id_name="P", caller_id_number="4921", timeout=True),
        "transfer.timeout",
    ),
    ("temperature", lambda: configure_voice_to_voice("p", temperature=True), "temperature"),
    (
        "transcription vad",
        lambda: configure_transcription(vad={"end_of_turn_silence_ms": False}),
        "configure_transcription.vad",
    ),
]


@pytest.mark.parametrize(("build", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_boolean_is_refused_where_the_protocol_wants_a_number(
    build: Callable[[], Any], field: str
) -> None:
    with pytest.raises(InvalidActionError, match="boolean") as error:
        build()
    assert field in str(error.value)
