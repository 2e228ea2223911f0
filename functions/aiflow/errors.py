"""The one error tree of the framework.

Every error has a stable ``code`` (for JSON error bodies and for tests), a human message
and optional ``details``. Developer mistakes (a bad handler signature, an invalid action)
raise at import or build time; bad webhook input raises :class:`EventParseError`, which the
transports turn into a 400 without echoing the input.
"""

from __future__ import annotations

from typing import Any


class AiflowError(Exception):
    """Base class of every error raised by ``aiflow``."""

    code: str = "aiflow_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: list[dict[str, Any]] = details or []

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body ``{code, message, details}`` used by the transports."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class EventParseError(AiflowError, ValueError):
    """A webhook body that is not an AI Flow event (answered with 400)."""

    code = "invalid_event"


class InvalidActionError(AiflowError, ValueError):
    """An action that the platform would not accept; the message names the field."""

    code = "invalid_action"


class InvalidAudioError(InvalidActionError):
    """Audio that is not a 16 kHz mono 16-bit PCM WAV file."""

    code = "invalid_audio"


class AssistantDefinitionError(AiflowError, TypeError):
    """A mistake in how an assistant is defined (raised at import, names file and line)."""

    code = "assistant_definition"
