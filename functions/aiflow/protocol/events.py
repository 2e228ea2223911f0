"""Events: what the sipgate AI Flow platform sends us (spec section 2).

Every event model keeps the wire's field names and keeps unknown extra fields (the platform
adds fields over time). Unknown event *types* parse as :class:`UnknownEvent`. Use
:func:`parse_event` on a raw webhook body: it raises one :class:`EventParseError` whose
message names the problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import EventParseError

Digit = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]


class Session(BaseModel):
    """The ``session`` object of every event. Only ``id`` is required."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str = Field(min_length=1, description="UUID of the call; echo it as session_id")
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
    barged_in: bool = Field(False, description="the caller interrupted the assistant")

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
    duration_ms: int | float | None = Field(None, ge=0, description="length of the playback")
    speech_started_at: int | None = Field(None, description="Unix time in ms")


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
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


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

    type: str


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


@cache
def event_adapter() -> TypeAdapter[Event]:
    """The validator of the :data:`Event` union (built on first use)."""
    return TypeAdapter(Event)


def parse_event(data: bytes | str | Mapping[str, Any]) -> Event:
    """Parse one webhook body (bytes, str or an already decoded mapping) into an event.

    Raises:
        EventParseError: with ``code`` one of ``not_json``, ``not_an_object``,
            ``missing_type``, ``missing_session_id`` or ``invalid_field``; the message names
            the problem and never repeats the input.
    """
    if isinstance(data, bytes | bytearray | str):
        try:
            decoded: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventParseError(
                f"the body is not valid JSON ({type(exc).__name__})", code="not_json"
            ) from None
    else:
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
    session = decoded.get("session")
    session_id = session.get("id") if isinstance(session, Mapping) else None
    if not isinstance(session_id, str) or not session_id:
        raise EventParseError(
            "the event has no `session.id` (a non-empty string is required)",
            code="missing_session_id",
        )
    try:
        return event_adapter().validate_python(dict(decoded))
    except ValidationError as exc:
        details = validation_details(exc, strip_tag=True)
        first = details[0]
        raise EventParseError(
            f"bad field `{first['field']}` in {kind} event: {first['problem']}",
            code="invalid_field",
            details=details,
        ) from None


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
