"""Actions: what we answer (spec section 3), as models and short builder functions.

Builders are named exactly like the wire types (``speak``, ``audio``, ``transfer``, …) and
validate exactly what the spec says; an invalid action raises :class:`InvalidActionError`
naming the field. ``session_id`` is filled in by the framework from the event, so handlers
never pass it. Serialisation (:meth:`BaseAction.to_wire`) uses the wire keys and omits
absent fields: the platform never sees ``null``.

Two readers, two rules for what is on the wire:

* :func:`parse_action` reads one action as :meth:`~BaseAction.to_wire` writes it or an
  integration sends it (the call store keeps deferred actions this way). ``session_id`` may be
  absent (a handler's action before the framework addresses it); ``null`` is refused, except in
  the one place a real integration sends it (``tts.language``, see :class:`AzureTts`).
* :func:`parse_reply` reads a whole webhook reply as the platform does: every action must
  carry ``session_id``, and ``[]`` means "no action". This is what the exported JSON Schema
  (``actions.schema.json``) describes; the two agree on every input.

Numbers are JSON numbers: ``true`` and ``"7"`` are refused where a number belongs.
"""

import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import InvalidActionError
from .jsonbody import UnreadableJson, json_number, read_json
from .phone import to_action_number

_Number = BeforeValidator(json_number)  # a number as JSON has it: not true, not "7"


def _compact_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# A number > 0 that serialises 7.0 as 7, so replies read as the examples in the spec.
PositiveNumber = Annotated[
    float,
    Field(gt=0),
    BeforeValidator(json_number),
    PlainSerializer(_compact_number, return_type=int | float),
]
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


class _Strict(BaseModel):
    # We produce these; a misspelt keyword must fail here, not silently on a live call.
    # defer_build: a model's validator is built on first use, keeping Lambda cold start lean.
    model_config = ConfigDict(extra="forbid", defer_build=True, allow_inf_nan=False)

    # Fields a real integration sends as null; the wire readers take null there as absent
    # and refuse it everywhere else (in Python, None is the normal way to leave a field out).
    wire_nullable: ClassVar[frozenset[str]] = frozenset()


# --- option objects ------------------------------------------------------------------------


class AzureTts(_Strict):
    """An Azure voice, e.g. ``language="de-DE", voice="de-DE-KatjaNeural"``.

    Both are optional: without ``voice`` the platform uses its default voice (sipgate's n8n
    node sends ``{"provider": "azure", "language": "en-US"}`` when the voice is left empty).
    ``"language": null`` is read as absent: sipgate/flow-io sends it for an assistant without
    a voice language (``app/api/sipgate/webhook/handlers/lib/speak-response.ts``).
    """

    wire_nullable = frozenset({"language"})

    provider: Literal["azure"] = "azure"
    language: str | None = Field(
        None, pattern=_BCP47.pattern, description="BCP-47, e.g. de-DE; null is read as absent"
    )
    voice: str | None = Field(None, min_length=1)


class ElevenLabsTts(_Strict):
    """An ElevenLabs voice by id (note the underscore in ``eleven_labs``).

    Without ``voice`` the platform uses its default voice (sipgate's n8n node sends
    ``{"provider": "eleven_labs"}`` when the voice is left empty).
    """

    provider: Literal["eleven_labs"] = "eleven_labs"
    voice: str | None = Field(None, min_length=1)


TtsOptions = Annotated[AzureTts | ElevenLabsTts, Field(discriminator="provider")]
"""The ``tts`` object of ``speak``: Azure or ElevenLabs."""


class BargeInPolicy(_Strict):
    """When the caller may interrupt a ``speak`` or ``audio`` (the ``barge_in`` field).

    ``strategy`` defaults to the platform's default, ``minimum_characters``: sipgate's n8n
    node sends a policy without it when only "Allow After (Ms)" is set
    (``nodes/AiFlowAction/AiFlowAction.node.ts``).
    """

    strategy: Literal["none", "manual", "minimum_characters", "immediate"] = "minimum_characters"
    minimum_characters: Annotated[int, Field(ge=1, le=100), _Number] | None = None
    allow_after_ms: Annotated[int, Field(ge=0, le=10000), _Number] | None = None

    @model_validator(mode="after")
    def _minimum_only_with_its_strategy(self) -> Self:
        if self.minimum_characters is not None and self.strategy != "minimum_characters":
            raise ValueError(
                "minimum_characters is only allowed with strategy 'minimum_characters'"
            )
        return self


class VadOptions(_Strict):
    """Voice activity detection: the silence that ends a caller turn (kept for the session)."""

    end_of_turn_silence_ms: Annotated[int, Field(ge=150, le=2000), _Number]


# --- actions -------------------------------------------------------------------------------


class BaseAction(_Strict):
    """Fields every action has. ``session_id`` is set by the framework."""

    type: str
    session_id: str | None = Field(None, min_length=1)

    def to_wire(self) -> dict[str, Any]:
        """The action as JSON-ready dict with wire keys, absent fields omitted."""
        return self.model_dump(mode="json", exclude_none=True)

    def for_session(self, session_id: str) -> Self:
        """A copy addressed to ``session_id`` (used by the framework, not by handlers)."""
        return (
            self
            if self.session_id == session_id
            else self.model_copy(update={"session_id": session_id})
        )


class SpeakAction(BaseAction):
    """Say ``text`` (or an SSML document) to the caller."""

    type: Literal["speak"] = "speak"
    text: str | None = Field(None, min_length=1)
    ssml: str | None = Field(None, min_length=1)
    tts: TtsOptions | None = None
    barge_in: BargeInPolicy | None = None
    user_input_timeout_seconds: PositiveNumber | None = None
    vad: VadOptions | None = None

    @model_validator(mode="after")
    def _exactly_one_of_text_or_ssml(self) -> Self:
        if (self.text is None) == (self.ssml is None):
            raise ValueError("exactly one of `text` or `ssml` is required")
        if self.ssml is not None:
            doc = self.ssml.strip()
            if not (doc.startswith("<speak") and doc.endswith("</speak>")):
                raise ValueError("`ssml` must be a document wrapped in <speak>…</speak>")
        return self


class AudioAction(BaseAction):
    """Play a WAV file (base64, 16 kHz mono 16-bit PCM)."""

    type: Literal["audio"] = "audio"
    audio: str = Field(min_length=1, description="base64 of a whole 16 kHz mono 16-bit WAV file")
    barge_in: BargeInPolicy | None = None

    @field_validator("audio")
    @classmethod
    def _is_wav(cls, value: str) -> str:
        from .wav import check_wav_base64  # only audio needs it: not imported by every answer

        check_wav_base64(value)
        return value


class MixAudioAction(BaseAction):
    """Loop background audio under the conversation (``stop=True`` removes it)."""

    type: Literal["mix_audio"] = "mix_audio"
    audio: str | None = Field(None, min_length=1)
    volume: Annotated[float, Field(ge=0.0, le=1.0), _Number] | None = None
    stop: bool | None = Field(None, strict=True)

    @field_validator("audio")
    @classmethod
    def _is_wav(cls, value: str | None) -> str | None:
        if value is not None:
            from .wav import check_wav_base64

            check_wav_base64(value)
        return value

    @model_validator(mode="after")
    def _audio_unless_stop(self) -> Self:
        if self.audio is None and not self.stop:
            raise ValueError("`audio` is required unless `stop` is true")
        return self


def _action_number(value: Any) -> Any:
    return to_action_number(value) if isinstance(value, str) else value


class TransferAction(BaseAction):
    """Transfer the call. With ``timeout``, a failed transfer returns the caller to us."""

    type: Literal["transfer"] = "transfer"
    target_phone_number: str
    caller_id_name: str = Field(min_length=1)
    caller_id_number: str
    timeout: Annotated[int, Field(ge=5, le=120), _Number] | None = None

    @field_validator("target_phone_number", "caller_id_number", mode="before")
    @classmethod
    def _e164_digits(cls, value: Any) -> Any:
        return _action_number(value)


class HangupAction(BaseAction):
    """End the call at once (the framework defers it after speech in the same reply)."""

    type: Literal["hangup"] = "hangup"


class BargeInAction(BaseAction):
    """Stop whatever is playing now."""

    type: Literal["barge_in"] = "barge_in"


class ConfigureTranscriptionAction(BaseAction):
    """Reconfigure speech recognition (restarts it: a short audio gap)."""

    type: Literal["configure_transcription"] = "configure_transcription"
    provider: Literal["AZURE", "DEEPGRAM", "ELEVEN_LABS"] | None = None
    languages: list[Annotated[str, Field(pattern=_BCP47.pattern)]] | None = Field(
        None, min_length=1, max_length=4
    )
    custom_vocabulary: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=100
    )
    vad: VadOptions | None = None

    @model_validator(mode="after")
    def _at_least_one_field(self) -> Self:
        if all(
            v is None for v in (self.provider, self.languages, self.custom_vocabulary, self.vad)
        ):
            raise ValueError(
                "at least one of provider, languages, custom_vocabulary or vad is required"
            )
        return self


class ConfigureVoiceToVoiceAction(BaseAction):
    """Hand the conversation to a voice-to-voice model (preview feature)."""

    type: Literal["configure_voice_to_voice"] = "configure_voice_to_voice"
    system_prompt: str = Field(min_length=1)
    greeting: str | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0), _Number] | None = None
    language: str | None = None


class SendSmsAction(BaseAction):
    """Send a text message (enabled by sipgate on request; failures arrive as sms_failed)."""

    type: Literal["send_sms"] = "send_sms"
    phone_number: str
    message: str = Field(min_length=1)

    @field_validator("phone_number", mode="before")
    @classmethod
    def _e164_digits(cls, value: Any) -> Any:
        return _action_number(value)


Action = Annotated[
    SpeakAction
    | AudioAction
    | MixAudioAction
    | TransferAction
    | HangupAction
    | BargeInAction
    | ConfigureTranscriptionAction
    | ConfigureVoiceToVoiceAction
    | SendSmsAction,
    Field(discriminator="type"),
]
"""Any action, discriminated on ``type``."""


@cache
def action_adapter() -> TypeAdapter[Action]:
    """The validator of the :data:`Action` union (built on first use)."""
    return TypeAdapter(Action)


ACTION_TYPES: dict[str, type[BaseAction]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        SpeakAction,
        AudioAction,
        MixAudioAction,
        TransferAction,
        HangupAction,
        BargeInAction,
        ConfigureTranscriptionAction,
        ConfigureVoiceToVoiceAction,
        SendSmsAction,
    )
}

# --- builders ------------------------------------------------------------------------------

_A = TypeVar("_A", bound=BaseAction)


def _build(cls: type[_A], **fields: Any) -> _A:
    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise _invalid(cls.model_fields["type"].default, exc) from None


_TTS_TAGS = ("azure", "eleven_labs")
# Where a wire reader takes null as absent: "<field>.<nested field>" of an action.
_WIRE_NULLABLE = frozenset(f"tts.{name}" for name in AzureTts.wire_nullable)


def _invalid(kind: str, exc: ValidationError, *, tagged: bool = False) -> InvalidActionError:
    details = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        if tagged and loc and loc[0] == kind:
            loc = loc[1:]  # the union's tag, e.g. ("speak", "text") from parse_action
        # The tts union adds its tag too: ("tts", "azure", "voice") -> tts.voice
        loc = [p for i, p in enumerate(loc) if not (i and loc[i - 1] == "tts" and p in _TTS_TAGS)]
        field = ".".join(str(p) for p in loc) or "(action)"
        details.append({"field": field, "problem": error["msg"]})
    first = details[0]
    where = f"{kind}.{first['field']}" if first["field"] != "(action)" else kind
    return InvalidActionError(f"{where}: {first['problem']}", details=details)


def azure(voice: str | None = None, language: str | None = None) -> AzureTts:
    """An Azure TTS voice, e.g. ``azure("de-DE-KatjaNeural", "de-DE")``.

    Leave ``voice`` out (``azure(language="en-US")``) for the platform's default voice.
    """
    try:
        return AzureTts(voice=voice, language=language)
    except ValidationError as exc:
        raise _invalid("tts", exc) from None


def eleven_labs(voice: str | None = None) -> ElevenLabsTts:
    """An ElevenLabs TTS voice by id; without one, the platform's default ElevenLabs voice."""
    try:
        return ElevenLabsTts(voice=voice)
    except ValidationError as exc:
        raise _invalid("tts", exc) from None


def speak(
    text: str | None = None,
    *,
    ssml: str | None = None,
    tts: AzureTts | ElevenLabsTts | dict[str, Any] | None = None,
    barge_in: BargeInPolicy | dict[str, Any] | None = None,
    user_input_timeout_seconds: float | None = None,
    vad: VadOptions | dict[str, Any] | None = None,
) -> SpeakAction:
    """Say ``text`` (or ``ssml``) to the caller. Omitted options use the platform's defaults."""
    return _build(
        SpeakAction,
        text=text,
        ssml=ssml,
        tts=tts,
        barge_in=barge_in,
        user_input_timeout_seconds=user_input_timeout_seconds,
        vad=vad,
    )


def audio(
    wav: bytes | str | Path, *, barge_in: BargeInPolicy | dict[str, Any] | None = None
) -> AudioAction:
    """Play a WAV file given as bytes or a path; it must be 16 kHz mono 16-bit PCM."""
    from .wav import wav_to_base64

    return _build(AudioAction, audio=wav_to_base64(wav), barge_in=barge_in)


def mix_audio(
    wav: bytes | str | Path | None = None, *, volume: float | None = None, stop: bool | None = None
) -> MixAudioAction:
    """Loop ``wav`` under the conversation at ``volume`` (0..1); ``stop=True`` ends the loop."""
    from .wav import wav_to_base64

    encoded = wav_to_base64(wav) if wav is not None else None
    return _build(MixAudioAction, audio=encoded, volume=volume, stop=stop)


def transfer(
    target: str, *, caller_id_name: str, caller_id_number: str, timeout: int | None = None
) -> TransferAction:
    """Transfer the call to ``target``; numbers are sent as E.164 digits without ``+``."""
    return _build(
        TransferAction,
        target_phone_number=target,
        caller_id_name=caller_id_name,
        caller_id_number=caller_id_number,
        timeout=timeout,
    )


def hangup() -> HangupAction:
    """End the call (after the preceding speech, when returned together with it)."""
    return HangupAction()


def barge_in() -> BargeInAction:
    """Stop whatever is playing now; typically ``[barge_in(), speak("...")]``."""
    return BargeInAction()


def configure_transcription(
    *,
    provider: str | None = None,
    languages: Sequence[str] | None = None,
    custom_vocabulary: Sequence[str] | None = None,
    vad: VadOptions | dict[str, Any] | None = None,
) -> ConfigureTranscriptionAction:
    """Reconfigure speech recognition; at least one option is required."""
    return _build(
        ConfigureTranscriptionAction,
        provider=provider,
        languages=list(languages) if languages is not None else None,
        custom_vocabulary=list(custom_vocabulary) if custom_vocabulary is not None else None,
        vad=vad,
    )


def configure_voice_to_voice(
    system_prompt: str,
    *,
    greeting: str | None = None,
    temperature: float | None = None,
    language: str | None = None,
) -> ConfigureVoiceToVoiceAction:
    """Switch the call to a voice-to-voice model (preview; enabled by sipgate on request)."""
    return _build(
        ConfigureVoiceToVoiceAction,
        system_prompt=system_prompt,
        greeting=greeting,
        temperature=temperature,
        language=language,
    )


def send_sms(phone_number: str, message: str) -> SendSmsAction:
    """Send ``message`` as SMS to ``phone_number`` (enabled by sipgate on request)."""
    return _build(SendSmsAction, phone_number=phone_number, message=message)


# --- wire helpers --------------------------------------------------------------------------


def parse_action(data: dict[str, Any]) -> Action:
    """Validate one action dict as serialised by :meth:`BaseAction.to_wire` or sent by an
    integration (used by simulators and the call store). ``session_id`` may be absent; ``null``
    is refused except where :attr:`~_Strict.wire_nullable` allows it.

    Raises:
        InvalidActionError: naming the field, e.g. ``speak.tts.voice: ...``.
    """
    kind = data.get("type") if isinstance(data, dict) else None
    kind = kind if isinstance(kind, str) and kind else "action"
    _refuse_nulls(kind, data)
    try:
        return action_adapter().validate_python(data)
    except ValidationError as exc:
        raise _invalid(kind, exc, tagged=True) from None


def _refuse_nulls(kind: str, data: Any) -> None:
    """On the wire an absent field is omitted; null only where an integration sends it."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        prefix, value = stack.pop()
        if isinstance(value, dict):
            children = [(f"{prefix}{key}", child) for key, child in value.items()]
        elif isinstance(value, list):
            children = [(f"{prefix}{index}", child) for index, child in enumerate(value)]
        else:
            continue
        for field, child in children:
            if child is None and field not in _WIRE_NULLABLE:
                problem = "absent fields are omitted on the wire, never sent as null"
                raise InvalidActionError(
                    f"{kind}.{field}: {problem}", details=[{"field": field, "problem": problem}]
                )
            if isinstance(child, dict | list):
                stack.append((f"{field}.", child))


def parse_reply(body: bytes | str | None) -> list[Action]:
    """Parse a webhook reply body as the platform reads it into actions.

    One action object or an array of actions; an empty body (204) and ``[]`` are no action.
    ``[]`` is accepted because sipgate/flow-io answers some turns with 200 ``[]``
    (``app/api/sipgate/webhook/handlers/user-speak.ts``); this framework answers 204 instead.
    Every action must carry ``session_id``: an action on the wire always does, unlike one a
    handler has just built.

    Raises:
        InvalidActionError: the body is not JSON, or an action is invalid (the message names
            the field).
    """
    if not body:
        return []
    try:
        decoded = read_json(body)
    except UnreadableJson as exc:
        raise InvalidActionError(f"the reply cannot be read: {exc.message}") from None
    items = decoded if isinstance(decoded, list) else [decoded]
    actions = [parse_action(item) for item in items]
    for action in actions:
        if action.session_id is None:
            problem = "every action in a reply carries the session_id of the event it answers"
            raise InvalidActionError(
                f"{action.type}.session_id: {problem}",
                details=[{"field": "session_id", "problem": problem}],
            )
    return actions


def reply_body(actions: Sequence[BaseAction]) -> str | None:
    """The JSON body for a reply: one object for one action, an array for more, None for 0."""
    if not actions:
        return None
    wire = [a.to_wire() for a in actions]
    return json.dumps(
        wire[0] if len(wire) == 1 else wire, ensure_ascii=False, separators=(",", ":")
    )
