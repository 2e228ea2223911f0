"""Events: what the sipgate AI Flow platform sends us (spec section 2).

Every event model keeps the wire's field names and keeps unknown extra fields (the platform
adds fields over time). Unknown event *types* parse as :class:`UnknownEvent`. Use
:func:`parse_event` on a raw webhook body: whatever the input, it returns an event or raises
one :class:`EventParseError` whose message names the problem (never the input).

Types are read as JSON has them: a number field refuses ``true`` and ``"7"``, a boolean field
refuses ``1`` and ``"true"`` (the exported JSON Schema says the same).
"""

import logging
import re
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import EventParseError
from ..redact import log_failure
from .jsonbody import UnreadableJson, check_value, json_number, read_json

logger = logging.getLogger("aiflow")

Digit = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
MAX_ID_CHARS = 256
"""Longest ``session.id`` accepted (the platform sends 36-character UUIDs)."""
MAX_TYPE_CHARS = 128
"""Longest event ``type`` accepted (known types are under 30 characters)."""
CONTROL_CHARACTERS = "[\\x00-\\x1f\\x7f-\\x9f]"
"""Characters an id or type never contains (C0, DEL and C1 controls), as a regex class."""
_CONTROL = re.compile(CONTROL_CHARACTERS)


_Number = BeforeValidator(json_number)


def _printable(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


class Session(BaseModel):
    """The ``session`` object of every event. Only ``id`` is required."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: Annotated[str, BeforeValidator(_printable)] = Field(
        min_length=1, max_length=MAX_ID_CHARS, description="UUID of the call; echo it as session_id"
    )
    account_id: str | None = None
    phone_number: str | None = Field(None, description="the AI Flow number of this session")
    direction: Literal["inbound", "outbound"] | None = None
    from_phone_number: str | None = Field(None, description="the caller")
    to_phone_number: str | None = Field(None, description="the callee")


class BaseEvent(BaseModel):
    """Fields every event has. Extra fields are kept, never rejected."""

    # defer_build: validators are built on first use, keeping Lambda cold start lean.
    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str
    session: Session

    def to_wire(self) -> dict[str, Any]:
        """The event as the platform sends it (absent optional fields omitted)."""
        return self.model_dump(mode="json", exclude_none=True)


class SessionStartEvent(BaseEvent):
    """The call is connected; sent again with the same id when a transfer with timeout fails."""

    type: Literal["session_start"] = "session_start"


class UserSpeakEvent(BaseEvent):
    """The final speech-to-text result of one caller turn."""

    type: Literal["user_speak"] = "user_speak"
    text: str = Field(description="the transcript; older platform versions sent `transcript`")
    barged_in: bool = Field(False, strict=True, description="the caller interrupted the assistant")

    @model_validator(mode="before")
    @classmethod
    def _text_from_transcript(cls, data: Any) -> Any:
        if isinstance(data, dict) and "text" not in data and "transcript" in data:
            return {**data, "text": data["transcript"]}
        return data


class UserSpeechStartedEvent(BaseEvent):
    """Voice activity detected, before a transcript exists (WebSocket only)."""

    type: Literal["user_speech_started"] = "user_speech_started"


class AssistantSpeakEvent(BaseEvent):
    """Playback of our speech started."""

    type: Literal["assistant_speak"] = "assistant_speak"
    text: str | None = None
    ssml: str | None = None
    duration_ms: Annotated[int | float, _Number] | None = Field(
        None, ge=0, description="length of the playback"
    )
    speech_started_at: Annotated[int, _Number] | None = Field(None, description="Unix time in ms")


class AssistantSpeechEndedEvent(BaseEvent):
    """Playback of our speech or audio finished."""

    type: Literal["assistant_speech_ended"] = "assistant_speech_ended"


class UserInputTimeoutEvent(BaseEvent):
    """The caller stayed silent for ``user_input_timeout_seconds`` after our speech."""

    type: Literal["user_input_timeout"] = "user_input_timeout"


class DtmfReceivedEvent(BaseEvent):
    """One key press on the caller's keypad."""

    type: Literal["dtmf_received"] = "dtmf_received"
    digit: Digit

    @field_validator("digit", mode="before")
    @classmethod
    def _digit_as_string(cls, value: Any) -> Any:
        # A key sent as a JSON number (7, or 7.0) is read as its string.
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and 0 <= value <= 9 and value == int(value):
            return str(int(value))
        return value


class SessionEndEvent(BaseEvent):
    """The call ended. Always answered with 204; actions would be ignored."""

    type: Literal["session_end"] = "session_end"
    reason: str | None = None


class UserBargeInEvent(BaseEvent):
    """Legacy interruption event; with text it is treated like ``user_speak(barged_in=True)``."""

    type: Literal["user_barge_in"] = "user_barge_in"
    text: str | None = None


class SmsFailedEvent(BaseEvent):
    """A ``send_sms`` action failed (fields undocumented; all are kept as extras)."""

    type: Literal["sms_failed"] = "sms_failed"


class UnknownEvent(BaseEvent):
    """Any event type this version does not know. Answered with 204 unless a handler acts."""

    type: Annotated[str, BeforeValidator(_printable)] = Field(
        min_length=1, max_length=MAX_TYPE_CHARS
    )


KNOWN_EVENTS: dict[str, type[BaseEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        SessionStartEvent,
        UserSpeakEvent,
        UserSpeechStartedEvent,
        AssistantSpeakEvent,
        AssistantSpeechEndedEvent,
        UserInputTimeoutEvent,
        DtmfReceivedEvent,
        SessionEndEvent,
        UserBargeInEvent,
        SmsFailedEvent,
    )
}


def _event_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in KNOWN_EVENTS else "unknown"


Event = Annotated[
    Annotated[SessionStartEvent, Tag("session_start")]
    | Annotated[UserSpeakEvent, Tag("user_speak")]
    | Annotated[UserSpeechStartedEvent, Tag("user_speech_started")]
    | Annotated[AssistantSpeakEvent, Tag("assistant_speak")]
    | Annotated[AssistantSpeechEndedEvent, Tag("assistant_speech_ended")]
    | Annotated[UserInputTimeoutEvent, Tag("user_input_timeout")]
    | Annotated[DtmfReceivedEvent, Tag("dtmf_received")]
    | Annotated[SessionEndEvent, Tag("session_end")]
    | Annotated[UserBargeInEvent, Tag("user_barge_in")]
    | Annotated[SmsFailedEvent, Tag("sms_failed")]
    | Annotated[UnknownEvent, Tag("unknown")],
    Discriminator(_event_tag),
]
"""Any event: a union discriminated on ``type``, with :class:`UnknownEvent` as catch-all."""


class EventValidator:
    """Validates an event with the model its ``type`` names (:class:`UnknownEvent` for any
    other), exactly as the :data:`Event` union discriminates. A ``TypeAdapter`` of the union
    would build the validator of every event model at the first parse, on a cold start's
    first request; this builds only the one the request needs."""

    def validate_python(self, data: Mapping[str, Any]) -> Event:
        """The event ``data`` describes; raises pydantic's ``ValidationError``."""
        model = KNOWN_EVENTS.get(_event_tag(data), UnknownEvent)
        return model.model_validate(data)  # type: ignore[return-value]  # one of Event's


@cache
def event_adapter() -> EventValidator:
    """The validator of :data:`Event` (per-type models built on first use)."""
    return EventValidator()


def parse_event(data: bytes | str | Mapping[str, Any]) -> Event:
    """Parse one webhook body (bytes, str or an already decoded mapping) into an event.

    Bytes must be UTF-8 (a BOM is ignored). Nesting deeper than
    :data:`~aiflow.protocol.jsonbody.MAX_DEPTH`, lone surrogate escapes (``"\\ud800"``),
    numbers that are not finite, a ``session.id`` longer than :data:`MAX_ID_CHARS` and control
    characters in ``session.id`` or ``type`` are refused here, before they can fail later.

    Raises:
        EventParseError: with ``code`` one of ``not_json``, ``too_deep``, ``invalid_number``,
            ``invalid_unicode``, ``not_an_object``, ``missing_type``, ``missing_session_id``
            or ``invalid_field`` (``invalid_event`` for anything unforeseen); the message names
            the problem and the field, and never repeats the input.
    """
    try:
        return _parse_event(data)
    except EventParseError:
        raise
    except UnreadableJson as exc:
        details = [{"field": exc.field, "problem": exc.message}] if exc.field else None
        raise EventParseError(exc.message, code=exc.code, details=details) from None
    except Exception as exc:
        # Whatever the input, the answer is a 400, never a 500: log the type only (no values).
        log_failure(logger, "an event body could not be parsed")
        raise EventParseError(
            f"the event could not be read ({type(exc).__name__})", code="invalid_event"
        ) from None


def _parse_event(data: bytes | str | Mapping[str, Any]) -> Event:
    if isinstance(data, bytes | bytearray | str):
        decoded: Any = read_json(data)
    else:
        check_value(data)  # a mapping from code: same limits as a body
        decoded = data
    if not isinstance(decoded, Mapping):
        raise EventParseError(
            f"the body must be a JSON object, got {_json_kind(decoded)}", code="not_an_object"
        )
    kind = decoded.get("type")
    if not isinstance(kind, str) or not kind:
        raise EventParseError(
            "the event has no `type` (a non-empty string is required)", code="missing_type"
        )
    _check_printable("type", kind, MAX_TYPE_CHARS)
    session = decoded.get("session")
    session_id = session.get("id") if isinstance(session, Mapping) else None
    if not isinstance(session_id, str) or not session_id:
        raise EventParseError(
            "the event has no `session.id` (a non-empty string is required)",
            code="missing_session_id",
        )
    _check_printable("session.id", session_id, MAX_ID_CHARS)
    try:
        return event_adapter().validate_python(dict(decoded))
    except ValidationError as exc:
        details = validation_details(exc, strip_tag=True)
        first = details[0]
        raise EventParseError(
            f"bad field `{first['field']}` in {_shown_type(kind)} event: {first['problem']}",
            code="invalid_field",
            details=details,
        ) from None


def _check_printable(field: str, value: str, limit: int) -> None:
    """An id or type is a short, printable string; say which rule it breaks."""
    problem = None
    if len(value) > limit:
        problem = f"has {len(value)} characters; the limit is {limit}"
    elif _CONTROL.search(value):
        problem = "contains control characters"
    if problem is not None:
        raise EventParseError(
            f"bad field `{field}`: it {problem}",
            code="invalid_field",
            details=[{"field": field, "problem": problem}],
        )


def _shown_type(kind: str) -> str:
    # The type is input too: name it only when it is one we know.
    return kind if kind in KNOWN_EVENTS else "an unknown"


def validation_details(exc: ValidationError, *, strip_tag: bool = False) -> list[dict[str, Any]]:
    """Turn a pydantic error into ``[{field, problem}]`` without echoing the input value."""
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = list(error["loc"])
        if (
            strip_tag
            and loc
            and isinstance(loc[0], str)
            and (loc[0] in KNOWN_EVENTS or loc[0] == "unknown")
        ):
            loc = loc[1:]
        field = ".".join(str(part) for part in loc) or "(event)"
        details.append({"field": field, "problem": error["msg"]})
    return details


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
