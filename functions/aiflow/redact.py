"""Redaction of personal data for logs: caller numbers and transcripts.

Logs never carry a full phone number or what a caller said unless redaction is switched
off explicitly (``AIFLOW_LOG_REDACT=false``, for debugging only). There is no process-wide
switch: the observer that owns the logging installs :class:`RedactingFilter` and hands its
setting to the code that logs failures (:func:`log_failure`).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any

_NUMBER = re.compile(r"\+?\d[\d \-/]{5,}\d")
_TEXT_FIELDS = frozenset({"text", "transcript", "ssml", "message", "system_prompt", "greeting"})
_NUMBER_FIELDS = frozenset(
    {
        "from_phone_number",
        "to_phone_number",
        "phone_number",
        "caller",
        "called",
        "target_phone_number",
        "caller_id_number",
    }
)


def mask_number(number: str) -> str:
    """``+4917612345678`` -> ``+49*********78``: enough to tell calls apart, not to dial."""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 5:
        return "*" * len(digits)
    prefix = "+" if number.strip().startswith("+") else ""
    return f"{prefix}{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


def mask_numbers_in(text: str) -> str:
    """Mask every phone-number-like digit run in free text."""
    return _NUMBER.sub(lambda m: mask_number(m.group(0)), text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with transcripts replaced and numbers masked."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in _TEXT_FIELDS and isinstance(item, str):
                out[key] = f"<{len(item)} chars>"
            elif key in _NUMBER_FIELDS and isinstance(item, str):
                out[key] = mask_number(item)
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return mask_numbers_in(value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter masking phone numbers in messages, arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_numbers_in(record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(a) if isinstance(a, str | dict | list) else a for a in args)
        return True


def log_failure(
    logger: logging.Logger,
    message: str,
    *,
    error: BaseException | None = None,
    redact: bool = True,
    **extra: Any,
) -> None:
    """Log ``error`` (default: the exception being handled) without personal data, unless
    ``redact`` is False.

    Exception messages and source lines can hold what the caller said or their number, so
    with redaction on (the default) we log the exception type and the frames (file, line,
    function) only. Whoever owns the logging decides: the Lambda observer passes its
    ``AIFLOW_LOG_REDACT`` setting down to the turn engine, which passes it here.
    """
    if error is None:
        _, error, _ = sys.exc_info()
    if not redact:
        info = (type(error), error, error.__traceback__) if error is not None else None
        logger.error(message, exc_info=info, extra=extra)
        return
    exc_type = type(error) if error is not None else None
    tb = error.__traceback__ if error is not None else None
    frames = [
        f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)
    ]
    logger.error(
        message,
        extra={
            **extra,
            "exception_type": exc_type.__name__ if exc_type else None,
            "frames": frames[-8:],
        },
    )
