"""The sipgate AI Flow wire protocol: events in, actions out, exactly as on the wire.

The WAV helpers (:mod:`.wav`) are imported on first use: most answers never play audio.
"""

from typing import TYPE_CHECKING, Any

from .actions import (
    ACTION_TYPES,
    Action,
    AudioAction,
    AzureTts,
    BargeInAction,
    BargeInPolicy,
    BaseAction,
    ConfigureTranscriptionAction,
    ConfigureVoiceToVoiceAction,
    ElevenLabsTts,
    HangupAction,
    MixAudioAction,
    SendSmsAction,
    SpeakAction,
    TransferAction,
    TtsOptions,
    VadOptions,
    audio,
    azure,
    barge_in,
    configure_transcription,
    configure_voice_to_voice,
    eleven_labs,
    hangup,
    mix_audio,
    parse_action,
    parse_reply,
    reply_body,
    send_sms,
    speak,
    transfer,
)
from .events import (
    KNOWN_EVENTS,
    AssistantSpeakEvent,
    AssistantSpeechEndedEvent,
    BaseEvent,
    DtmfReceivedEvent,
    Event,
    Session,
    SessionEndEvent,
    SessionStartEvent,
    SmsFailedEvent,
    UnknownEvent,
    UserBargeInEvent,
    UserInputTimeoutEvent,
    UserSpeakEvent,
    UserSpeechStartedEvent,
    parse_event,
)
from .phone import to_action_number, to_e164

if TYPE_CHECKING:
    from .wav import check_wav, make_wav, read_wav_format, wav_to_base64

_WAV = ("check_wav", "make_wav", "read_wav_format", "wav_to_base64")

__all__ = [
    "ACTION_TYPES",
    "KNOWN_EVENTS",
    "Action",
    "AssistantSpeakEvent",
    "AssistantSpeechEndedEvent",
    "AudioAction",
    "AzureTts",
    "BargeInAction",
    "BargeInPolicy",
    "BaseAction",
    "BaseEvent",
    "ConfigureTranscriptionAction",
    "ConfigureVoiceToVoiceAction",
    "DtmfReceivedEvent",
    "ElevenLabsTts",
    "Event",
    "HangupAction",
    "MixAudioAction",
    "SendSmsAction",
    "Session",
    "SessionEndEvent",
    "SessionStartEvent",
    "SmsFailedEvent",
    "SpeakAction",
    "TransferAction",
    "TtsOptions",
    "UnknownEvent",
    "UserBargeInEvent",
    "UserInputTimeoutEvent",
    "UserSpeakEvent",
    "UserSpeechStartedEvent",
    "VadOptions",
    "audio",
    "azure",
    "barge_in",
    "check_wav",
    "configure_transcription",
    "configure_voice_to_voice",
    "eleven_labs",
    "hangup",
    "make_wav",
    "mix_audio",
    "parse_action",
    "parse_event",
    "parse_reply",
    "read_wav_format",
    "reply_body",
    "send_sms",
    "speak",
    "to_action_number",
    "to_e164",
    "transfer",
    "wav_to_base64",
]


def __getattr__(name: str) -> Any:
    if name not in _WAV:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import wav

    value = getattr(wav, name)
    globals()[name] = value
    return value
