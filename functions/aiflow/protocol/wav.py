"""WAV checks for the ``audio`` and ``mix_audio`` actions.

The platform plays only WAV files that are 16 kHz, mono, 16-bit PCM. We read the RIFF
header ourselves (no audio library needed on Lambda) and say exactly what was found.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidAudioError

REQUIRED = "16 kHz mono 16-bit PCM WAV"
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Canonical base64 (standard alphabet, padded), as a regex for code and JSON Schema."""
RIFF_WAVE_BASE64_PREFIX = "^UklGR[g-v][A-Za-z0-9+/]{4}[BFJNRVZdhlptx159]XQVZF"
"""What base64 of ``RIFF<size>WAVE`` (the first 12 bytes of any WAV file) looks like."""
_BASE64 = re.compile(BASE64_PATTERN)
_PCM = 1
_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True)
class WavFormat:
    """What the RIFF header of a WAV file says."""

    audio_format: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    data_bytes: int

    def describe(self) -> str:
        """A short description such as ``44.1 kHz stereo 16-bit PCM``."""
        kind = "PCM" if self.audio_format in (_PCM, _EXTENSIBLE) else f"format {self.audio_format}"
        channels = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels}-channel")
        rate = f"{self.sample_rate / 1000:g} kHz"
        return f"{rate} {channels} {self.bits_per_sample}-bit {kind}"

    @property
    def duration_ms(self) -> int:
        """Playback length of the data chunk."""
        frame = max(1, self.channels * self.bits_per_sample // 8)
        return int(self.data_bytes / frame / max(1, self.sample_rate) * 1000)


def read_wav_format(data: bytes) -> WavFormat:
    """Read the ``fmt `` and ``data`` chunks of a RIFF/WAVE file.

    Raises:
        InvalidAudioError: the bytes are not a WAV file.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        found = "empty data" if not data else f"data starting with {data[:4]!r}"
        raise InvalidAudioError(f"audio must be a {REQUIRED} file, found {found} (not RIFF/WAVE)")
    fmt: tuple[int, int, int, int] | None = None
    data_bytes: int | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            audio_format, channels, rate = struct.unpack_from("<HHI", data, body)
            (bits,) = struct.unpack_from("<H", data, body + 14)
            fmt = (audio_format, channels, rate, bits)
        elif chunk_id == b"data":
            data_bytes = min(size, len(data) - body)
            break
        offset = body + size + (size & 1)
    if fmt is None:
        raise InvalidAudioError(f"audio must be a {REQUIRED} file, found a WAV without `fmt `")
    if data_bytes is None:
        raise InvalidAudioError(f"audio must be a {REQUIRED} file, found a WAV without `data`")
    return WavFormat(*fmt, data_bytes=data_bytes)


def check_wav(data: bytes) -> WavFormat:
    """Return the format of ``data`` if it is 16 kHz mono 16-bit PCM, else raise.

    Raises:
        InvalidAudioError: naming the format that was found.
    """
    found = read_wav_format(data)
    if (
        found.audio_format not in (_PCM, _EXTENSIBLE)
        or found.channels != 1
        or found.sample_rate != 16000
        or found.bits_per_sample != 16
    ):
        raise InvalidAudioError(f"audio must be {REQUIRED}, found {found.describe()}")
    return found


def check_wav_base64(value: str) -> WavFormat:
    """Decode a base64 WAV (as sent on the wire) and check it with :func:`check_wav`."""
    # The same rule as the JSON Schema's pattern: b64decode alone would also take "QUJD====".
    if not _BASE64.fullmatch(value):
        raise InvalidAudioError("audio must be base64 of a WAV file, found invalid base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAudioError(
            "audio must be base64 of a WAV file, found invalid base64"
        ) from None
    return check_wav(raw)


def wav_to_base64(wav: bytes | str | Path) -> str:
    """Check WAV bytes (or the file at a path) and return them base64-encoded."""
    raw = Path(wav).read_bytes() if isinstance(wav, str | Path) else bytes(wav)
    check_wav(raw)
    return base64.b64encode(raw).decode("ascii")


def make_wav(pcm: bytes, *, sample_rate: int = 16000, channels: int = 1, bits: int = 16) -> bytes:
    """Wrap raw little-endian PCM samples in a WAV header (handy for tones and tests)."""
    block = channels * bits // 8
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        channels,
        sample_rate,
        sample_rate * block,
        block,
        bits,
        b"data",
        len(pcm),
    )
    return header + pcm
