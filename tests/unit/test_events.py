"""Events: the spec's examples parse to the right classes; bad bodies fail with a clear code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from aiflow.errors import EventParseError
from aiflow.protocol import (
    KNOWN_EVENTS,
    AssistantSpeakEvent,
    AssistantSpeechEndedEvent,
    DtmfReceivedEvent,
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
from aiflow.protocol import events as events_module

SESSION_ID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"

# Spec section 5, "A call, as the platform would send it" (copied verbatim).
EXAMPLE_EVENT_LINES = [
    '{"type": "session_start", "session": {"id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "account_id": "acc-7731", "phone_number": "+4921198765400", "direction": "inbound", "from_phone_number": "+4917612345678", "to_phone_number": "+4921198765400"}}',  # noqa: E501
    '{"type": "user_speak", "text": "Ich möchte meinen Termin verschieben.", "barged_in": false, "session": {"id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "account_id": "acc-7731", "phone_number": "+4921198765400"}}',  # noqa: E501
    '{"type": "assistant_speak", "text": "Gern. Auf welchen Tag?", "duration_ms": 2350, "speech_started_at": 1767355200123, "session": {"id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "account_id": "acc-7731", "phone_number": "+4921198765400"}}',  # noqa: E501
    '{"type": "assistant_speech_ended", "session": {"id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "account_id": "acc-7731", "phone_number": "+4921198765400"}}',  # noqa: E501
    '{"type": "dtmf_received", "digit": "#", "session": {"id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "account_id": "acc-7731", "phone_number": "+4921198765400"}}',  # noqa: E501
    '{"type": "user_input_timeout", "session": {"id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "account_id": "acc-7731", "phone_number": "+4921198765400"}}',  # noqa: E501
    '{"type": "session_end", "session": {"id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b", "account_id": "acc-7731", "phone_number": "+4921198765400"}}',  # noqa: E501
]
EXAMPLE_CLASSES = [
    SessionStartEvent,
    UserSpeakEvent,
    AssistantSpeakEvent,
    AssistantSpeechEndedEvent,
    DtmfReceivedEvent,
    UserInputTimeoutEvent,
    SessionEndEvent,
]
# Events of spec section 2 without an example in section 5 (built from the tables).
OTHER_EVENTS: list[tuple[dict[str, Any], type]] = [
    ({"type": "user_speech_started", "session": {"id": SESSION_ID}}, UserSpeechStartedEvent),
    ({"type": "user_barge_in", "text": "Stop", "session": {"id": SESSION_ID}}, UserBargeInEvent),
    ({"type": "sms_failed", "session": {"id": SESSION_ID}}, SmsFailedEvent),
]


def minimal(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "session": {"id": SESSION_ID}, **fields}


@pytest.mark.parametrize(
    ("line", "cls"),
    list(zip(EXAMPLE_EVENT_LINES, EXAMPLE_CLASSES, strict=True)),
    ids=[c.__name__ for c in EXAMPLE_CLASSES],
)
def test_every_example_event_of_the_spec_parses_to_its_class(line: str, cls: type) -> None:
    event = parse_event(line)
    assert type(event) is cls
    assert event.session.id == SESSION_ID
    assert event.to_wire() == json.loads(line)


@pytest.mark.parametrize(("body", "cls"), OTHER_EVENTS, ids=lambda v: getattr(v, "__name__", ""))
def test_the_events_without_a_spec_example_parse_to_their_class(
    body: dict[str, Any], cls: type
) -> None:
    assert type(parse_event(body)) is cls


def test_every_known_event_type_has_a_class_of_that_type() -> None:
    assert sorted(KNOWN_EVENTS) == sorted(
        [
            "session_start",
            "user_speak",
            "user_speech_started",
            "assistant_speak",
            "assistant_speech_ended",
            "user_input_timeout",
            "dtmf_received",
            "session_end",
            "user_barge_in",
            "sms_failed",
        ]
    )
    for kind, cls in KNOWN_EVENTS.items():
        assert type(parse_event(minimal(kind, text="x", digit="1"))) is cls


def test_the_example_fields_are_read_into_the_models() -> None:
    start = parse_event(EXAMPLE_EVENT_LINES[0])
    assert start.session.direction == "inbound"
    assert start.session.from_phone_number == "+4917612345678"
    assert start.session.account_id == "acc-7731"
    said = parse_event(EXAMPLE_EVENT_LINES[1])
    assert isinstance(said, UserSpeakEvent)
    assert said.text == "Ich möchte meinen Termin verschieben."
    assert said.barged_in is False
    spoke = parse_event(EXAMPLE_EVENT_LINES[2])
    assert isinstance(spoke, AssistantSpeakEvent)
    assert (spoke.duration_ms, spoke.speech_started_at) == (2350, 1767355200123)
    key = parse_event(EXAMPLE_EVENT_LINES[4])
    assert isinstance(key, DtmfReceivedEvent)
    assert key.digit == "#"


def test_user_speak_text_falls_back_to_the_legacy_transcript_field() -> None:
    event = parse_event(minimal("user_speak", transcript="Hallo"))
    assert isinstance(event, UserSpeakEvent)
    assert event.text == "Hallo"
    assert event.barged_in is False


def test_user_speak_text_wins_over_transcript_when_both_are_sent() -> None:
    event = parse_event(minimal("user_speak", text="new", transcript="old"))
    assert isinstance(event, UserSpeakEvent)
    assert event.text == "new"


def test_a_user_speak_without_text_or_transcript_is_rejected() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(minimal("user_speak"))
    assert info.value.code == "invalid_field"
    assert "`text`" in info.value.message


def test_barged_in_true_is_read() -> None:
    event = parse_event(minimal("user_speak", text="Moment", barged_in=True))
    assert isinstance(event, UserSpeakEvent)
    assert event.barged_in is True


@pytest.mark.parametrize("digit", list("0123456789*#"))
def test_every_keypad_digit_is_accepted(digit: str) -> None:
    event = parse_event(minimal("dtmf_received", digit=digit))
    assert isinstance(event, DtmfReceivedEvent)
    assert event.digit == digit


def test_a_digit_sent_as_a_json_number_is_read_as_its_string() -> None:
    event = parse_event(minimal("dtmf_received", digit=7))
    assert isinstance(event, DtmfReceivedEvent)
    assert event.digit == "7"


@pytest.mark.parametrize("digit", ["A", "10", "", "**", " 1", True, None, 12])
def test_a_digit_outside_0_to_9_star_and_hash_is_rejected(digit: Any) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(minimal("dtmf_received", digit=digit))
    assert info.value.code == "invalid_field"
    assert "`digit`" in info.value.message
    assert "dtmf_received" in info.value.message


def test_only_the_session_id_is_required_in_the_session() -> None:
    for kind in KNOWN_EVENTS:
        event = parse_event(minimal(kind, text="x", digit="1"))
        assert event.session.id == SESSION_ID
        assert event.session.account_id is None
        assert event.session.phone_number is None
        assert event.session.direction is None


def test_a_wrong_direction_is_rejected_with_the_field_path() -> None:
    body = {"type": "session_start", "session": {"id": SESSION_ID, "direction": "sideways"}}
    with pytest.raises(EventParseError) as info:
        parse_event(body)
    assert info.value.code == "invalid_field"
    assert "`session.direction`" in info.value.message
    assert "sideways" not in info.value.message


def test_an_unknown_event_type_parses_as_unknown_event_and_keeps_its_fields() -> None:
    body = minimal("call_recording_ready", url="https://example.invalid/r.wav", size=12)
    event = parse_event(body)
    assert type(event) is UnknownEvent
    assert event.type == "call_recording_ready"
    assert event.model_extra == {"url": "https://example.invalid/r.wav", "size": 12}
    assert event.to_wire() == body


def test_unknown_extra_fields_of_a_known_event_are_kept_and_survive_to_wire() -> None:
    body = minimal("user_speak", text="Hallo", confidence=0.93, language="de-DE")
    body["session"]["trunk"] = {"region": "eu"}
    event = parse_event(body)
    assert isinstance(event, UserSpeakEvent)
    assert event.model_extra == {"confidence": 0.93, "language": "de-DE"}
    assert event.session.model_extra == {"trunk": {"region": "eu"}}
    # barged_in is optional on the wire; the model fills in its default False.
    assert event.to_wire() == {**body, "barged_in": False}


def test_to_wire_omits_absent_optional_fields_instead_of_sending_null() -> None:
    wire = parse_event(minimal("assistant_speak", text="Hi")).to_wire()
    assert wire == minimal("assistant_speak", text="Hi")
    assert None not in wire.values()


def test_a_session_end_reason_is_read_when_present() -> None:
    event = parse_event(minimal("session_end", reason="caller_hangup"))
    assert isinstance(event, SessionEndEvent)
    assert event.reason == "caller_hangup"


def test_a_user_barge_in_without_text_parses() -> None:
    event = parse_event(minimal("user_barge_in"))
    assert isinstance(event, UserBargeInEvent)
    assert event.text is None


@pytest.mark.parametrize(
    "body",
    [
        EXAMPLE_EVENT_LINES[1].encode("utf-8"),
        bytearray(EXAMPLE_EVENT_LINES[1].encode("utf-8")),
        EXAMPLE_EVENT_LINES[1],
        json.loads(EXAMPLE_EVENT_LINES[1]),
    ],
    ids=["bytes", "bytearray", "str", "dict"],
)
def test_parse_event_accepts_bytes_str_and_dict(body: Any) -> None:
    event = parse_event(body)
    assert isinstance(event, UserSpeakEvent)
    assert event.text == "Ich möchte meinen Termin verschieben."


def test_parse_event_does_not_modify_a_dict_it_was_given() -> None:
    body = minimal("user_speak", transcript="Hallo")
    before = json.dumps(body, sort_keys=True)
    parse_event(body)
    assert json.dumps(body, sort_keys=True) == before


SECRET = "4917612345678-secret"


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        (f"{{not json {SECRET}", "not_json", "not valid JSON"),
        (b"\xff\xfe" + SECRET.encode(), "not_json", "not valid JSON"),
        ("", "not_json", "not valid JSON"),
        (f'["{SECRET}"]', "not_an_object", "an array"),
        (f'"{SECRET}"', "not_an_object", "a string"),
        ("42", "not_an_object", "a number"),
        ("true", "not_an_object", "a boolean"),
        ("null", "not_an_object", "null"),
        ({"session": {"id": SECRET}}, "missing_type", "`type`"),
        ({"type": "", "session": {"id": SECRET}}, "missing_type", "`type`"),
        ({"type": 5, "session": {"id": SECRET}}, "missing_type", "`type`"),
        ({"type": "user_speak", "text": SECRET}, "missing_session_id", "`session.id`"),
        ({"type": "user_speak", "session": SECRET}, "missing_session_id", "`session.id`"),
        ({"type": "user_speak", "session": {}}, "missing_session_id", "`session.id`"),
        ({"type": "user_speak", "session": {"id": ""}}, "missing_session_id", "`session.id`"),
        ({"type": "user_speak", "session": {"id": 17}}, "missing_session_id", "`session.id`"),
        (minimal("user_speak", text=[SECRET]), "invalid_field", "`text`"),
        (minimal("dtmf_received", digit=SECRET), "invalid_field", "`digit`"),
        (minimal("assistant_speak", duration_ms=-1), "invalid_field", "`duration_ms`"),
        (minimal("user_speak", text="x", barged_in=SECRET), "invalid_field", "`barged_in`"),
    ],
)
def test_a_bad_body_raises_event_parse_error_naming_the_problem_without_the_input(
    body: Any, code: str, named: str
) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(body)
    error = info.value
    assert error.code == code
    assert named in error.message
    assert SECRET not in str(error)
    assert SECRET not in json.dumps(error.to_dict())


def test_an_invalid_field_error_carries_details_for_the_json_error_body() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(minimal("dtmf_received", digit="x"))
    body = info.value.to_dict()
    assert body["code"] == "invalid_field"
    assert body["details"][0]["field"] == "digit"
    assert "x" not in [d.get("input") for d in body["details"]]


def test_event_parse_error_is_a_value_error_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError):
        parse_event("nope")


def test_a_session_with_an_empty_id_is_invalid_when_built_directly() -> None:
    with pytest.raises(ValidationError):
        Session(id="")


# --- bodies built to break the parser (issue 10): always a 400, never a 500 ----------------


def nested(depth: int) -> str:
    """An event whose extra field nests arrays so that the whole body is ``depth`` deep."""
    inner = "[" * (depth - 1) + "1" + "]" * (depth - 1)
    return f'{{"type": "user_speak", "text": "x", "session": {{"id": "s"}}, "deep": {inner}}}'


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_a_body_nested_too_deep_is_refused_naming_the_limit(depth: int) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(nested(depth))
    assert info.value.code == "too_deep"
    assert "more than 32 levels deep" in info.value.message


def test_a_body_nested_exactly_to_the_limit_parses() -> None:
    assert isinstance(parse_event(nested(32)), UserSpeakEvent)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    event = parse_event(minimal("user_speak", text="[[[{{{" * 100 + '\\"]]'))
    assert isinstance(event, UserSpeakEvent)


def test_a_mapping_nested_too_deep_is_refused_too() -> None:
    deep: Any = 1
    for _ in range(2_000):
        deep = [deep]
    with pytest.raises(EventParseError) as info:
        parse_event(minimal("user_speak", text="x", deep=deep))
    assert info.value.code == "too_deep"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"type": "user_speak", "text": "Hallo \\ud800", "session": {"id": "s"}}', "text"),
        ('{"type": "user_speak", "text": "x", "session": {"id": "s\\udfff"}}', "session.id"),
        ('{"type": "x", "session": {"id": "s"}, "more": [1, {"a": "\\udc00"}]}', "more.1.a"),
        ('{"type": "user_speak\\ud83d", "session": {"id": "s"}}', "type"),
    ],
    ids=["text", "session id", "deep extra", "type"],
)
def test_a_lone_surrogate_escape_is_refused_naming_the_field(body: str, field: str) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(body)
    assert info.value.code == "invalid_unicode"
    assert f"`{field}` contains invalid Unicode" in info.value.message
    assert info.value.details == [{"field": field, "problem": info.value.message}]
    assert "Hallo" not in info.value.message


def test_a_lone_surrogate_in_a_key_is_refused_without_echoing_the_key() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event('{"type": "x", "session": {"id": "s", "secret\\ud800": 1}}')
    assert info.value.code == "invalid_unicode"
    assert info.value.message.startswith("a key in `session` contains invalid Unicode")
    assert "secret" not in info.value.message


def test_a_lone_surrogate_in_a_mapping_is_refused_too() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(minimal("user_speak", text="\ud800"))
    assert info.value.code == "invalid_unicode"


def test_a_valid_surrogate_pair_escape_is_an_ordinary_character() -> None:
    event = parse_event('{"type": "user_speak", "text": "\\ud83d\\ude00", "session": {"id": "s"}}')
    assert isinstance(event, UserSpeakEvent)
    assert event.text == "😀"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "user_speak", "text": "caf\xe9", "session": {"id": "s"}}',  # Latin-1
        b'{"type": "user_speak", "text": "\xed\xa0\x80", "session": {"id": "s"}}',  # surrogate
        '{"type": "user_speak", "session": {"id": "s"}}'.encode("utf-16"),
    ],
    ids=["latin-1", "encoded surrogate", "utf-16"],
)
def test_bytes_that_are_not_utf8_are_refused_as_not_json(raw: bytes) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(raw)
    assert info.value.code == "not_json"
    assert "not UTF-8" in info.value.message


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    body = "\ufeff" + EXAMPLE_EVENT_LINES[1]
    assert isinstance(parse_event(body.encode("utf-8")), UserSpeakEvent)
    assert isinstance(parse_event(body), UserSpeakEvent)


@pytest.mark.parametrize(
    ("number", "code"),
    [("1e400", "invalid_number"), ("-1e400", "invalid_number"), ("1" * 101, "invalid_number")],
)
def test_a_number_too_large_to_represent_is_refused(number: str, code: str) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(
            f'{{"type": "assistant_speak", "duration_ms": {number}, "session": {{"id": "s"}}}}'
        )
    assert info.value.code == code
    assert number not in info.value.message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(literal: str) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(f'{{"type": "x", "session": {{"id": "s"}}, "n": {literal}}}')
    assert info.value.code == "not_json"


def test_a_number_of_a_hundred_digits_is_still_a_number() -> None:
    event = parse_event(f'{{"type": "x", "session": {{"id": "s"}}, "n": {"9" * 100}}}')
    assert event.model_extra == {"n": int("9" * 100)}


@pytest.mark.parametrize(
    ("session_id", "problem"),
    [
        ("a" * 257, "has 257 characters; the limit is 256"),
        ("abc\n", "contains control characters"),
        ("a\x00b", "contains control characters"),
        ("a\x9fb", "contains control characters"),
    ],
    ids=["too long", "newline", "NUL", "C1 control"],
)
def test_a_session_id_too_long_or_with_control_characters_is_refused(
    session_id: str, problem: str
) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event({"type": "session_start", "session": {"id": session_id}})
    assert info.value.code == "invalid_field"
    assert info.value.message == f"bad field `session.id`: it {problem}"
    assert info.value.details == [{"field": "session.id", "problem": problem}]


def test_a_session_id_of_256_printable_characters_is_accepted() -> None:
    event = parse_event({"type": "session_start", "session": {"id": "ä" * 256}})
    assert event.session.id == "ä" * 256


@pytest.mark.parametrize("kind", ["x" * 129, "session_start\r"])
def test_an_event_type_too_long_or_with_control_characters_is_refused(kind: str) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event({"type": kind, "session": {"id": "s"}})
    assert info.value.code == "invalid_field"
    assert info.value.message.startswith("bad field `type`: it ")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"duration_ms": "2350"}, "duration_ms"),
        ({"duration_ms": True}, "duration_ms"),
        ({"speech_started_at": "1767355200123"}, "speech_started_at"),
        ({"text": "x", "barged_in": "true"}, "barged_in"),
        ({"text": "x", "barged_in": 1}, "barged_in"),
    ],
)
def test_numbers_and_booleans_are_read_as_json_has_them(fields: dict[str, Any], field: str) -> None:
    kind = "user_speak" if "barged_in" in fields else "assistant_speak"
    with pytest.raises(EventParseError) as info:
        parse_event(minimal(kind, **fields))
    assert info.value.code == "invalid_field"
    assert f"`{field}`" in info.value.message


def test_a_digit_sent_as_a_whole_float_is_read_as_its_string() -> None:
    event = parse_event(minimal("dtmf_received", digit=7.0))
    assert isinstance(event, DtmfReceivedEvent)
    assert event.digit == "7"


def test_the_type_of_an_unknown_event_is_not_repeated_in_an_error() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event({"type": SECRET, "session": {"id": "s", "direction": "up"}})
    assert SECRET not in info.value.message
    assert "in an unknown event" in info.value.message


def test_any_unforeseen_failure_while_parsing_is_still_an_event_parse_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def validate_python(self, _: Any) -> Any:
            raise KeyError(SECRET)

    monkeypatch.setattr(events_module, "event_adapter", Broken)
    with pytest.raises(EventParseError) as info:
        parse_event(EXAMPLE_EVENT_LINES[0])
    assert info.value.code == "invalid_event"
    assert info.value.message == "the event could not be read (KeyError)"
    assert SECRET not in caplog.text


def test_a_returned_event_can_always_be_written_as_utf8_json() -> None:
    for line in EXAMPLE_EVENT_LINES:
        wire = parse_event(line).to_wire()
        json.dumps(wire, ensure_ascii=False, allow_nan=False).encode("utf-8")
