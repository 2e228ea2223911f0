"""WAV checks: only 16 kHz mono 16-bit PCM is accepted, and errors say what was found."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from aiflow.errors import InvalidActionError, InvalidAudioError
from aiflow.protocol import (
    AudioAction,
    MixAudioAction,
    audio,
    check_wav,
    make_wav,
    mix_audio,
    read_wav_format,
    wav_to_base64,
)
from aiflow.protocol.wav import check_wav_base64

SILENCE = b"\x00\x00" * 16000  # one second at 16 kHz, 16-bit mono
VALID = make_wav(SILENCE)


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(name: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return name + struct.pack("<I", len(payload)) + payload + pad


def fmt_chunk(audio_format: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return chunk(
        b"fmt ", struct.pack("<HHIIHH", audio_format, channels, rate, rate * block, block, bits)
    )


def test_a_16_khz_mono_16_bit_wav_is_valid_and_its_format_is_read() -> None:
    found = check_wav(VALID)
    assert (found.audio_format, found.channels, found.sample_rate, found.bits_per_sample) == (
        1,
        1,
        16000,
        16,
    )
    assert found.data_bytes == len(SILENCE)
    assert found.duration_ms == 1000
    assert found.describe() == "16 kHz mono 16-bit PCM"


def test_make_wav_writes_a_canonical_44_byte_header() -> None:
    assert len(VALID) == 44 + len(SILENCE)
    assert VALID[:4] == b"RIFF" and VALID[8:16] == b"WAVEfmt "
    assert struct.unpack_from("<I", VALID, 4)[0] == len(VALID) - 8


@pytest.mark.parametrize(
    ("wav", "found"),
    [
        (make_wav(b"\x00" * 64, sample_rate=44100, channels=2), "found 44.1 kHz stereo 16-bit PCM"),
        (make_wav(b"\x00" * 64, bits=8), "found 16 kHz mono 8-bit PCM"),
        (make_wav(b"\x00" * 64, sample_rate=8000), "found 8 kHz mono 16-bit PCM"),
        (make_wav(b"\x00" * 64, sample_rate=48000), "found 48 kHz mono 16-bit PCM"),
        (make_wav(b"\x00" * 64, channels=6), "found 16 kHz 6-channel 16-bit PCM"),
        (riff(fmt_chunk(audio_format=3, bits=32), chunk(b"data", b"\x00" * 8)), "format 3"),
        (b"ID3\x04\x00\x00 an mp3 file", "found data starting with b'ID3\\x04' (not RIFF/WAVE)"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "(not RIFF/WAVE)"),
        (b"", "found empty data"),
        (riff(fmt_chunk()), "found a WAV without `data`"),
        (riff(chunk(b"data", b"\x00" * 8)), "found a WAV without `fmt `"),
        (riff(chunk(b"fmt ", b"\x01\x00")), "found a WAV without `fmt `"),
    ],
    ids=[
        "44.1 kHz stereo",
        "8-bit",
        "8 kHz",
        "48 kHz",
        "6 channels",
        "float",
        "mp3",
        "avi",
        "empty",
        "no data chunk",
        "no fmt chunk",
        "truncated fmt chunk",
    ],
)
def test_a_wav_in_another_format_is_rejected_saying_what_was_found(wav: bytes, found: str) -> None:
    with pytest.raises(InvalidAudioError) as info:
        check_wav(wav)
    assert found in info.value.message
    assert "16 kHz mono 16-bit PCM" in info.value.message
    assert info.value.code == "invalid_audio"


def test_chunks_before_data_are_skipped_including_the_pad_byte_of_odd_sizes() -> None:
    wav = riff(fmt_chunk(), chunk(b"LIST", b"INFOabc"), chunk(b"data", b"\x01\x00" * 10))
    found = check_wav(wav)
    assert found.data_bytes == 20


def test_a_data_chunk_longer_than_the_file_counts_only_the_bytes_present() -> None:
    truncated = VALID[:144]
    assert read_wav_format(truncated).data_bytes == 100


def test_wave_format_extensible_with_16_bit_mono_at_16_khz_is_accepted() -> None:
    wav = riff(fmt_chunk(audio_format=0xFFFE), chunk(b"data", b"\x00" * 4))
    assert check_wav(wav).describe() == "16 kHz mono 16-bit PCM"


def test_bad_base64_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(InvalidAudioError) as info:
        check_wav_base64("this is not base64!")
    assert "found invalid base64" in info.value.message


def test_valid_base64_of_a_valid_wav_is_accepted() -> None:
    assert check_wav_base64(base64.b64encode(VALID).decode()).sample_rate == 16000


def test_valid_base64_of_a_stereo_wav_is_rejected_naming_the_format() -> None:
    stereo = base64.b64encode(make_wav(b"\x00" * 64, sample_rate=44100, channels=2)).decode()
    with pytest.raises(InvalidAudioError, match="44.1 kHz stereo"):
        check_wav_base64(stereo)


def test_audio_from_bytes_is_the_base64_of_the_file() -> None:
    action = audio(VALID)
    assert isinstance(action, AudioAction)
    assert base64.b64decode(action.audio) == VALID
    assert action.to_wire() == {"type": "audio", "audio": wav_to_base64(VALID)}


def test_audio_from_a_file_path_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "beep.wav"
    path.write_bytes(VALID)
    from_path = audio(path, barge_in={"strategy": "none"})
    from_str = audio(str(path))
    assert base64.b64decode(from_path.audio) == VALID
    assert from_str.audio == from_path.audio
    assert from_path.to_wire()["barge_in"] == {"strategy": "none"}


def test_audio_from_a_file_in_the_wrong_format_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "music.wav"
    path.write_bytes(make_wav(b"\x00" * 64, sample_rate=44100, channels=2))
    with pytest.raises(InvalidActionError, match="found 44.1 kHz stereo 16-bit PCM"):
        audio(path)


def test_audio_from_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        audio(tmp_path / "missing.wav")


def test_mix_audio_with_a_wav_and_volume() -> None:
    action = mix_audio(VALID, volume=0.2)
    assert isinstance(action, MixAudioAction)
    assert action.to_wire() == {"type": "mix_audio", "audio": wav_to_base64(VALID), "volume": 0.2}


def test_mix_audio_stop_needs_no_audio() -> None:
    assert mix_audio(stop=True).to_wire() == {"type": "mix_audio", "stop": True}


def test_mix_audio_rejects_a_wav_in_the_wrong_format() -> None:
    with pytest.raises(InvalidAudioError, match="found 8 kHz mono 16-bit PCM"):
        mix_audio(make_wav(b"\x00" * 64, sample_rate=8000))
