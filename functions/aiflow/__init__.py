"""aiflow: build sipgate AI Flow voice assistants in Python and run them on AWS serverless.

The names most assistants need are importable from here::

    from aiflow import Assistant, Call, UserSpeakEvent, speak, hangup
"""

# First of all: in a Lambda function loading aiflow's entry point, importing gchold holds the
# garbage collector until the handler is built (see there; elsewhere it does nothing).
from .lambda_ import gchold as _gchold  # noqa: F401

# isort: split
from .assistant import Assistant, HandlerResultError
from .call import Call, Outbound
from .clock import Clock, FakeClock
from .errors import (
    AiflowError,
    AssistantDefinitionError,
    EventParseError,
    InvalidActionError,
    InvalidAudioError,
)
from .history import Turn
from .policy import OutagePolicy, TurnPolicy
from .protocol import (
    Action,
    AssistantSpeakEvent,
    AssistantSpeechEndedEvent,
    AudioAction,
    AzureTts,
    BargeInAction,
    BargeInPolicy,
    BaseAction,
    BaseEvent,
    ConfigureTranscriptionAction,
    ConfigureVoiceToVoiceAction,
    DtmfReceivedEvent,
    ElevenLabsTts,
    Event,
    HangupAction,
    MixAudioAction,
    SendSmsAction,
    Session,
    SessionEndEvent,
    SessionStartEvent,
    SmsFailedEvent,
    SpeakAction,
    TransferAction,
    UnknownEvent,
    UserBargeInEvent,
    UserInputTimeoutEvent,
    UserSpeakEvent,
    UserSpeechStartedEvent,
    VadOptions,
    audio,
    azure,
    barge_in,
    configure_transcription,
    configure_voice_to_voice,
    eleven_labs,
    hangup,
    mix_audio,
    parse_event,
    send_sms,
    speak,
    transfer,
)
from .records.policy import RecordPolicy
from .replies import AfterSpeech, Reply, after_speech
from .report import TurnReport
from .streaming import send, streaming

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AfterSpeech",
    "AiflowError",
    "Assistant",
    "AssistantDefinitionError",
    "AssistantSpeakEvent",
    "AssistantSpeechEndedEvent",
    "AudioAction",
    "AzureTts",
    "BargeInAction",
    "BargeInPolicy",
    "BaseAction",
    "BaseEvent",
    "Call",
    "Clock",
    "ConfigureTranscriptionAction",
    "ConfigureVoiceToVoiceAction",
    "DtmfReceivedEvent",
    "ElevenLabsTts",
    "Event",
    "EventParseError",
    "FakeClock",
    "HandlerResultError",
    "HangupAction",
    "InvalidActionError",
    "InvalidAudioError",
    "MixAudioAction",
    "Outbound",
    "OutagePolicy",
    "RecordPolicy",
    "Reply",
    "SendSmsAction",
    "Session",
    "SessionEndEvent",
    "SessionStartEvent",
    "SmsFailedEvent",
    "SpeakAction",
    "TransferAction",
    "Turn",
    "TurnPolicy",
    "TurnReport",
    "UnknownEvent",
    "UserBargeInEvent",
    "UserInputTimeoutEvent",
    "UserSpeakEvent",
    "UserSpeechStartedEvent",
    "VadOptions",
    "after_speech",
    "audio",
    "azure",
    "barge_in",
    "configure_transcription",
    "configure_voice_to_voice",
    "eleven_labs",
    "hangup",
    "mix_audio",
    "parse_event",
    "send",
    "send_sms",
    "speak",
    "streaming",
    "transfer",
]
