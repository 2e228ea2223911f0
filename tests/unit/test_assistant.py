"""The Assistant core: return values become actions, speech defaults, deferral, fallback."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from pydantic import BaseModel

from aiflow import (
    AfterSpeech,
    Assistant,
    AssistantDefinitionError,
    BargeInPolicy,
    Call,
    DtmfReceivedEvent,
    HangupAction,
    SpeakAction,
    TransferAction,
    TurnPolicy,
    UserSpeakEvent,
    after_speech,
    azure,
    barge_in,
    hangup,
    parse_event,
    speak,
    transfer,
)
from aiflow.policy import FALLBACKS
from aiflow.protocol import BaseEvent, reply_body

SESSION_ID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
VOICE = azure("de-DE-ConradNeural", "de-DE")
POLICY = BargeInPolicy(strategy="minimum_characters", minimum_characters=4, allow_after_ms=400)


def event(kind: str, **fields: Any) -> BaseEvent:
    session = {
        "id": SESSION_ID,
        "account_id": "acc-7731",
        "phone_number": "+4921198765400",
        "direction": "inbound",
        "from_phone_number": "4917612345678",
        "to_phone_number": "4921198765400",
    }
    return parse_event({"type": kind, "session": session, **fields})


def said(text: str) -> BaseEvent:
    return event("user_speak", text=text)


def new_call() -> Call:
    return Call(SESSION_ID)


def wire(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.to_wire() for a in actions]


def assistant_returning(value: Any, **options: Any) -> Assistant:
    assistant = Assistant("test", **options)

    @assistant.on_user_speak
    def handler() -> Any:
        return value

    return assistant


# --- return-value normalisation ------------------------------------------------------------


def test_none_means_no_action() -> None:
    reply = assistant_returning(None).handle(said("Hallo"), new_call())
    assert reply.actions == []
    assert reply.deferred == []
    assert reply.fallback is False
    assert reply_body(reply.actions) is None


def test_an_event_without_any_handler_means_no_action() -> None:
    reply = Assistant().handle(said("Hallo"), new_call())
    assert reply.actions == []


def test_a_string_becomes_a_speak_with_the_assistant_defaults() -> None:
    assistant = assistant_returning(
        "Gern.", voice=VOICE, barge_in=POLICY, user_input_timeout=7, language="de-DE"
    )
    reply = assistant.handle(said("Hallo"), new_call())
    assert wire(reply.actions) == [
        {
            "type": "speak",
            "session_id": SESSION_ID,
            "text": "Gern.",
            "tts": {"provider": "azure", "language": "de-DE", "voice": "de-DE-ConradNeural"},
            "barge_in": {
                "strategy": "minimum_characters",
                "minimum_characters": 4,
                "allow_after_ms": 400,
            },
            "user_input_timeout_seconds": 7,
        }
    ]


def test_a_string_without_assistant_defaults_is_a_plain_speak() -> None:
    reply = assistant_returning("Hi").handle(said("Hallo"), new_call())
    assert wire(reply.actions) == [{"type": "speak", "session_id": SESSION_ID, "text": "Hi"}]


def test_options_set_on_an_action_win_over_the_assistant_defaults() -> None:
    own = speak(
        "Hi",
        tts={"provider": "eleven_labs", "voice": "EXAVITQu4vr4xnSDxMaL"},
        barge_in={"strategy": "none"},
        user_input_timeout_seconds=3,
    )
    assistant = assistant_returning(own, voice=VOICE, barge_in=POLICY, user_input_timeout=7)
    [action] = assistant.handle(said("Hallo"), new_call()).actions
    assert wire([action]) == [{**own.to_wire(), "session_id": SESSION_ID}]


def test_one_action_is_sent_addressed_to_the_call() -> None:
    reply = assistant_returning(barge_in()).handle(said("Stop"), new_call())
    assert wire(reply.actions) == [{"type": "barge_in", "session_id": SESSION_ID}]


def test_a_list_mixing_strings_and_actions_keeps_its_order() -> None:
    assistant = assistant_returning([barge_in(), "Verstanden,", speak("ich verbinde Sie.")])
    reply = assistant.handle(said("Hallo"), new_call())
    assert [(a.type, getattr(a, "text", None)) for a in reply.actions] == [
        ("barge_in", None),
        ("speak", "Verstanden,"),
        ("speak", "ich verbinde Sie."),
    ]
    assert {a.session_id for a in reply.actions} == {SESSION_ID}


def test_a_tuple_is_accepted_like_a_list() -> None:
    reply = assistant_returning(("a", "b")).handle(said("Hallo"), new_call())
    assert [a.text for a in reply.actions if isinstance(a, SpeakAction)] == ["a", "b"]


def test_the_user_input_timeout_default_applies_only_to_the_last_speech_of_a_reply() -> None:
    assistant = assistant_returning(["Eins.", "Zwei.", "Drei?"], user_input_timeout=5)
    reply = assistant.handle(said("Hallo"), new_call())
    timeouts = [a.to_wire().get("user_input_timeout_seconds") for a in reply.actions]
    assert timeouts == [None, None, 5]


def test_the_assistant_barge_in_default_applies_to_every_speech() -> None:
    assistant = assistant_returning(["Eins.", "Zwei."], barge_in=POLICY)
    reply = assistant.handle(said("Hallo"), new_call())
    assert [a.to_wire()["barge_in"]["minimum_characters"] for a in reply.actions] == [4, 4]


def test_after_speech_holds_its_actions_back_until_the_speech_ended() -> None:
    assistant = assistant_returning(["Einen Moment.", after_speech("Da bin ich wieder.")])
    call = new_call()
    reply = assistant.handle(said("Hallo"), call)
    assert [a.text for a in reply.actions if isinstance(a, SpeakAction)] == ["Einen Moment."]
    assert [a.to_wire() for a in reply.deferred] == [
        {"type": "speak", "session_id": SESSION_ID, "text": "Da bin ich wieder."}
    ]
    assert call.pending == reply.deferred
    ended = Assistant().handle(event("assistant_speech_ended"), call)
    assert wire(ended.actions) == wire(reply.deferred)
    assert call.pending == []


def test_after_speech_returned_alone_is_deferred_entirely() -> None:
    result = after_speech(hangup())
    assert isinstance(result, AfterSpeech)
    reply = assistant_returning(result).handle(said("Hallo"), new_call())
    assert reply.actions == []
    assert [a.type for a in reply.deferred] == ["hangup"]


def test_a_hangup_without_preceding_speech_is_sent_at_once() -> None:
    reply = assistant_returning([hangup()]).handle(said("Hallo"), new_call())
    assert [a.type for a in reply.actions] == ["hangup"]
    assert reply.deferred == []


def test_a_transfer_before_any_speech_is_sent_at_once_and_marks_the_call() -> None:
    call = new_call()
    action = transfer("4921198765411", caller_id_name="Praxis", caller_id_number="4921198765400")
    reply = assistant_returning(action).handle(said("Hallo"), call)
    assert [a.type for a in reply.actions] == ["transfer"]
    assert call.status == "transferring"


# --- deferred hangup and transfer ----------------------------------------------------------


def farewell_assistant(**options: Any) -> Assistant:
    assistant = Assistant("bye", **options)

    @assistant.on_user_speak
    def bye(event: UserSpeakEvent) -> Any:
        return ["Auf Wiederhören!", hangup()]

    @assistant.on_assistant_speech_ended
    def ended() -> Any:
        return "This must come after the released hangup."

    return assistant


def test_a_hangup_after_speech_goes_to_pending_and_the_farewell_is_sent_now() -> None:
    call = new_call()
    reply = farewell_assistant().handle(said("Tschüss"), call)
    assert wire(reply.actions) == [
        {
            "type": "speak",
            "session_id": SESSION_ID,
            "text": "Auf Wiederhören!",
            "barge_in": {"strategy": "none"},  # its end must be reported for the hangup
        }
    ]
    assert wire(reply.deferred) == [{"type": "hangup", "session_id": SESSION_ID}]
    assert wire(call.pending) == [{"type": "hangup", "session_id": SESSION_ID}]
    assert call.to_doc()["pending"] == {
        "actions": [{"type": "hangup", "session_id": SESSION_ID}],
        "awaiting": ["auf wiederhören!"],  # the speech whose end releases it
    }


def test_a_pending_hangup_is_released_first_on_the_next_assistant_speech_ended() -> None:
    assistant = farewell_assistant()
    call = new_call()
    assistant.handle(said("Tschüss"), call)
    reply = assistant.handle(event("assistant_speech_ended"), call)
    assert [a.type for a in reply.actions] == ["hangup", "speak"]
    assert isinstance(reply.actions[0], HangupAction)
    assert reply.actions[0].session_id == SESSION_ID
    assert call.pending == []
    again = assistant.handle(event("assistant_speech_ended"), call)
    assert [a.type for a in again.actions] == ["speak"], "a hangup is released only once"


def test_a_pending_hangup_is_released_on_user_input_timeout_too() -> None:
    assistant = farewell_assistant()
    call = new_call()
    assistant.handle(said("Tschüss"), call)
    reply = assistant.handle(event("user_input_timeout"), call)
    assert wire(reply.actions) == [{"type": "hangup", "session_id": SESSION_ID}]
    assert call.pending == []


def test_other_events_do_not_release_a_pending_hangup() -> None:
    assistant = farewell_assistant()
    call = new_call()
    assistant.handle(said("Tschüss"), call)
    for kind, fields in (("assistant_speak", {"text": "x"}), ("dtmf_received", {"digit": "1"})):
        assert assistant.handle(event(kind, **fields), call).actions == []
    assert [a.type for a in call.pending] == ["hangup"]


def test_a_transfer_after_speech_is_deferred_and_marks_the_call_when_released() -> None:
    assistant = Assistant()

    @assistant.on_user_speak
    def connect() -> Any:
        return [
            "Ich verbinde Sie.",
            transfer("+4921198765411", caller_id_name="Praxis", caller_id_number="4921198765400"),
        ]

    call = new_call()
    reply = assistant.handle(said("Bitte verbinden"), call)
    assert [a.type for a in reply.actions] == ["speak"]
    assert [a.type for a in reply.deferred] == ["transfer"]
    assert call.status == "active"
    released = assistant.handle(event("assistant_speech_ended"), call)
    assert isinstance(released.actions[0], TransferAction)
    assert released.actions[0].target_phone_number == "4921198765411"
    assert call.status == "transferring"


def test_everything_after_a_deferred_action_is_deferred_as_well() -> None:
    reply = assistant_returning(["Bye.", hangup(), "never said now"]).handle(said("x"), new_call())
    assert [a.type for a in reply.actions] == ["speak"]
    assert [a.type for a in reply.deferred] == ["hangup", "speak"]


def test_the_farewell_before_a_deferred_hangup_gets_no_user_input_timeout() -> None:
    call = new_call()
    reply = farewell_assistant(user_input_timeout=6).handle(said("Tschüss"), call)
    [farewell] = reply.actions
    assert "user_input_timeout_seconds" not in farewell.to_wire()
    single = assistant_returning("Noch etwas?", user_input_timeout=6).handle(said("x"), new_call())
    assert single.actions[0].to_wire()["user_input_timeout_seconds"] == 6


def test_a_pending_action_survives_a_save_and_load_of_the_call() -> None:
    assistant = farewell_assistant()
    call = new_call()
    assistant.handle(said("Tschüss"), call)
    loaded = Call.from_doc(json.loads(json.dumps(call.to_doc())))
    reply = assistant.handle(event("assistant_speech_ended"), loaded)
    assert reply.actions[0].type == "hangup"


# --- fallback -------------------------------------------------------------------------------


def test_a_handler_exception_becomes_the_fallback_speech_and_rolls_back_state() -> None:
    assistant = Assistant("failing", voice=VOICE, user_input_timeout=8)

    @assistant.on_user_speak
    def broken(call: Call) -> str:
        call.state["step"] = "half-done"
        call.state.setdefault("items", []).append(1)
        raise RuntimeError("boom with secret 4917612345678")

    call = new_call()
    call.state = {"items": [0]}
    reply = assistant.handle(said("Hallo"), call)
    assert reply.fallback is True
    assert wire(reply.actions) == [
        {
            "type": "speak",
            "session_id": SESSION_ID,
            "text": FALLBACKS["en"],
            "tts": VOICE.model_dump(exclude_none=True),
            "user_input_timeout_seconds": 8,
        }
    ]
    assert call.state == {"items": [0]}
    assert [t.role for t in call.history] == ["caller", "assistant"]
    assert call.history[-1].text == FALLBACKS["en"]


def test_a_failing_handler_still_releases_a_pending_hangup_before_the_fallback() -> None:
    assistant = Assistant()

    @assistant.on_user_speak
    def bye() -> Any:
        return ["Bye.", hangup()]

    @assistant.on_assistant_speech_ended
    def broken() -> None:
        raise ValueError("boom")

    call = new_call()
    assistant.handle(said("Tschüss"), call)
    reply = assistant.handle(event("assistant_speech_ended"), call)
    assert reply.fallback is True
    assert [a.type for a in reply.actions] == ["hangup", "speak"]
    assert call.pending == []


def test_a_failing_handler_rolls_back_a_pydantic_state_model() -> None:
    class Booking(BaseModel):
        step: str = "start"
        attempts: int = 0

    assistant = Assistant(state=Booking)

    @assistant.on_dtmf
    def press(event: DtmfReceivedEvent, call: Call) -> str:
        call.state.attempts += 1
        call.state.step = "confirm"
        raise KeyError(event.digit)

    call = Call(SESSION_ID, state=Booking(attempts=2))
    reply = assistant.handle(event("dtmf_received", digit="5"), call)
    assert reply.fallback is True
    assert isinstance(call.state, Booking)
    assert call.state == Booking(attempts=2)


@pytest.mark.parametrize(
    "bad",
    [42, 4.2, {"type": "speak", "text": "dict is not an action"}, ["ok", 42], b"bytes", object()],
    ids=["int", "float", "dict", "list with int", "bytes", "object"],
)
def test_a_handler_returning_a_wrong_type_gets_the_fallback(bad: Any) -> None:
    def failing(call: Call) -> Any:
        call.state["touched"] = True
        return bad

    assistant = Assistant()
    assistant.on_user_speak(failing)
    call = new_call()
    reply = assistant.handle(said("Hallo"), call)
    assert reply.fallback is True
    assert [a.type for a in reply.actions] == ["speak"]
    assert call.state == {}


def test_an_invalid_action_built_in_a_handler_gets_the_fallback() -> None:
    assistant = Assistant()

    @assistant.on_user_speak
    def invalid() -> Any:
        return speak("x", barge_in={"strategy": "interrupt"})

    reply = assistant.handle(said("Hallo"), new_call())
    assert reply.fallback is True


def test_german_language_picks_the_german_fallback_sentence() -> None:
    assistant = Assistant(language="de-DE")
    assert assistant.fallback == FALLBACKS["de"]
    assert "Entschuldigung" in assistant.fallback

    @assistant.on_user_speak
    def broken() -> None:
        raise RuntimeError

    [action] = assistant.handle(said("Hallo"), new_call()).actions
    assert isinstance(action, SpeakAction)
    assert action.text == FALLBACKS["de"]


def test_an_unknown_language_falls_back_to_english_and_a_custom_fallback_wins() -> None:
    assert Assistant(language="tlh").fallback == FALLBACKS["en"]
    assert Assistant(language="de-DE", fallback="Moment bitte.").fallback == "Moment bitte."


def test_fallback_reply_is_addressed_to_the_call_with_the_assistant_defaults() -> None:
    assistant = Assistant(voice=VOICE, barge_in=POLICY)
    [action] = assistant.fallback_reply(new_call())
    assert action.session_id == SESSION_ID
    assert action.to_wire()["tts"]["voice"] == "de-DE-ConradNeural"
    assert action.to_wire()["barge_in"]["strategy"] == "minimum_characters"


def test_speech_builds_a_speak_with_the_assistant_defaults() -> None:
    action = Assistant(user_input_timeout=4).speech("Hallo?")
    assert action.to_wire() == {"type": "speak", "text": "Hallo?", "user_input_timeout_seconds": 4}


# --- session_end ----------------------------------------------------------------------------


def test_session_end_never_produces_actions_even_if_the_handler_returns_some() -> None:
    assistant = Assistant()
    seen: list[str] = []

    @assistant.on_session_end
    def ended(call: Call) -> Any:
        seen.append(call.status)
        return ["Goodbye", hangup()]

    call = new_call()
    reply = assistant.handle(event("session_end"), call)
    assert seen == ["ended"]
    assert reply.actions == []
    assert reply.deferred == []
    assert call.pending == []


def test_session_end_releases_no_pending_action_and_a_failure_gives_no_fallback_speech() -> None:
    assistant = farewell_assistant()

    @assistant.on_session_end
    def broken() -> None:
        raise RuntimeError("boom")

    call = new_call()
    assistant.handle(said("Tschüss"), call)
    reply = assistant.handle(event("session_end"), call)
    assert reply.actions == []
    assert reply.fallback is True
    assert call.status == "ended"


# --- async handlers -------------------------------------------------------------------------


def async_assistant() -> Assistant:
    assistant = Assistant()

    @assistant.on_user_speak
    async def echo(event: UserSpeakEvent, call: Call) -> Any:
        await asyncio.sleep(0)
        call.state["heard"] = event.text
        return [f"Sie sagten: {event.text}", hangup()]

    return assistant


def test_an_async_handler_works_with_handle() -> None:
    call = new_call()
    reply = async_assistant().handle(said("Hallo"), call)
    assert [a.type for a in reply.actions] == ["speak"]
    assert [a.type for a in reply.deferred] == ["hangup"]
    assert call.state == {"heard": "Hallo"}


def test_an_async_handler_works_with_handle_async() -> None:
    call = new_call()
    reply = asyncio.run(async_assistant().handle_async(said("Hallo"), call))
    assert isinstance(reply.actions[0], SpeakAction)
    assert reply.actions[0].text == "Sie sagten: Hallo"
    assert call.state == {"heard": "Hallo"}


def test_a_sync_handler_works_with_handle_async() -> None:
    reply = asyncio.run(assistant_returning("Hi").handle_async(said("x"), new_call()))
    assert [a.type for a in reply.actions] == ["speak"]


def test_an_async_handler_that_raises_gets_the_fallback_in_both_modes() -> None:
    assistant = Assistant()

    @assistant.on_user_speak
    async def broken(call: Call) -> None:
        call.state["x"] = 1
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    for run in (
        lambda c: assistant.handle(said("x"), c),
        lambda c: asyncio.run(assistant.handle_async(said("x"), c)),
    ):
        call = new_call()
        reply = run(call)
        assert reply.fallback is True
        assert call.state == {}


def test_an_async_handler_returning_a_wrong_type_gets_the_fallback_in_handle_async() -> None:
    assistant = Assistant()

    @assistant.on_user_speak
    async def wrong() -> Any:
        return 42

    reply = asyncio.run(assistant.handle_async(said("x"), new_call()))
    assert reply.fallback is True


# --- definition errors ----------------------------------------------------------------------


def test_registering_two_handlers_for_one_event_raises_naming_the_file() -> None:
    assistant = Assistant()

    @assistant.on_user_speak
    def first() -> None:
        return None

    with pytest.raises(AssistantDefinitionError) as info:

        @assistant.on_user_speak
        def second() -> None:
            return None

    assert info.value.code == "duplicate_handler"
    assert "test_assistant.py" in info.value.message
    assert "first" in info.value.message and "second" in info.value.message
    assert "'user_speak'" in info.value.message


def test_a_parameter_that_is_neither_event_nor_call_raises_naming_the_file() -> None:
    assistant = Assistant()
    with pytest.raises(AssistantDefinitionError) as info:

        @assistant.on_user_speak
        def handler(text):
            return text

    assert info.value.code == "bad_handler_signature"
    assert "test_assistant.py" in info.value.message
    assert "`text`" in info.value.message


def test_an_event_annotation_of_the_wrong_type_raises_naming_the_file() -> None:
    assistant = Assistant()
    with pytest.raises(AssistantDefinitionError) as info:

        @assistant.on_user_speak
        def handler(event: DtmfReceivedEvent) -> None:
            return None

    assert "test_assistant.py" in info.value.message
    assert "DtmfReceivedEvent" in info.value.message
    assert "UserSpeakEvent" in info.value.message


def test_asking_twice_for_the_call_raises() -> None:
    assistant = Assistant()
    with pytest.raises(AssistantDefinitionError, match="test_assistant.py"):

        @assistant.on_session_start
        def handler(call: Call, other: Call) -> None:
            return None


def test_a_definition_error_is_a_type_error() -> None:
    assert issubclass(AssistantDefinitionError, TypeError)


def test_handlers_take_only_the_parameters_they_need() -> None:
    assistant = Assistant()
    seen: list[tuple[Any, ...]] = []

    @assistant.on_session_start
    def none_at_all() -> None:
        seen.append(())

    @assistant.on_user_speak
    def by_name(event, call):
        seen.append((type(event).__name__, type(call).__name__))

    @assistant.on_dtmf
    def call_first(call: Call, event: DtmfReceivedEvent) -> None:
        seen.append((type(call).__name__, event.digit))

    @assistant.on_assistant_speak
    def with_default(event: BaseEvent, extra: int = 3) -> None:
        seen.append((extra,))

    call = new_call()
    assistant.handle(event("session_start"), call)
    assistant.handle(said("x"), call)
    assistant.handle(event("dtmf_received", digit="#"), call)
    assistant.handle(event("assistant_speak", text="x"), call)
    assert seen == [(), ("UserSpeakEvent", "Call"), ("Call", "#"), (3,)]


# --- events ---------------------------------------------------------------------------------


def test_on_event_catches_unknown_events_and_events_without_their_own_handler() -> None:
    assistant = Assistant()
    seen: list[str] = []

    @assistant.on_event
    def anything(event: BaseEvent) -> None:
        seen.append(event.type)

    @assistant.on_user_speak
    def speech() -> str:
        return "own handler"

    call = new_call()
    assert assistant.handle(event("recording_ready", url="x"), call).actions == []
    assistant.handle(event("sms_failed"), call)
    reply = assistant.handle(said("x"), call)
    assert seen == ["recording_ready", "sms_failed"]
    assert [a.text for a in reply.actions if isinstance(a, SpeakAction)] == ["own handler"]
    assert assistant.handler_for(event("recording_ready")) is anything
    assert assistant.handler_for(said("x")) is speech


def test_a_user_barge_in_with_text_is_handled_as_user_speak_with_barged_in() -> None:
    assistant = Assistant()
    seen: list[UserSpeakEvent] = []

    @assistant.on_user_speak
    def heard(event: UserSpeakEvent) -> str:
        seen.append(event)
        return "Ja?"

    call = new_call()
    reply = assistant.handle(event("user_barge_in", text="Moment mal", confidence=0.9), call)
    [got] = seen
    assert isinstance(got, UserSpeakEvent)
    assert (got.text, got.barged_in) == ("Moment mal", True)
    assert got.model_extra == {"confidence": 0.9}
    assert [a.type for a in reply.actions] == ["speak"]
    assert call.history[0].text == "Moment mal"


def test_a_user_barge_in_without_text_is_not_a_user_speak() -> None:
    assistant = Assistant()
    seen: list[str] = []

    @assistant.on_user_speak
    def heard(event: UserSpeakEvent) -> None:
        seen.append("speak")

    @assistant.on_event
    def other(event: BaseEvent) -> None:
        seen.append(event.type)

    assistant.handle(event("user_barge_in"), new_call())
    assert seen == ["user_barge_in"]


def test_a_repeated_session_start_of_a_known_call_sets_resumed_and_previous_status() -> None:
    assistant = Assistant()
    states: list[tuple[bool, str | None, str]] = []

    @assistant.on_session_start
    def start(call: Call) -> Any:
        states.append((call.resumed, call.previous_status, call.status))
        if call.resumed:
            return "Leider hat das nicht geklappt."
        return None

    @assistant.on_user_speak
    def connect() -> Any:
        return transfer("4921198765411", caller_id_name="P", caller_id_number="49211", timeout=25)

    first = new_call()
    assistant.handle(event("session_start"), first)
    assistant.handle(said("Verbinden"), first)
    assert first.status == "transferring"

    back = Call.from_doc(json.loads(json.dumps(first.to_doc())))
    assert back.is_new is False
    reply = assistant.handle(event("session_start"), back)
    assert states == [(False, None, "active"), (True, "transferring", "active")]
    assert back.resumed is True
    assert back.previous_status == "transferring"
    assert back.status == "active"
    assert [a.type for a in reply.actions] == ["speak"]


def test_the_call_caller_is_e164_with_plus() -> None:
    call = new_call()
    Assistant().handle(event("session_start"), call)
    assert call.caller == "+4917612345678"
    assert call.called == "+4921198765400"
    assert call.phone_number == "+4921198765400"
    assert call.direction == "inbound"
    assert call.account_id == "acc-7731"


def test_later_events_with_only_the_session_id_keep_what_the_call_knows() -> None:
    call = new_call()
    assistant = Assistant()
    assistant.handle(event("session_start"), call)
    assistant.handle(
        parse_event({"type": "user_speak", "text": "x", "session": {"id": SESSION_ID}}), call
    )
    assert call.caller == "+4917612345678"


def test_the_history_records_caller_and_assistant_turns() -> None:
    assistant = assistant_returning(
        ["Eins", speak(ssml="<speak>Zwei <break time='1s'/> drei</speak>")]
    )
    call = new_call()
    assistant.handle(said("Hallo"), call)
    assert [(t.role, t.text) for t in call.history] == [
        ("caller", "Hallo"),
        ("assistant", "Eins"),
        ("assistant", "Zwei drei"),
    ]


def test_the_history_is_bounded_by_the_assistant_history_limit() -> None:
    assistant = assistant_returning(None, policy=TurnPolicy(history_limit=3))
    call = new_call()
    for i in range(5):
        assistant.handle(said(f"turn {i}"), call)
    assert [t.text for t in call.history] == ["turn 2", "turn 3", "turn 4"]


def test_the_time_spent_in_the_handler_is_measured() -> None:
    assistant = Assistant()

    @assistant.on_user_speak
    def slow() -> str:
        time.sleep(0.02)
        return "x"

    reply = assistant.handle(said("x"), new_call())
    assert 20 <= reply.handler_ms < 2000


# --- Call persistence -----------------------------------------------------------------------


class Booking(BaseModel):
    name: str | None = None
    slots: list[str] = []
    confirmed: bool = False


def test_call_to_doc_and_from_doc_round_trip_with_a_pydantic_state_model() -> None:
    assistant = Assistant(state=Booking)

    @assistant.on_user_speak
    def book(event: UserSpeakEvent, call: Call) -> Any:
        call.state.name = event.text
        call.state.slots.append("Mo 10:00")
        return ["Notiert.", hangup()]

    call = Call(SESSION_ID, state=Booking())
    assistant.handle(event("session_start"), call)
    assistant.handle(said("Anna Weber"), call)
    doc = json.loads(json.dumps(call.to_doc()))
    loaded = Call.from_doc(doc, version=3, state_model=assistant.state_model)

    assert isinstance(loaded.state, Booking)
    assert loaded.state == Booking(name="Anna Weber", slots=["Mo 10:00"])
    assert loaded.to_doc() == doc
    assert loaded.version == 3
    assert loaded.is_new is False
    assert loaded.caller == "+4917612345678"
    assert [a.type for a in loaded.pending] == ["hangup"]
    assert [(t.role, t.text) for t in loaded.history] == [
        ("caller", "Anna Weber"),
        ("assistant", "Notiert."),
    ]


def test_call_to_doc_is_a_snapshot_that_later_changes_do_not_touch() -> None:
    call = new_call()
    call.state = {"items": [1]}
    doc = call.to_doc()
    call.state["items"].append(2)
    assert doc["state"] == {"items": [1]}


def test_call_from_doc_without_a_state_model_gives_a_dict() -> None:
    call = new_call()
    call.state = {"a": {"b": 1}}
    loaded = Call.from_doc(call.to_doc())
    assert loaded.state == {"a": {"b": 1}}
    assert loaded.status == "active"
    assert repr(loaded).startswith("Call(session_id=")


def test_call_from_session_fills_in_the_numbers() -> None:
    start = event("session_start")
    call = Call.from_session(start.session, state={"x": 1})
    assert (call.caller, call.state, call.is_new) == ("+4917612345678", {"x": 1}, True)
