"""CallSimulator: a call through the real Lambda handler, with the platform's part played."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiflow import (
    Assistant,
    Call,
    DtmfReceivedEvent,
    UserSpeakEvent,
    hangup,
    speak,
    transfer,
)
from aiflow.lambda_ import Settings, lambda_handler
from aiflow.store import MemoryStore
from aiflow.store.dynamodb import item_doc
from aiflow.testing import CallOptions, CallSimulator, SimulatorError
from tests.examples.hello import assistant as hello


def front_desk() -> Assistant:
    """Transfers on request (with a timeout), remembers keys, answers silence."""
    desk = Assistant("front-desk")

    @desk.on_session_start
    def greet(call: Call) -> str:
        return "Sorry, nobody answered." if call.resumed else "Front desk, hello."

    @desk.on_user_speak
    def answer(event: UserSpeakEvent, call: Call) -> Any:
        if "person" in event.text:
            target = transfer("+49 211 1234567", caller_id_name="Desk", caller_id_number="+4921100")
            return ["Connecting you.", target.model_copy(update={"timeout": 20})]
        return f"{'(interrupted) ' if event.barged_in else ''}You said {event.text}"

    @desk.on_dtmf
    def key(event: DtmfReceivedEvent, call: Call) -> str | None:
        call.state["keys"] = call.state.get("keys", "") + event.digit
        return f"You pressed {call.state['keys']}." if event.digit == "#" else None

    @desk.on_user_input_timeout
    def silence() -> list[Any]:
        return [speak("Still there? Goodbye."), hangup()]

    return desk


def test_a_goodbye_is_heard_in_full_before_the_hangup() -> None:
    with CallSimulator(hello) as call:
        call.start().expect.speak(contains="hello").no_more_actions()
        call.say("Bye!").expect.speak("Goodbye!").hangup().no_more_actions()

    assert (call.state, call.ended_by) == ("ended", "assistant")


def test_after_each_speech_the_platform_reports_its_start_and_end() -> None:
    with CallSimulator(hello) as call:
        call.start()
        turn = call.say("Hi")

    sent = [(e.by, e.event["type"]) for e in turn.exchanges]
    assert sent == [
        ("caller", "user_speak"),
        ("platform", "assistant_speak"),
        ("platform", "assistant_speech_ended"),
    ]
    started = turn.exchanges[1].event
    assert started["text"] == "You said: Hi"
    assert started["duration_ms"] >= 400
    assert started["speech_started_at"] > 1_700_000_000_000


def test_the_hangup_released_after_speech_is_followed_by_session_end() -> None:
    with CallSimulator(hello) as call:
        call.start()
        turn = call.say("bye")

    assert [e.event["type"] for e in turn.exchanges][-2:] == [
        "assistant_speech_ended",
        "session_end",
    ]
    assert turn.exchanges[-1].status == 204


def test_each_key_is_one_dtmf_event() -> None:
    store = MemoryStore()
    with CallSimulator(front_desk(), store=store) as call:
        call.start()
        turn = call.press("12#")
        turn.expect.barge_in().speak("You pressed 12#.").no_more_actions()
        doc = store.get(call.session_id)

    digits = [e.event["digit"] for e in turn.exchanges if e.by == "caller"]
    assert digits == ["1", "2", "#"]
    assert doc is not None and doc["state"] == {"keys": "12#"}


def test_keys_other_than_the_keypad_are_refused() -> None:
    with CallSimulator(front_desk()) as call:
        call.start()
        with pytest.raises(SimulatorError, match="0-9, \\* and #"):
            call.press("1a")


def test_silence_is_a_user_input_timeout() -> None:
    with CallSimulator(front_desk()) as call:
        call.start()
        call.stay_silent().expect.speak(contains="still there").hangup()
        assert call.turns[-1].exchanges[0].event["type"] == "user_input_timeout"


def test_an_interruption_is_user_speak_with_barged_in() -> None:
    with CallSimulator(front_desk()) as call:
        call.start()
        turn = call.say("wait", barged_in=True)

    turn.expect.speak("(interrupted) You said wait")
    assert turn.exchanges[0].event["barged_in"] is True


def test_a_failed_transfer_brings_the_caller_back_with_a_second_session_start() -> None:
    with CallSimulator(front_desk()) as call:
        call.start()
        call.say("a person please").expect.speak("Connecting you.").transfer(
            "+49 211 1234567", timeout=20
        ).no_more_actions()
        assert call.state == "transferring"
        with pytest.raises(SimulatorError, match="transferred to 492111234567"):
            call.say("hello?")

        back = call.fail_transfer()

    back.expect.speak("Sorry, nobody answered.")
    assert back.exchanges[0].event["type"] == "session_start"
    assert back.exchanges[0].event["session"]["from_phone_number"] == "+4917612345678"


def test_with_transfer_fails_the_caller_is_back_in_the_same_turn() -> None:
    with CallSimulator(front_desk(), options=CallOptions(transfer_fails=True)) as call:
        call.start()
        turn = call.say("a person please")
        assert call.state == "active"

    turn.expect.speak("Connecting you.").transfer().speak("Sorry, nobody answered.")


def test_the_caller_hanging_up_ends_the_call() -> None:
    with CallSimulator(hello) as call:
        call.start()
        call.hang_up().expect.status(204).nothing()
        with pytest.raises(SimulatorError, match="the call is over"):
            call.say("hello?")


def test_leaving_the_block_hangs_up_a_call_still_in_progress() -> None:
    store = MemoryStore()
    with CallSimulator(hello, store=store) as call:
        call.start()

    assert call.turns[-1].exchanges[0].event["type"] == "session_end"
    doc = store.get(call.session_id)
    assert doc is not None and doc["status"] == "ended"


def test_a_verb_before_start_says_what_to_do() -> None:
    with CallSimulator(hello) as call, pytest.raises(SimulatorError, match="start\\(\\) first"):
        call.say("hello")


def test_raw_events_are_sent_as_given() -> None:
    with CallSimulator(hello) as call:
        call.start()
        turn = call.send({"type": "sms_failed", "reason": "unknown"})

    turn.expect.status(204).nothing()
    assert turn.exchanges[0].event["session"]["id"] == call.session_id


def test_a_wrong_token_gets_401_and_nothing_runs() -> None:
    handler = lambda_handler(
        hello, store=MemoryStore(), token="the-right-token-1234", settings=Settings()
    )
    with CallSimulator(handler, token="wrong") as call:
        turn = call.start()

    turn.expect.status(401).nothing()
    assert json.loads(turn.exchanges[0].body)["code"] == "unauthorized"


def test_a_lambda_handler_can_be_named_as_module_and_object() -> None:
    with CallSimulator("tests.examples.hello:assistant") as call:
        call.start().expect.speak(contains="Hello")


def test_with_raise_errors_off_a_failing_handler_is_heard_as_the_fallback() -> None:
    broken = Assistant("broken")

    @broken.on_session_start
    def greet() -> str:
        raise RuntimeError("bug")

    with CallSimulator(broken, raise_errors=False) as call:
        turn = call.start()

    turn.expect.speak(contains="something went wrong")
    assert turn.exchanges[0].fallback == "handler_error"
    assert str(turn.exchanges[0].handler_error) == "bug"


def test_the_transcript_is_json_with_the_conversation_and_every_request() -> None:
    with CallSimulator(hello, options=CallOptions(caller="+4930123456")) as call:
        call.start()
        call.say("bye")
        transcript = json.loads(json.dumps(call.transcript()))

    assert transcript["caller"] == "+4930123456"
    assert transcript["ended_by"] == "assistant"
    assert [
        (line["who"], line.get("action"), line["text"]) for line in transcript["conversation"]
    ] == [
        ("caller", None, "(calls)"),
        ("assistant", "speak", "Hello! Say something."),
        ("caller", None, "bye"),
        ("assistant", "speak", "Goodbye!"),
        ("assistant", "hangup", "(hangup)"),
    ]
    assert transcript["turns"][1]["exchanges"][0] == {
        "by": "caller",
        "event": {"type": "user_speak", "text": "bye"},
        "status": 200,
        "latency_ms": transcript["turns"][1]["exchanges"][0]["latency_ms"],
        "actions": transcript["turns"][1]["exchanges"][0]["actions"],
    }
    assert transcript["turns"][1]["exchanges"][0]["actions"][0]["text"] == "Goodbye!"


@pytest.mark.slow
def test_calls_go_through_dynamodb_when_given_its_store(aiflow_dynamodb: Any) -> None:
    with CallSimulator(hello, store=aiflow_dynamodb.store()) as call:
        call.start()
        call.say("Hi")
        item = aiflow_dynamodb.item(call.session_id)

    assert item is not None
    doc = item_doc(item)
    assert [t["text"] for t in doc["history"]] == ["Hello! Say something.", "Hi", "You said: Hi"]
    assert int(item["expires_at"]["N"]) > 0
