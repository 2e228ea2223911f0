"""Phone number normalisation, as the protocol spec decides.

Events carry numbers with or without a leading ``+``; inside the framework we use E.164 with
``+``. Actions (``transfer``, ``send_sms``) get E.164 digits *without* the ``+``, which is what
sipgate's newer documentation recommends.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-()./]")
_DIGITS = re.compile(r"^\d{2,15}$")


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
    if not _DIGITS.match(digits) or (not cleaned.startswith("+") and digits.startswith("0")):
        return number
    return "+" + digits


def to_action_number(number: str) -> str:
    """Return ``number`` as E.164 digits without ``+`` for use in an action.

    Raises:
        ValueError: the value is not a phone number (2 to 15 digits after cleaning).
    """
    digits = _strip(number).removeprefix("+")
    if not _DIGITS.match(digits):
        raise ValueError("must be a phone number: 2 to 15 digits, optionally with a leading +")
    return digits
