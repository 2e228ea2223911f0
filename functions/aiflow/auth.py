"""The shared token: where it comes from, and the constant-time check of a request's header.

sipgate sends the token in ``X-API-TOKEN`` (``X-API-Key`` is accepted as an alias); names
are case-insensitive. A configured token is trimmed (a secret pasted with a trailing newline
must not lock out every call) and must have at least :data:`MIN_TOKEN_LENGTH` characters: a
shorter one is a configuration mistake, refused with a clear log line, and no request is
then accepted (valid events get the fallback speech, so a caller still hears something).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping

from .errors import AiflowError
from .plain import Plain

TOKEN_HEADERS = ("x-api-token", "x-api-key")
MIN_TOKEN_LENGTH = 16

TokenSource = Callable[[], str | None]
"""Returns the expected token (read again when it may have been rotated)."""


class TokenConfigError(AiflowError):
    """The configured token cannot be used (empty, or shorter than the minimum)."""

    code = "bad_token_config"


class Refusal(Plain):
    """Why a request was refused: the status and the JSON error body."""

    __slots__ = ("status", "code", "message")

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message

    @property
    def body(self) -> str:
        """``{"code": ..., "message": ...}``."""
        return json.dumps({"code": self.code, "message": self.message})


def clean_token(value: str | None, *, where: str = "the API token") -> str:
    """``value`` trimmed; raises :class:`TokenConfigError` if it is missing or too short."""
    token = (value or "").strip()
    if not token:
        raise TokenConfigError(f"{where} is empty")
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenConfigError(
            f"{where} has {len(token)} characters; at least {MIN_TOKEN_LENGTH} are required"
        )
    return token


def fixed_token(value: str | None) -> TokenSource:
    """A token source for a token given directly (validated now)."""
    token = clean_token(value)
    return lambda: token


def check_token(headers: Mapping[str, str], expected: str | None) -> Refusal | None:
    """None if ``headers`` carry the expected token, else the 401 to answer.

    The comparison takes the same time however much of the token matches. A header value
    that is not valid text (e.g. a lone surrogate) is a wrong token, not an error.
    """
    supplied = None
    for name, value in headers.items():
        if name.lower() in TOKEN_HEADERS:
            supplied = value
            break
    if not expected:
        return Refusal(401, "unauthorized", "the webhook has no API token configured")
    if supplied is None:
        return Refusal(401, "unauthorized", "the X-API-TOKEN header is missing")
    try:
        supplied_bytes = supplied.strip().encode("utf-8")
    except UnicodeEncodeError:
        supplied_bytes = b""
    if not hmac.compare_digest(supplied_bytes, expected.encode("utf-8")):
        return Refusal(401, "unauthorized", "the X-API-TOKEN header is wrong")
    return None
