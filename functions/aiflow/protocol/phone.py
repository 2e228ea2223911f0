"""Phone number normalisation, as the protocol spec decides.

Events carry numbers with or without a leading ``+``; inside the framework we use E.164 with
``+``. Actions (``transfer``, ``send_sms``) get E.164 digits *without* the ``+``, which is what
sipgate's newer documentation recommends.
"""

from __future__ import annotations

import re

_SEPARATOR = r"[\s\-()./]"
_SEPARATORS = re.compile(_SEPARATOR)
# ASCII digits only: Python's \d would also take Arabic-Indic and other decimal digits.
_DIGITS = re.compile(r"[0-9]{2,15}")

ACTION_NUMBER_PATTERN = (
    rf"^{_SEPARATOR}*(?:0{_SEPARATOR}*0{_SEPARATOR}*|\+{_SEPARATOR}*|(?!0{_SEPARATOR}*0))"
    rf"(?:[0-9]{_SEPARATOR}*){{2,15}}$"
)
"""Exactly the strings :func:`to_action_number` accepts, as a regex (for the JSON Schema):
2 to 15 digits after an optional ``+`` or ``00``, with separators (space - ( ) . /) anywhere.
Each repetition starts with a digit, so matching stays linear on long inputs."""


def _strip(number: str) -> str:
    cleaned = _SEPARATORS.sub("", number.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    return cleaned


def to_e164(number: str | None) -> str | None:
    """Return ``number`` as ``+<digits>`` for internal use.

    Values that are not numbers (``"anonymous"``, an empty caller id) and national numbers
    with a single leading ``0`` (whose country is unknown) are returned unchanged.
    """
    if not number:
        return number
    cleaned = _strip(number)
    digits = cleaned.removeprefix("+")
    if not _DIGITS.fullmatch(digits) or (not cleaned.startswith("+") and digits.startswith("0")):
        return number
    return "+" + digits


def to_action_number(number: str) -> str:
    """Return ``number`` as E.164 digits without ``+`` for use in an action.

    Raises:
        ValueError: the value is not a phone number (2 to 15 digits after cleaning).
    """
    digits = _strip(number).removeprefix("+")
    if not _DIGITS.fullmatch(digits):
        raise ValueError("must be a phone number: 2 to 15 digits, optionally with a leading +")
    return digits
