"""The committed JSON Schema: up to date, accepts the spec examples, rejects what models do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

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
    assert errors(ACTIONS, action("speak", text="Hi", tts=None)) != []
    assert errors(ACTIONS, action("speak", text="Hi")) == []


def test_a_null_azure_language_is_the_one_null_the_schema_accepts() -> None:
    tts = {"provider": "azure", "language": None, "voice": "de-DE-KatjaNeural"}
    assert errors(ACTIONS, action("speak", text="Hi", tts=tts)) == []
    tts = {"provider": "azure", "language": "de-DE", "voice": None}
    assert errors(ACTIONS, action("speak", text="Hi", tts=tts)) != []


def test_an_empty_array_is_a_reply_with_no_action() -> None:
    assert errors(ACTIONS, []) == []


@pytest.mark.parametrize("value", ["de-DE\n", "de-DE\n\n", "de-DE "])
def test_a_pattern_does_not_let_a_trailing_newline_through(value: str) -> None:
    # Python's re lets `$` match before a final newline; the exported patterns must not.
    tts = {"provider": "azure", "language": value}
    assert errors(ACTIONS, action("speak", text="Hi", tts=tts)) != []
