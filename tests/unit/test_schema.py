"""The committed JSON Schema: up to date, accepts the spec examples, rejects what models do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from aiflow.errors import InvalidActionError
from aiflow.protocol import audio, make_wav, parse_action
from aiflow.protocol import jsonschema as generator

from .test_actions import EXAMPLE_REPLY_LINES
from .test_events import EXAMPLE_EVENT_LINES

SESSION_ID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
COMMITTED = Path(generator.__file__).parent / "schema"


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((COMMITTED / name).read_text(encoding="utf-8"))
    return schema


EVENTS = Draft202012Validator(load("events.schema.json"))
ACTIONS = Draft202012Validator(load("actions.schema.json"))


def errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(instance)]


def action(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "session_id": SESSION_ID, **fields}


# --- the files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["events.schema.json", "actions.schema.json"])
def test_the_committed_schema_equals_a_freshly_generated_one(name: str) -> None:
    fresh = generator.generated_files()[name]
    committed = (COMMITTED / name).read_text(encoding="utf-8")
    assert committed == fresh, "the schema is stale: run `make schema` and commit the result"


@pytest.mark.parametrize("name", ["events.schema.json", "actions.schema.json"])
def test_the_committed_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_output_is_deterministic_sorted_indented_and_ends_with_a_newline() -> None:
    text = generator.render({"b": 1, "a": {"d": [1], "c": "é"}})
    assert text == '{\n  "a": {\n    "c": "é",\n    "d": [\n      1\n    ]\n  },\n  "b": 1\n}\n'
    assert generator.generated_files() == generator.generated_files()


def test_the_schema_has_no_openapi_only_or_leaked_pydantic_keywords() -> None:
    for name in ("events.schema.json", "actions.schema.json"):
        text = (COMMITTED / name).read_text(encoding="utf-8")
        for keyword in ('"discriminator"', '"ge"', '"le"', '"gt"', '"lt"'):
            assert keyword not in text, f"{keyword} in {name}"


def test_check_fails_with_a_message_when_a_file_is_missing_or_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generator.main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "events.schema.json is stale" in err and "make schema" in err

    assert generator.main(["--write", "--dir", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert generator.main(["--check", "--dir", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out

    stale = tmp_path / "actions.schema.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("speak", "talk"), encoding="utf-8")
    assert generator.main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "actions.schema.json is stale" in err
    assert "events.schema.json" not in err


def test_the_command_line_needs_write_or_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        generator.main([])
    assert info.value.code == 2
    assert "--write" in capsys.readouterr().err


# --- events --------------------------------------------------------------------------------


@pytest.mark.parametrize("line", EXAMPLE_EVENT_LINES)
def test_every_example_event_of_the_spec_is_valid(line: str) -> None:
    assert errors(EVENTS, json.loads(line)) == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "user_speak", "transcript": "Hallo", "session": {"id": SESSION_ID}},
        {"type": "user_barge_in", "session": {"id": SESSION_ID}},
        {"type": "user_speech_started", "session": {"id": SESSION_ID}, "extra": [1]},
        {"type": "recording_ready", "session": {"id": SESSION_ID}, "url": "x"},
        {"type": "assistant_speak", "duration_ms": 12.5, "session": {"id": SESSION_ID}},
    ],
    ids=["transcript", "barge-in", "extra field", "unknown type", "fractional duration"],
)
def test_events_the_framework_accepts_are_valid(event: dict[str, Any]) -> None:
    assert errors(EVENTS, event) == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "user_speak", "session": {"account_id": "a"}, "text": "x"},
        {"type": "user_speak", "session": {"id": ""}, "text": "x"},
        {"session": {"id": SESSION_ID}},
        {"type": "", "session": {"id": SESSION_ID}},
        {"type": "user_speak", "session": {"id": SESSION_ID}},
        {"type": "dtmf_received", "digit": "A", "session": {"id": SESSION_ID}},
        {"type": "session_start", "session": {"id": SESSION_ID, "direction": "sideways"}},
        {"type": "assistant_speak", "duration_ms": -1, "session": {"id": SESSION_ID}},
        [],
    ],
    ids=[
        "no session id",
        "empty session id",
        "no type",
        "empty type",
        "user_speak without text",
        "digit A",
        "wrong direction",
        "negative duration",
        "array",
    ],
)
def test_events_the_framework_rejects_are_invalid(event: Any) -> None:
    assert errors(EVENTS, event) != []


# --- replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("line", EXAMPLE_REPLY_LINES)
def test_every_example_reply_of_the_spec_is_valid(line: str) -> None:
    assert errors(ACTIONS, json.loads(line)) == []


def test_the_provider_elevenlabs_without_underscore_is_rejected_by_the_schema() -> None:
    reply = action("speak", text="Hi", tts={"provider": "elevenlabs", "voice": "v"})
    assert errors(ACTIONS, reply) != []
    reply["tts"]["provider"] = "eleven_labs"
    assert errors(ACTIONS, reply) == []


def test_the_barge_in_strategy_interrupt_is_rejected_by_the_schema() -> None:
    reply = action("speak", text="Hi", barge_in={"strategy": "interrupt"})
    assert errors(ACTIONS, reply) != []
    reply["barge_in"]["strategy"] = "immediate"
    assert errors(ACTIONS, reply) == []


@pytest.mark.parametrize("line", EXAMPLE_REPLY_LINES)
def test_an_action_without_session_id_is_rejected_by_the_schema(line: str) -> None:
    reply = json.loads(line)
    for item in reply if isinstance(reply, list) else [reply]:
        del item["session_id"]
    assert errors(ACTIONS, reply) != []


def test_null_is_rejected_by_the_schema_because_absent_fields_are_omitted_on_the_wire() -> None:
    # parse_action reads null as absent (lenient reader); the schema documents the wire.
    assert errors(ACTIONS, action("speak", text="Hi", tts=None)) != []
    assert errors(ACTIONS, action("speak", text="Hi")) == []


def test_an_empty_array_is_not_a_reply() -> None:
    assert errors(ACTIONS, []) != []


WAV_B64 = audio(make_wav(b"\x00\x00" * 16)).audio

# Wire dicts (all with session_id) on which the schema and the models must agree.
PARITY: list[tuple[str, dict[str, Any]]] = [
    ("speak text", action("speak", text="Hi")),
    ("speak ssml", action("speak", ssml="<speak>Hi</speak>")),
    ("speak ssml with spaces", action("speak", ssml="  <speak>Hi</speak>\n")),
    ("speak ssml not wrapped", action("speak", ssml="<p>Hi</p>")),
    ("speak text and ssml", action("speak", text="Hi", ssml="<speak>Hi</speak>")),
    ("speak neither", action("speak")),
    ("speak empty text", action("speak", text="")),
    ("speak extra field", action("speak", text="Hi", voice="x")),
    ("speak timeout 0", action("speak", text="Hi", user_input_timeout_seconds=0)),
    ("speak timeout 0.5", action("speak", text="Hi", user_input_timeout_seconds=0.5)),
    ("speak timeout true", action("speak", text="Hi", user_input_timeout_seconds=True)),
    ("speak vad 149", action("speak", text="Hi", vad={"end_of_turn_silence_ms": 149})),
    ("speak vad 2000", action("speak", text="Hi", vad={"end_of_turn_silence_ms": 2000})),
    ("azure without language", action("speak", text="x", tts={"provider": "azure", "voice": "v"})),
    ("tts without provider", action("speak", text="x", tts={"voice": "v"})),
    (
        "eleven labs with language",
        action("speak", text="x", tts={"provider": "eleven_labs", "voice": "v", "language": "de"}),
    ),
    (
        "minimum characters with its strategy",
        action(
            "speak",
            text="x",
            barge_in={"strategy": "minimum_characters", "minimum_characters": 100},
        ),
    ),
    (
        "minimum characters with immediate",
        action("speak", text="x", barge_in={"strategy": "immediate", "minimum_characters": 3}),
    ),
    (
        "minimum characters 0",
        action(
            "speak", text="x", barge_in={"strategy": "minimum_characters", "minimum_characters": 0}
        ),
    ),
    (
        "allow after 10001",
        action("speak", text="x", barge_in={"strategy": "none", "allow_after_ms": 10001}),
    ),
    ("audio", action("audio", audio=WAV_B64, barge_in={"strategy": "manual"})),
    ("audio missing", action("audio")),
    ("mix audio", action("mix_audio", audio=WAV_B64, volume=0.5)),
    ("mix audio stop", action("mix_audio", stop=True)),
    ("mix audio stop false", action("mix_audio", stop=False)),
    ("mix audio nothing", action("mix_audio")),
    ("mix audio volume 1.5", action("mix_audio", audio=WAV_B64, volume=1.5)),
    (
        "transfer",
        action(
            "transfer", target_phone_number="49211", caller_id_name="P", caller_id_number="49211"
        ),
    ),
    (
        "transfer timeout 4",
        action(
            "transfer",
            target_phone_number="49211",
            caller_id_name="P",
            caller_id_number="49211",
            timeout=4,
        ),
    ),
    (
        "transfer letters",
        action(
            "transfer",
            target_phone_number="0800CALL",
            caller_id_name="P",
            caller_id_number="49211",
        ),
    ),
    (
        "transfer empty name",
        action(
            "transfer", target_phone_number="49211", caller_id_name="", caller_id_number="49211"
        ),
    ),
    ("transfer missing fields", action("transfer", target_phone_number="49211")),
    ("hangup", action("hangup")),
    ("hangup extra", action("hangup", reason="bye")),
    ("barge_in", action("barge_in")),
    ("transcription nothing", action("configure_transcription")),
    ("transcription lowercase", action("configure_transcription", provider="deepgram")),
    (
        "transcription vad only",
        action("configure_transcription", vad={"end_of_turn_silence_ms": 500}),
    ),
    (
        "transcription 4 languages",
        action("configure_transcription", languages=["de", "en", "fr", "it"]),
    ),
    ("transcription 5 languages", action("configure_transcription", languages=["de"] * 5)),
    ("transcription 0 languages", action("configure_transcription", languages=[])),
    ("transcription 101 words", action("configure_transcription", custom_vocabulary=["w"] * 101)),
    ("transcription long word", action("configure_transcription", custom_vocabulary=["w" * 201])),
    ("voice to voice", action("configure_voice_to_voice", system_prompt="Be brief.")),
    ("voice to voice 2.5", action("configure_voice_to_voice", system_prompt="x", temperature=2.5)),
    ("sms", action("send_sms", phone_number="4917612345678", message="Hi")),
    ("sms empty", action("send_sms", phone_number="4917612345678", message="")),
    ("unknown type", action("dance")),
    ("empty session id", {"type": "hangup", "session_id": ""}),
]


def model_accepts(wire: dict[str, Any]) -> bool:
    try:
        parse_action(wire)
    except InvalidActionError:
        return False
    return True


@pytest.mark.parametrize("wire", [w for _, w in PARITY], ids=[i for i, _ in PARITY])
def test_the_schema_and_the_models_agree_on_what_is_a_valid_action(wire: dict[str, Any]) -> None:
    assert (errors(ACTIONS, wire) == []) is model_accepts(wire)


def test_the_parity_table_has_both_valid_and_invalid_actions() -> None:
    verdicts = {model_accepts(w) for _, w in PARITY}
    assert verdicts == {True, False}
