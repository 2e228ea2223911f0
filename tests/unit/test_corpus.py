"""One corpus of events and replies, read by the models and by the committed JSON Schema.

Every case runs through the framework's reader (``parse_event`` for events, ``parse_reply``
for replies) and through ``jsonschema`` with the committed files; the test fails when the
two disagree, or when either disagrees with the verdict written next to the case. Where a
case is what a real integration builds, the comment names the repository and file:

* sipgate's n8n nodes: ``sipgate/n8n-nodes-ai-flow`` (``nodes/AiFlowAction/AiFlowAction.node.ts``,
  its test ``nodes/AiFlowAction/test/AiFlowAction.node.test.ts`` and the trigger's test
  ``nodes/AiFlowTrigger/test/AiFlowTrigger.node.test.ts``);
* sipgate's voice-agent platform: ``sipgate/flow-io`` (``app/api/sipgate/webhook/...``).

JSON Schema cannot look inside a base64 string, so the sample format of a WAV file is a rule
of the models alone; :data:`MODEL_ONLY` lists those cases and checks that they stay the only
difference.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from aiflow.errors import EventParseError, InvalidActionError
from aiflow.protocol import audio, make_wav, parse_event, parse_reply
from aiflow.protocol import jsonschema as generator

from .test_actions import EXAMPLE_REPLY_LINES
from .test_events import EXAMPLE_EVENT_LINES

SCHEMA_DIR = Path(generator.__file__).parent / "schema"
EVENTS = Draft202012Validator(
    json.loads((SCHEMA_DIR / "events.schema.json").read_text(encoding="utf-8"))
)
REPLIES = Draft202012Validator(
    json.loads((SCHEMA_DIR / "actions.schema.json").read_text(encoding="utf-8"))
)

SID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
SESSION = {"id": SID}
# The session object as sipgate/flow-io types it (app/api/sipgate/webhook/handlers/lib/types.ts).
FULL_SESSION = {
    "id": SID,
    "account_id": "acc-7731",
    "phone_number": "4921198765400",
    "direction": "inbound",
    "from_phone_number": "4917612345678",
    "to_phone_number": "4921198765400",
}
WAV = audio(make_wav(b"\x00\x00" * 16)).audio


@dataclass(frozen=True)
class Case:
    name: str
    value: Any
    valid: bool


def ok(name: str, value: Any) -> Case:
    return Case(name, value, True)


def bad(name: str, value: Any) -> Case:
    return Case(name, value, False)


def event(kind: str, session: Any = SESSION, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "session": session, **fields}


def act(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "session_id": SID, **fields}


def speak(**fields: Any) -> dict[str, Any]:
    return act("speak", **({"text": "Hallo"} | fields))


def transfer(**fields: Any) -> dict[str, Any]:
    base = {"target_phone_number": "4921198765411", "caller_id_name": "P", "caller_id_number": "49"}
    return act("transfer", **(base | fields))


# --- events --------------------------------------------------------------------------------

EVENT_CASES: list[Case] = [
    *(
        ok(f"spec example {json.loads(line)['type']}", json.loads(line))
        for line in EXAMPLE_EVENT_LINES
    ),
    # sipgate/n8n-nodes-ai-flow nodes/AiFlowTrigger/test/AiFlowTrigger.node.test.ts
    ok("n8n trigger: session_start with only an id", event("session_start", {"id": "123"})),
    ok("n8n trigger: user_speak with transcript", event("user_speak", transcript="hello")),
    ok("n8n trigger: assistant_speak without fields", event("assistant_speak")),
    ok("n8n trigger: assistant_speech_ended", event("assistant_speech_ended", {"id": "123"})),
    ok("n8n trigger: user_input_timeout", event("user_input_timeout", {"id": "123"})),
    ok("n8n trigger: session_end", event("session_end", {"id": "123"})),
    ok("n8n trigger: unknown_event", event("unknown_event", {"id": "123"})),
    ok("n8n trigger: barged_in true", event("user_speak", text="Stop", barged_in=True)),
    ok(
        "n8n trigger: session with caller_id",
        event("user_speak", {"id": "123", "caller_id": "+1234567890"}, text="x", barged_in=False),
    ),
    bad("n8n trigger: no type", {"session": {"id": "123"}}),
    # sipgate/flow-io app/api/sipgate/webhook/handlers/lib/types.ts
    ok("flow-io: session_start", event("session_start", FULL_SESSION)),
    ok(
        "flow-io: user_speak with timestamp",
        event("user_speak", FULL_SESSION, text="Hallo", timestamp="2026-01-02T10:00:00Z"),
    ),
    ok(
        "flow-io: session_end with reason and timestamp",
        event("session_end", FULL_SESSION, reason="hangup", timestamp="2026-01-02T10:05:00Z"),
    ),
    ok("flow-io: dtmf_received", event("dtmf_received", FULL_SESSION, digit="5")),
    ok("flow-io: user_barge_in without text", event("user_barge_in", FULL_SESSION)),
    # what the framework reads
    ok("digit as a number", event("dtmf_received", digit=7)),
    ok("digit as a whole float", event("dtmf_received", digit=7.0)),
    ok("digit *", event("dtmf_received", digit="*")),
    ok("user_speech_started with an extra", event("user_speech_started", extra=[1, {"a": None}])),
    ok("sms_failed with extras", event("sms_failed", reason="unreachable", code=4)),
    ok("fractional duration", event("assistant_speak", duration_ms=12.5)),
    ok("null text in assistant_speak", event("assistant_speak", text=None, ssml="<speak/>")),
    ok("null reason", event("session_end", reason=None)),
    ok("outbound direction", event("session_start", {"id": SID, "direction": "outbound"})),
    ok("null account_id", event("session_start", {"id": SID, "account_id": None})),
    ok("session id of 256 characters", event("session_start", {"id": "a" * 256})),
    ok("unknown type with dots", event("call.recording_ready", url="https://x")),
    ok("unknown type of 128 characters", event("x" * 128)),
    ok("empty transcript", event("user_speak", text="")),
    ok("text wins over a bad transcript", event("user_speak", text="x", transcript=5)),
    ok("whole-number speech_started_at as float", event("assistant_speak", speech_started_at=1e12)),
    ok("huge speech_started_at", event("assistant_speak", speech_started_at=10**30)),
    ok("zero duration", event("assistant_speak", duration_ms=0)),
    ok("non-ASCII text", event("user_speak", text="Grüße, 😀")),
    bad("no session id", event("user_speak", {"account_id": "a"}, text="x")),
    bad("empty session id", event("user_speak", {"id": ""}, text="x")),
    bad("session id of 257 characters", event("session_start", {"id": "a" * 257})),
    bad("newline in the session id", event("session_start", {"id": "abc\n"})),
    bad("tab in the session id", event("session_start", {"id": "a\tb"})),
    bad("C1 control in the session id", event("session_start", {"id": "a\x85b"})),
    bad("session id a number", event("session_start", {"id": 12345})),
    bad("session not an object", event("session_start", "abc")),
    bad("session an array", event("session_start", [SID])),
    bad("no session", {"type": "session_start"}),
    bad("empty type", event("")),
    bad("type a number", event(7)),  # type: ignore[arg-type]
    bad("type with a control character", event("session_start\n")),
    bad("type of 129 characters", event("x" * 129)),
    bad("user_speak without text", event("user_speak")),
    bad("text a number", event("user_speak", text=4917612345678)),
    bad("transcript a number", event("user_speak", transcript=5)),
    bad("null text", event("user_speak", text=None)),
    bad("barged_in as a string", event("user_speak", text="x", barged_in="true")),
    bad("barged_in as 1", event("user_speak", text="x", barged_in=1)),
    bad("barged_in null", event("user_speak", text="x", barged_in=None)),
    bad("digit A", event("dtmf_received", digit="A")),
    bad("digit 12", event("dtmf_received", digit="12")),
    bad("digit 10", event("dtmf_received", digit=10)),
    bad("digit -1", event("dtmf_received", digit=-1)),
    bad("digit 7.5", event("dtmf_received", digit=7.5)),
    bad("digit true", event("dtmf_received", digit=True)),
    bad("digit null", event("dtmf_received", digit=None)),
    bad("no digit", event("dtmf_received")),
    bad("direction sideways", event("session_start", {"id": SID, "direction": "sideways"})),
    bad("negative duration", event("assistant_speak", duration_ms=-1)),
    bad("duration as a string", event("assistant_speak", duration_ms="12")),
    bad("duration true", event("assistant_speak", duration_ms=True)),
    bad("fractional speech_started_at", event("assistant_speak", speech_started_at=1.5)),
    bad("speech_started_at as a string", event("assistant_speak", speech_started_at="1767")),
    bad("phone_number a number", event("session_start", {"id": SID, "phone_number": 4921})),
    bad("an array", [event("session_start")]),
    bad("a string", "session_start"),
    bad("null", None),
    bad("a number", 42),
    bad("an empty object", {}),
]

# --- replies -------------------------------------------------------------------------------

N8N_BARGE_IN = {"strategy": "minimum_characters", "minimum_characters": 5, "allow_after_ms": 1000}

REPLY_CASES: list[Case] = [
    *(ok(f"spec example {i}", json.loads(line)) for i, line in enumerate(EXAMPLE_REPLY_LINES)),
    # sipgate/n8n-nodes-ai-flow nodes/AiFlowAction/test/AiFlowAction.node.test.ts
    ok("n8n: speak text", act("speak", text="Hello World")),
    ok("n8n: speak ssml", act("speak", ssml="<speak>Hello World</speak>")),
    ok("n8n: azure voice", speak(tts={"provider": "azure", "language": "de-DE", "voice": "v"})),
    ok("n8n: eleven labs voice", speak(tts={"provider": "eleven_labs", "voice": "21m00Tcm"})),
    ok("n8n: barge-in options", speak(barge_in=N8N_BARGE_IN)),
    ok(
        "n8n: audio with manual barge-in",
        act("audio", audio=WAV, barge_in={"strategy": "manual", "allow_after_ms": 500}),
    ),
    ok(
        "n8n: transfer with + numbers",
        transfer(
            target_phone_number="+491234567890",
            caller_id_name="Support Team",
            caller_id_number="+490987654321",
        ),
    ),
    ok("n8n: hangup", act("hangup")),
    ok("n8n: barge_in", act("barge_in")),
    bad("n8n: audio placeholder that is not base64", act("audio", audio="UklGRiQAAABXQVZF...")),
    # sipgate/n8n-nodes-ai-flow nodes/AiFlowAction/AiFlowAction.node.ts: what the node builds
    # when the user leaves the voice empty (`if (voice) tts.voice = voice`), sets only "Allow
    # After (Ms)" (no strategy), or types the number as people write it.
    ok("n8n: azure without voice", speak(tts={"provider": "azure", "language": "en-US"})),
    ok("n8n: eleven labs without voice", speak(tts={"provider": "eleven_labs"})),
    ok("n8n: azure with neither", speak(tts={"provider": "azure"})),
    ok("n8n: barge-in without strategy", speak(barge_in={"allow_after_ms": 0})),
    ok("n8n: user input timeout", speak(user_input_timeout_seconds=8)),
    ok("n8n: fractional user input timeout", speak(user_input_timeout_seconds=2.5)),
    ok("n8n: transfer number with spaces", transfer(target_phone_number="+49 211 1234567")),
    ok("n8n: transfer number with dashes and brackets", transfer(caller_id_number="(0211) 123-45")),
    bad(
        "n8n: minimum characters 0",
        speak(barge_in={"strategy": "minimum_characters", "minimum_characters": 0}),
    ),
    bad(
        "n8n: allow after fractional ms",
        speak(barge_in={"strategy": "none", "allow_after_ms": 2.5}),
    ),
    # sipgate/flow-io app/api/sipgate/webhook/handlers/lib/speak-response.ts (buildTTSConfig,
    # buildSpeakResponse) and the handlers next to it
    ok(
        "flow-io: azure with null language",
        speak(tts={"provider": "azure", "language": None, "voice": "de-DE-KatjaNeural"}),
    ),
    ok(
        "flow-io: default eleven labs voice",
        speak(tts={"provider": "eleven_labs", "voice": "pJsNpJRIjvv0gEQf9pTf"}),
    ),
    ok(
        "flow-io: ssml with azure",
        act(
            "speak",
            ssml="<speak>Ihre Nummer: <say-as interpret-as='digits'>123</say-as></speak>",
            tts={"provider": "azure", "language": "de-DE", "voice": "de-DE-KatjaNeural"},
        ),
    ),
    ok(
        "flow-io: minimum characters policy",
        speak(
            barge_in={
                "strategy": "minimum_characters",
                "minimum_characters": 3,
                "allow_after_ms": 0,
            }
        ),
    ),
    ok("flow-io: immediate policy", speak(barge_in={"strategy": "immediate", "allow_after_ms": 0})),
    ok("flow-io: none policy", speak(barge_in={"strategy": "none"})),
    ok("flow-io: wait_for_turn answers []", []),  # handlers/user-speak.ts
    ok(
        "flow-io: barge_in then speak",
        [
            act("barge_in"),
            speak(tts={"provider": "eleven_labs", "voice": "v"}, user_input_timeout_seconds=5),
        ],
    ),  # handlers/dtmf-received.ts
    ok(
        "flow-io: hangup click audio", act("audio", audio=WAV, barge_in={"strategy": "none"})
    ),  # handlers/assistant-speech-ended.ts
    ok(
        "flow-io: deferred transfer",
        transfer(
            target_phone_number="+4921112345",
            caller_id_name="Agent",
            caller_id_number="+4921198765400",
        ),
    ),
    ok("flow-io: deferred hangup", act("hangup")),
    bad("flow-io: {success: true} for session_end", {"success": True}),  # handlers/session-end.ts
    bad(
        "flow-io: eleven labs with language",
        speak(tts={"provider": "eleven_labs", "voice": "v", "language": "de-DE"}),
    ),  # handlers/dtmf-received.ts, provider unset
    bad(
        "flow-io: azure with null voice",
        speak(tts={"provider": "azure", "language": "de-DE", "voice": None}),
    ),
    # the rest of the protocol
    ok("speak ssml with spaces", act("speak", ssml="  <speak>Hi</speak>\n")),
    ok("speak vad", speak(vad={"end_of_turn_silence_ms": 150})),
    ok("speak vad 2000", speak(vad={"end_of_turn_silence_ms": 2000})),
    ok("azure without language", speak(tts={"provider": "azure", "voice": "v"})),
    ok(
        "minimum characters 100",
        speak(barge_in={"strategy": "minimum_characters", "minimum_characters": 100}),
    ),
    ok("minimum characters without strategy", speak(barge_in={"minimum_characters": 4})),
    ok("empty barge-in policy", speak(barge_in={})),
    ok("whole float allow_after_ms", speak(barge_in={"strategy": "none", "allow_after_ms": 300.0})),
    ok("mix audio", act("mix_audio", audio=WAV, volume=0.5)),
    ok("mix audio stop", act("mix_audio", stop=True)),
    ok("mix audio with stop false", act("mix_audio", audio=WAV, stop=False)),
    ok("transfer timeout 5", transfer(timeout=5)),
    ok("transfer timeout 120", transfer(timeout=120)),
    ok("transfer 00 prefix", transfer(target_phone_number="0049 211 1234")),
    ok("transfer national number", transfer(target_phone_number="0211 1234567")),
    ok("transcription provider", act("configure_transcription", provider="DEEPGRAM")),
    ok(
        "transcription vad only",
        act("configure_transcription", vad={"end_of_turn_silence_ms": 500}),
    ),
    ok(
        "transcription 4 languages",
        act("configure_transcription", languages=["de", "en", "fr", "it"]),
    ),
    ok(
        "transcription 100 words of 200",
        act("configure_transcription", custom_vocabulary=["w" * 200] * 100),
    ),
    ok(
        "voice to voice",
        act(
            "configure_voice_to_voice",
            system_prompt="Be brief.",
            greeting="Hi",
            temperature=2,
            language="de",
        ),
    ),
    ok("sms", act("send_sms", phone_number="4917612345678", message="Hi")),
    ok("three actions", [act("barge_in"), speak(), act("hangup")]),
    bad("no session_id", {"type": "hangup"}),
    bad("no session_id in the second action", [act("barge_in"), {"type": "hangup"}]),
    bad("null session_id", act("hangup", session_id=None)),
    bad("empty session_id", act("hangup", session_id="")),
    bad("speak ssml not wrapped", act("speak", ssml="<p>Hi</p>")),
    bad("speak text and ssml", speak(ssml="<speak>Hi</speak>")),
    bad("speak neither", act("speak")),
    bad("speak empty text", speak(text="")),
    bad("speak null text", act("speak", text=None, ssml="<speak>Hi</speak>")),
    bad("speak null tts", speak(tts=None)),
    bad("speak extra field", speak(voice="x")),
    bad("timeout 0", speak(user_input_timeout_seconds=0)),
    bad("timeout -1", speak(user_input_timeout_seconds=-1)),
    bad("timeout true", speak(user_input_timeout_seconds=True)),
    bad("timeout as a string", speak(user_input_timeout_seconds="7")),
    bad("vad 149", speak(vad={"end_of_turn_silence_ms": 149})),
    bad("vad 2001", speak(vad={"end_of_turn_silence_ms": 2001})),
    bad("vad empty", speak(vad={})),
    bad("tts without provider", speak(tts={"voice": "v"})),
    bad(
        "provider elevenlabs without underscore",
        speak(tts={"provider": "elevenlabs", "voice": "v"}),
    ),
    bad("empty voice", speak(tts={"provider": "azure", "voice": ""})),
    bad("language with underscore", speak(tts={"provider": "azure", "language": "de_DE"})),
    bad(
        "language with a trailing newline", speak(tts={"provider": "azure", "language": "de-DE\n"})
    ),
    bad("strategy interrupt", speak(barge_in={"strategy": "interrupt"})),
    bad(
        "minimum characters with immediate",
        speak(barge_in={"strategy": "immediate", "minimum_characters": 3}),
    ),
    bad(
        "minimum characters 101",
        speak(barge_in={"strategy": "minimum_characters", "minimum_characters": 101}),
    ),
    bad("minimum characters as a string", speak(barge_in={"minimum_characters": "3"})),
    bad("allow after 10001", speak(barge_in={"strategy": "none", "allow_after_ms": 10001})),
    bad("audio missing", act("audio")),
    bad("audio with extra padding", act("audio", audio="QUJD====")),
    bad(
        "audio base64 of not a WAV",
        act("audio", audio=base64.b64encode(b"ID3\x03 an mp3 file").decode()),
    ),
    bad("audio with a trailing newline", act("audio", audio=WAV + "\n")),
    bad("audio with a line break inside", act("audio", audio=WAV[:8] + "\n" + WAV[8:])),
    bad("mix audio nothing", act("mix_audio")),
    bad("mix audio stop false", act("mix_audio", stop=False)),
    bad("mix audio stop 1", act("mix_audio", stop=1)),
    bad("mix audio stop as a string", act("mix_audio", stop="true")),
    bad("mix audio volume 1.5", act("mix_audio", audio=WAV, volume=1.5)),
    bad("transfer timeout 4", transfer(timeout=4)),
    bad("transfer timeout as a string", transfer(timeout="25")),
    bad("transfer letters", transfer(target_phone_number="0800CALL")),
    bad("transfer 16 digits", transfer(target_phone_number="1234567890123456")),
    bad("transfer 00 and one digit", transfer(target_phone_number="001")),
    bad("transfer Arabic-Indic digits", transfer(target_phone_number="٤٩٢١١")),
    bad("transfer empty name", transfer(caller_id_name="")),
    bad("transfer missing fields", act("transfer", target_phone_number="49211")),
    bad("hangup extra", act("hangup", reason="bye")),
    bad("transcription nothing", act("configure_transcription")),
    bad("transcription lowercase provider", act("configure_transcription", provider="deepgram")),
    bad("transcription 5 languages", act("configure_transcription", languages=["de"] * 5)),
    bad("transcription 0 languages", act("configure_transcription", languages=[])),
    bad("transcription null language", act("configure_transcription", languages=[None])),
    bad("transcription 101 words", act("configure_transcription", custom_vocabulary=["w"] * 101)),
    bad("transcription long word", act("configure_transcription", custom_vocabulary=["w" * 201])),
    bad("voice to voice 2.5", act("configure_voice_to_voice", system_prompt="x", temperature=2.5)),
    bad("voice to voice empty prompt", act("configure_voice_to_voice", system_prompt="")),
    bad("sms empty message", act("send_sms", phone_number="4917612345678", message="")),
    bad("sms to a name", act("send_sms", phone_number="Anna", message="Hi")),
    bad("unknown type", act("dance")),
    bad("no type", {"session_id": SID, "text": "Hi"}),
    bad("type a number", act(7)),  # type: ignore[arg-type]
    bad("an empty object", {}),
    bad("an array holding an invalid action", [act("hangup"), act("dance")]),
    bad("nested arrays", [[act("hangup")]]),
    bad("null", None),
    bad("a string", "hangup"),
    bad("a number", 42),
    bad("an array of null", [None]),
]

# Rules JSON Schema cannot express: the sample format inside a base64 WAV file.
MODEL_ONLY: list[Case] = [
    bad(
        "stereo WAV",
        act("audio", audio=base64.b64encode(make_wav(b"\0" * 64, channels=2)).decode()),
    ),
    bad(
        "8 kHz WAV",
        act("audio", audio=base64.b64encode(make_wav(b"\0" * 64, sample_rate=8000)).decode()),
    ),
    bad(
        "8-bit WAV", act("mix_audio", audio=base64.b64encode(make_wav(b"\0" * 64, bits=8)).decode())
    ),
    bad(
        "RIFF/WAVE without chunks",
        act("audio", audio=base64.b64encode(b"RIFF\x04\0\0\0WAVE").decode()),
    ),
]


# --- the readers ---------------------------------------------------------------------------


def model_reads_event(value: Any) -> bool:
    try:
        parse_event(json.dumps(value, ensure_ascii=False))
    except EventParseError:
        return False
    return True


def model_reads_reply(value: Any) -> bool:
    try:
        parse_reply(json.dumps(value, ensure_ascii=False))
    except InvalidActionError:
        return False
    return True


def schema_accepts(validator: Draft202012Validator, value: Any) -> bool:
    return validator.is_valid(value)


@pytest.mark.parametrize("case", EVENT_CASES, ids=[c.name for c in EVENT_CASES])
def test_the_models_and_the_schema_agree_on_every_event(case: Case) -> None:
    verdicts = {"parse_event": model_reads_event(case.value), "schema": EVENTS.is_valid(case.value)}
    assert verdicts == {"parse_event": case.valid, "schema": case.valid}


@pytest.mark.parametrize("case", REPLY_CASES, ids=[c.name for c in REPLY_CASES])
def test_the_models_and_the_schema_agree_on_every_reply(case: Case) -> None:
    verdicts = {
        "parse_reply": model_reads_reply(case.value),
        "schema": REPLIES.is_valid(case.value),
    }
    assert verdicts == {"parse_reply": case.valid, "schema": case.valid}


@pytest.mark.parametrize("case", MODEL_ONLY, ids=[c.name for c in MODEL_ONLY])
def test_only_the_sample_format_inside_a_wav_is_checked_by_the_models_alone(case: Case) -> None:
    assert REPLIES.is_valid(case.value)
    assert not model_reads_reply(case.value)


def test_the_corpus_is_large_and_has_both_verdicts_and_real_integrations() -> None:
    cases = EVENT_CASES + REPLY_CASES
    assert len(cases) >= 100
    assert {c.valid for c in EVENT_CASES} == {c.valid for c in REPLY_CASES} == {True, False}
    sources = [c.name for c in cases if c.name.startswith(("n8n", "flow-io"))]
    assert len(sources) >= 30
    for corpus in (EVENT_CASES, REPLY_CASES):
        assert len({c.name for c in corpus}) == len(corpus), "case names are unique"
