"""Actions: the builders produce the spec's example replies and reject what the spec forbids."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from aiflow.errors import InvalidActionError, InvalidAudioError
from aiflow.protocol import (
    ACTION_TYPES,
    AudioAction,
    AzureTts,
    BargeInPolicy,
    ElevenLabsTts,
    HangupAction,
    MixAudioAction,
    SpeakAction,
    TransferAction,
    VadOptions,
    audio,
    azure,
    barge_in,
    configure_transcription,
    configure_voice_to_voice,
    eleven_labs,
    hangup,
    make_wav,
    mix_audio,
    parse_action,
    parse_reply,
    reply_body,
    send_sms,
    speak,
    transfer,
)

SESSION_ID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
WAV = make_wav(b"\x00\x00" * 1600)  # 0.1 s of silence, 16 kHz mono 16-bit

# Spec section 5, "Replies" (copied verbatim).
EXAMPLE_REPLY_LINES = [
    '{"type": "speak", "session_id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "text": "Praxis Weber, guten Tag. Wie kann ich helfen?", "tts": {"provider": "azure", "language": "de-DE", "voice": "de-DE-ConradNeural"}, "barge_in": {"strategy": "minimum_characters", "minimum_characters": 4, "allow_after_ms": 400}, "user_input_timeout_seconds": 7}',  # noqa: E501
    '{"type": "speak", "session_id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "text": "Buchstabieren Sie bitte.", "tts": {"provider": "eleven_labs", "voice": "EXAVITQu4vr4xnSDxMaL"}, "barge_in": {"strategy": "immediate", "allow_after_ms": 300}, "vad": {"end_of_turn_silence_ms": 1400}}',  # noqa: E501
    '[{"type": "barge_in", "session_id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"}, {"type": "speak", "session_id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "text": "Verstanden, ich verbinde Sie."}]',  # noqa: E501
    '{"type": "transfer", "session_id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "target_phone_number": "4921198765411", "caller_id_name": "Praxis Weber", "caller_id_number": "4921198765400", "timeout": 25}',  # noqa: E501
    '{"type": "hangup", "session_id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"}',
    '{"type": "configure_transcription", "session_id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "provider": "DEEPGRAM", "languages": ["en-US"], "custom_vocabulary": ["Weber"]}',  # noqa: E501
]


def canonical(value: Any) -> str:
    """JSON text that tells 7 from 7.0 and ignores key order."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def wire(action: Any) -> dict[str, Any]:
    result: dict[str, Any] = action.for_session(SESSION_ID).to_wire()
    return result


# --- the spec's examples -------------------------------------------------------------------


def test_the_azure_greeting_example_is_built_by_speak() -> None:
    action = speak(
        "Praxis Weber, guten Tag. Wie kann ich helfen?",
        tts=azure("de-DE-ConradNeural", "de-DE"),
        barge_in=BargeInPolicy(
            strategy="minimum_characters", minimum_characters=4, allow_after_ms=400
        ),
        user_input_timeout_seconds=7,
    )
    assert canonical(wire(action)) == canonical(json.loads(EXAMPLE_REPLY_LINES[0]))


def test_the_eleven_labs_spelling_example_is_built_by_speak() -> None:
    action = speak(
        "Buchstabieren Sie bitte.",
        tts=eleven_labs("EXAVITQu4vr4xnSDxMaL"),
        barge_in=BargeInPolicy(strategy="immediate", allow_after_ms=300),
        vad=VadOptions(end_of_turn_silence_ms=1400),
    )
    assert canonical(wire(action)) == canonical(json.loads(EXAMPLE_REPLY_LINES[1]))


def test_the_barge_in_then_speak_array_example_is_built_by_reply_body() -> None:
    actions = [barge_in(), speak("Verstanden, ich verbinde Sie.")]
    body = reply_body([a.for_session(SESSION_ID) for a in actions])
    assert body is not None
    assert canonical(json.loads(body)) == canonical(json.loads(EXAMPLE_REPLY_LINES[2]))


def test_the_transfer_example_is_built_by_transfer_from_numbers_with_plus_and_spaces() -> None:
    action = transfer(
        "+49 211 98765411",
        caller_id_name="Praxis Weber",
        caller_id_number="+4921198765400",
        timeout=25,
    )
    assert canonical(wire(action)) == canonical(json.loads(EXAMPLE_REPLY_LINES[3]))


def test_the_hangup_example_is_built_by_hangup() -> None:
    assert canonical(wire(hangup())) == canonical(json.loads(EXAMPLE_REPLY_LINES[4]))


def test_the_configure_transcription_example_is_built_by_configure_transcription() -> None:
    action = configure_transcription(
        provider="DEEPGRAM", languages=["en-US"], custom_vocabulary=("Weber",)
    )
    assert canonical(wire(action)) == canonical(json.loads(EXAMPLE_REPLY_LINES[5]))


def test_options_given_as_dicts_build_the_same_action_as_option_objects() -> None:
    from_dicts = speak(
        "Buchstabieren Sie bitte.",
        tts={"provider": "eleven_labs", "voice": "EXAVITQu4vr4xnSDxMaL"},
        barge_in={"strategy": "immediate", "allow_after_ms": 300},
        vad={"end_of_turn_silence_ms": 1400},
    )
    assert canonical(wire(from_dicts)) == canonical(json.loads(EXAMPLE_REPLY_LINES[1]))


@pytest.mark.parametrize("line", EXAMPLE_REPLY_LINES)
def test_every_example_reply_parses_and_serialises_back_unchanged(line: str) -> None:
    actions = parse_reply(line)
    body = reply_body(actions)
    assert body is not None
    assert canonical(json.loads(body)) == canonical(json.loads(line))


# --- serialisation -------------------------------------------------------------------------


def test_absent_fields_are_omitted_never_sent_as_null() -> None:
    assert wire(speak("Hallo")) == {"type": "speak", "session_id": SESSION_ID, "text": "Hallo"}
    assert wire(azure_speak := speak("Hi", tts=azure("en-US-JennyNeural"))) == {
        "type": "speak",
        "session_id": SESSION_ID,
        "text": "Hi",
        "tts": {"provider": "azure", "voice": "en-US-JennyNeural"},
    }
    assert "null" not in json.dumps(wire(azure_speak))
    assert wire(mix_audio(stop=True)) == {
        "type": "mix_audio",
        "session_id": SESSION_ID,
        "stop": True,
    }


def test_a_whole_number_timeout_is_sent_as_an_integer_and_a_fraction_as_a_float() -> None:
    assert canonical(speak("x", user_input_timeout_seconds=7.0).to_wire()).endswith(
        '"user_input_timeout_seconds": 7}'
    )
    assert speak("x", user_input_timeout_seconds=2.5).to_wire()["user_input_timeout_seconds"] == 2.5


def test_for_session_returns_a_copy_and_leaves_the_original_unaddressed() -> None:
    original = speak("Hallo")
    addressed = original.for_session(SESSION_ID)
    assert original.session_id is None
    assert addressed.session_id == SESSION_ID
    assert addressed.for_session(SESSION_ID) is addressed
    assert addressed.for_session("other").session_id == "other"


def test_reply_body_is_none_for_no_actions_one_object_for_one_and_an_array_for_more() -> None:
    assert reply_body([]) is None
    assert json.loads(reply_body([hangup().for_session(SESSION_ID)]) or "") == {
        "type": "hangup",
        "session_id": SESSION_ID,
    }
    many = json.loads(reply_body([barge_in(), hangup()]) or "")
    assert [a["type"] for a in many] == ["barge_in", "hangup"]


def test_reply_body_keeps_non_ascii_text_readable() -> None:
    body = reply_body([speak("Grüße aus Düsseldorf")])
    assert body is not None
    assert "Grüße aus Düsseldorf" in body


def test_parse_reply_of_an_empty_body_is_no_action() -> None:
    assert parse_reply(None) == []
    assert parse_reply(b"") == []


def test_parse_reply_of_an_empty_array_is_no_action_as_flow_io_sends_it() -> None:
    # sipgate/flow-io app/api/sipgate/webhook/handlers/user-speak.ts: NextResponse.json([])
    assert parse_reply("[]") == []


def test_parse_reply_refuses_an_action_without_session_id_naming_it() -> None:
    with pytest.raises(InvalidActionError) as info:
        parse_reply('[{"type": "barge_in", "session_id": "s"}, {"type": "hangup"}]')
    assert info.value.message.startswith("hangup.session_id: every action in a reply carries")
    assert [d["field"] for d in info.value.details] == ["session_id"]


def test_parse_action_still_reads_an_action_a_handler_built_before_it_was_addressed() -> None:
    assert parse_action(hangup().to_wire()) == hangup()


@pytest.mark.parametrize(
    "body", ["{", "NaN", '{"type": "hangup", "session_id": "s", "x": 1e999}', '["\\ud800"]']
)
def test_parse_reply_of_a_body_that_is_not_json_raises_invalid_action_error(body: str) -> None:
    with pytest.raises(InvalidActionError) as info:
        parse_reply(body)
    assert info.value.message.startswith("the reply cannot be read: ")


def test_null_on_the_wire_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidActionError) as info:
        parse_action({"type": "speak", "session_id": SESSION_ID, "text": "Hi", "ssml": None})
    assert info.value.message == (
        "speak.ssml: absent fields are omitted on the wire, never sent as null"
    )
    with pytest.raises(InvalidActionError) as info:
        parse_action({"type": "speak", "text": "Hi", "tts": {"provider": "azure", "voice": None}})
    assert info.value.message.startswith("speak.tts.voice: absent fields are omitted")


def test_a_null_azure_language_as_flow_io_sends_it_is_read_as_absent() -> None:
    # sipgate/flow-io app/api/sipgate/webhook/handlers/lib/speak-response.ts (buildTTSConfig):
    # { provider, language: assistant.voice_language || null, voice }
    action = parse_action(
        {
            "type": "speak",
            "session_id": SESSION_ID,
            "text": "Hallo",
            "tts": {"provider": "azure", "language": None, "voice": "de-DE-KatjaNeural"},
        }
    )
    assert action.to_wire()["tts"] == {"provider": "azure", "voice": "de-DE-KatjaNeural"}


def test_in_python_none_still_leaves_an_optional_field_out() -> None:
    assert SpeakAction(text="Hi", ssml=None, tts=None).to_wire() == {"type": "speak", "text": "Hi"}


def test_parse_action_returns_the_class_of_every_action_type() -> None:
    bodies: dict[str, dict[str, Any]] = {
        "speak": {"text": "x"},
        "audio": {"audio": audio(WAV).audio},
        "mix_audio": {"stop": True},
        "transfer": {"target_phone_number": "49", "caller_id_name": "a", "caller_id_number": "49"},
        "hangup": {},
        "barge_in": {},
        "configure_transcription": {"provider": "AZURE"},
        "configure_voice_to_voice": {"system_prompt": "Be brief."},
        "send_sms": {"phone_number": "4917612345678", "message": "Hi"},
    }
    assert sorted(bodies) == sorted(ACTION_TYPES)
    for kind, fields in bodies.items():
        action = parse_action({"type": kind, "session_id": SESSION_ID, **fields})
        assert type(action) is ACTION_TYPES[kind]
        assert action.to_wire()["session_id"] == SESSION_ID


def test_the_preview_and_sms_builders_produce_their_wire_form() -> None:
    assert wire(configure_voice_to_voice("Be brief.", greeting="Hi", temperature=0.7)) == {
        "type": "configure_voice_to_voice",
        "session_id": SESSION_ID,
        "system_prompt": "Be brief.",
        "greeting": "Hi",
        "temperature": 0.7,
    }
    assert wire(send_sms("+49 176 12345678", "Ihr Termin ist bestätigt.")) == {
        "type": "send_sms",
        "session_id": SESSION_ID,
        "phone_number": "4917612345678",
        "message": "Ihr Termin ist bestätigt.",
    }


def test_ssml_wrapped_in_speak_is_accepted() -> None:
    ssml = '<speak version="1.0" xml:lang="de-DE">Hallo <break time="300ms"/> Welt</speak>'
    assert speak(ssml=ssml).to_wire() == {"type": "speak", "ssml": ssml}


def test_a_voice_may_be_left_out_for_the_platform_default_as_the_n8n_node_sends_it() -> None:
    # sipgate/n8n-nodes-ai-flow nodes/AiFlowAction/AiFlowAction.node.ts: `if (voice) tts.voice`
    assert wire(speak("Hi", tts=azure(language="en-US")))["tts"] == {
        "provider": "azure",
        "language": "en-US",
    }
    assert wire(speak("Hi", tts=eleven_labs()))["tts"] == {"provider": "eleven_labs"}
    assert wire(speak("Hi", tts=azure()))["tts"] == {"provider": "azure"}
    for tts in ({"provider": "azure", "language": "en-US"}, {"provider": "eleven_labs"}):
        reply = {"type": "speak", "session_id": SESSION_ID, "text": "Hi", "tts": tts}
        assert wire(speak("Hi", tts=tts))["tts"] == tts
        assert parse_reply(json.dumps(reply))[0].to_wire() == reply


def test_the_positional_voice_and_language_of_azure_still_work() -> None:
    voice = azure("de-DE-KatjaNeural", "de-DE")
    assert (voice.voice, voice.language) == ("de-DE-KatjaNeural", "de-DE")
    assert eleven_labs("abc").voice == "abc"


def test_a_barge_in_policy_without_strategy_means_the_platform_default() -> None:
    # sipgate/n8n-nodes-ai-flow sends {"allow_after_ms": n} when only that option is set.
    action = speak("Hi", barge_in={"allow_after_ms": 500})
    assert action.barge_in == BargeInPolicy(strategy="minimum_characters", allow_after_ms=500)


def test_the_option_models_are_the_documented_wire_objects() -> None:
    assert azure("de-DE-KatjaNeural", "de-DE") == AzureTts(
        voice="de-DE-KatjaNeural", language="de-DE"
    )
    assert eleven_labs("abc").model_dump() == ElevenLabsTts(voice="abc").model_dump()
    assert eleven_labs("abc").provider == "eleven_labs"
    assert isinstance(speak("x", tts={"provider": "azure", "voice": "v"}).tts, AzureTts)


# --- invalid actions -----------------------------------------------------------------------

LONG = "x" * 201

# (builder call, the field the message must name, another text the message must contain)
INVALID: list[tuple[str, Callable[[], object], str]] = [
    (
        "provider elevenlabs without underscore",
        lambda: speak("Hi", tts={"provider": "elevenlabs", "voice": "v"}),
        "speak.tts",
    ),
    (
        "tts without provider",
        lambda: speak("Hi", tts={"voice": "v"}),
        "speak.tts",
    ),
    ("empty azure voice", lambda: azure(""), "tts.voice"),
    ("azure language with underscore", lambda: azure("v", "de_DE"), "tts.language"),
    ("empty eleven labs voice", lambda: eleven_labs(""), "tts.voice"),
    (
        "barge-in strategy interrupt",
        lambda: speak("Hi", barge_in={"strategy": "interrupt"}),
        "speak.barge_in.strategy",
    ),
    (
        "barge-in minimum characters without its strategy",
        lambda: speak("Hi", barge_in={"strategy": "manual", "minimum_characters": 3}),
        "speak.barge_in: Value error, minimum_characters is only allowed",
    ),
    (
        "a number given as a string",
        lambda: speak("Hi", user_input_timeout_seconds="7"),  # type: ignore[arg-type]
        "speak.user_input_timeout_seconds: Value error, must be a number, not a string",
    ),
    ("mix_audio stop as 1", lambda: mix_audio(stop=1), "mix_audio.stop"),  # type: ignore[arg-type]
    (
        "minimum_characters 0",
        lambda: speak("Hi", barge_in={"strategy": "minimum_characters", "minimum_characters": 0}),
        "speak.barge_in.minimum_characters",
    ),
    (
        "minimum_characters 101",
        lambda: speak("Hi", barge_in={"strategy": "minimum_characters", "minimum_characters": 101}),
        "speak.barge_in.minimum_characters",
    ),
    (
        "minimum_characters with strategy immediate",
        lambda: speak("Hi", barge_in={"strategy": "immediate", "minimum_characters": 3}),
        "speak.barge_in: Value error, minimum_characters",
    ),
    (
        "allow_after_ms 10001",
        lambda: speak("Hi", barge_in={"strategy": "none", "allow_after_ms": 10001}),
        "speak.barge_in.allow_after_ms",
    ),
    (
        "allow_after_ms -1",
        lambda: speak("Hi", barge_in={"strategy": "none", "allow_after_ms": -1}),
        "speak.barge_in.allow_after_ms",
    ),
    (
        "audio barge-in strategy interrupt",
        lambda: audio(WAV, barge_in={"strategy": "interrupt"}),
        "audio.barge_in.strategy",
    ),
    (
        "vad 149",
        lambda: speak("Hi", vad={"end_of_turn_silence_ms": 149}),
        "speak.vad.end_of_turn_silence_ms",
    ),
    (
        "vad 2001",
        lambda: speak("Hi", vad={"end_of_turn_silence_ms": 2001}),
        "speak.vad.end_of_turn_silence_ms",
    ),
    (
        "user_input_timeout_seconds 0",
        lambda: speak("Hi", user_input_timeout_seconds=0),
        "speak.user_input_timeout_seconds",
    ),
    (
        "user_input_timeout_seconds True",
        lambda: speak("Hi", user_input_timeout_seconds=True),
        "speak.user_input_timeout_seconds",
    ),
    ("empty text", lambda: speak(""), "speak.text"),
    (
        "text and ssml together",
        lambda: speak("Hi", ssml="<speak>Hi</speak>"),
        "speak: Value error, exactly one of `text` or `ssml`",
    ),
    ("neither text nor ssml", lambda: speak(), "speak: Value error, exactly one of `text`"),
    (
        "ssml not wrapped in speak",
        lambda: speak(ssml="<p>Hallo</p>"),
        "speak: Value error, `ssml` must be a document wrapped in <speak>",
    ),
    (
        "transfer timeout 4",
        lambda: transfer("4921198765411", caller_id_name="P", caller_id_number="49211", timeout=4),
        "transfer.timeout",
    ),
    (
        "transfer timeout 121",
        lambda: transfer(
            "4921198765411", caller_id_name="P", caller_id_number="49211", timeout=121
        ),
        "transfer.timeout",
    ),
    (
        "transfer number with letters",
        lambda: transfer("0800-CALL-NOW", caller_id_name="P", caller_id_number="49211"),
        "transfer.target_phone_number",
    ),
    (
        "transfer caller id number too long",
        lambda: transfer("49211", caller_id_name="P", caller_id_number="1" * 16),
        "transfer.caller_id_number",
    ),
    (
        "empty caller_id_name",
        lambda: transfer("4921198765411", caller_id_name="", caller_id_number="49211"),
        "transfer.caller_id_name",
    ),
    (
        "configure_transcription with no fields",
        lambda: configure_transcription(),
        "configure_transcription: Value error, at least one of provider, languages",
    ),
    (
        "lowercase provider",
        lambda: configure_transcription(provider="deepgram"),
        "configure_transcription.provider",
    ),
    (
        "5 languages",
        lambda: configure_transcription(languages=["de-DE", "en-US", "fr-FR", "es-ES", "it-IT"]),
        "configure_transcription.languages",
    ),
    (
        "0 languages",
        lambda: configure_transcription(languages=[]),
        "configure_transcription.languages",
    ),
    (
        "a language that is not BCP-47",
        lambda: configure_transcription(languages=["german"]),
        "configure_transcription.languages.0",
    ),
    (
        "101 vocabulary entries",
        lambda: configure_transcription(custom_vocabulary=[f"w{i}" for i in range(101)]),
        "configure_transcription.custom_vocabulary",
    ),
    (
        "a 201-char vocabulary entry",
        lambda: configure_transcription(custom_vocabulary=["ok", LONG]),
        "configure_transcription.custom_vocabulary.1",
    ),
    (
        "configure_transcription vad 2001",
        lambda: configure_transcription(vad={"end_of_turn_silence_ms": 2001}),
        "configure_transcription.vad.end_of_turn_silence_ms",
    ),
    (
        "mix_audio without audio and without stop",
        lambda: mix_audio(),
        "mix_audio: Value error, `audio` is required unless `stop`",
    ),
    ("mix_audio volume 1.5", lambda: mix_audio(WAV, volume=1.5), "mix_audio.volume"),
    ("mix_audio volume -0.1", lambda: mix_audio(WAV, volume=-0.1), "mix_audio.volume"),
    (
        "configure_voice_to_voice temperature 2.5",
        lambda: configure_voice_to_voice("Be brief.", temperature=2.5),
        "configure_voice_to_voice.temperature",
    ),
    (
        "configure_voice_to_voice empty system prompt",
        lambda: configure_voice_to_voice(""),
        "configure_voice_to_voice.system_prompt",
    ),
    ("send_sms empty message", lambda: send_sms("4917612345678", ""), "send_sms.message"),
    ("send_sms to a name", lambda: send_sms("Anna", "Hi"), "send_sms.phone_number"),
    (
        "unknown keyword on speak",
        lambda: parse_action({"type": "speak", "session_id": SESSION_ID, "text": "x", "voise": 1}),
        "speak.voise: Extra inputs are not permitted",
    ),
    (
        "unknown keyword on the azure voice",
        lambda: speak("Hi", tts={"provider": "azure", "voice": "v", "pitch": "high"}),
        "speak.tts.pitch: Extra inputs are not permitted",
    ),
    (
        "unknown keyword on the barge-in policy",
        lambda: speak("Hi", barge_in={"strategy": "none", "after_ms": 5}),
        "speak.barge_in.after_ms: Extra inputs are not permitted",
    ),
    (
        "unknown keyword on a hangup",
        lambda: parse_action({"type": "hangup", "session_id": SESSION_ID, "reason": "done"}),
        "hangup.reason: Extra inputs are not permitted",
    ),
    ("unknown action type", lambda: parse_action({"type": "dance"}), "dance: Input tag 'dance'"),
    ("action without type", lambda: parse_action({"text": "Hi"}), "action: Unable to extract"),
    (
        "empty session_id",
        lambda: parse_action({"type": "hangup", "session_id": ""}),
        "hangup.session_id",
    ),
]


@pytest.mark.parametrize(
    ("build", "named"), [(b, n) for _, b, n in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_an_invalid_action_raises_invalid_action_error_naming_the_field(
    build: Callable[[], object], named: str
) -> None:
    with pytest.raises(InvalidActionError) as info:
        build()
    assert info.value.message.startswith(named), info.value.message
    assert info.value.code == "invalid_action"
    assert info.value.details, "the error lists every problem for the JSON error body"


def test_the_invalid_table_is_long_enough() -> None:
    assert len(INVALID) >= 25


def test_the_limits_themselves_are_valid() -> None:
    for chars in (1, 100):
        speak("x", barge_in={"strategy": "minimum_characters", "minimum_characters": chars})
    for ms in (0, 10000):
        speak("x", barge_in={"strategy": "manual", "allow_after_ms": ms})
    for silence in (150, 2000):
        speak("x", vad={"end_of_turn_silence_ms": silence})
    for timeout in (5, 120):
        transfer("49211", caller_id_name="P", caller_id_number="49211", timeout=timeout)
    configure_transcription(languages=["de-DE", "en-US", "fr-FR", "es"])
    configure_transcription(custom_vocabulary=["y" * 200] * 100)
    for volume in (0.0, 1.0):
        mix_audio(WAV, volume=volume)
    for temperature in (0, 2):
        configure_voice_to_voice("x", temperature=temperature)


def test_an_invalid_action_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        speak()


def test_audio_that_is_not_wav_raises_invalid_audio_error_which_is_an_invalid_action_error() -> (
    None
):
    with pytest.raises(InvalidActionError) as info:
        audio(b"ID3\x03 this is an mp3")
    assert isinstance(info.value, InvalidAudioError)
    assert info.value.code == "invalid_audio"
    assert "16 kHz mono 16-bit PCM WAV" in info.value.message


def test_an_audio_action_from_the_wire_with_a_wrong_format_names_the_audio_field() -> None:
    good = audio(WAV).audio
    assert isinstance(parse_action({"type": "audio", "audio": good}), AudioAction)
    stereo = base64.b64encode(make_wav(b"\x00" * 64, channels=2)).decode()
    with pytest.raises(InvalidActionError) as info:
        parse_action({"type": "audio", "audio": stereo})
    assert info.value.message.startswith("audio.audio:")
    assert "16 kHz stereo 16-bit PCM" in info.value.message
    with pytest.raises(InvalidActionError) as info:
        parse_action({"type": "mix_audio", "audio": "!!not base64!!"})
    assert info.value.message.startswith("mix_audio.audio:")
    assert "invalid base64" in info.value.message


def test_the_models_have_wire_type_defaults() -> None:
    assert SpeakAction(text="x").type == "speak"
    assert HangupAction().to_wire() == {"type": "hangup"}
    assert isinstance(mix_audio(stop=True), MixAudioAction)
    assert isinstance(transfer("49", caller_id_name="a", caller_id_number="49"), TransferAction)
