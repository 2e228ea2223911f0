"""BedrockAgent.stream: ConverseStream, one sentence at a time. The fake model's answers go
through botocore's real event-stream parser (word by word, tool input in pieces); the frames
of a stream that breaks off are written out by hand with StreamServer."""

from __future__ import annotations

import copy

import pytest

from aiflow import HangupAction, SendSmsAction
from aiflow.agents import AgentError, BedrockAgent

from .bedrock_fakes import (
    MODEL,
    SYSTEM,
    AwsError,
    StreamServer,
    assistant,
    encode_event,
    encode_exception,
    model_turn,
    new_call,
    practice,
    stubbed_client,
    text_stream,
    user,
)


def test_sentences_are_yielded_one_by_one_as_they_complete() -> None:
    agent, model = practice(
        {
            "Wann ist mein Termin?": model_turn(
                "Gern! Ihr Termin ist am 3. Mai um 10 Uhr. Passt das?"
            )
        }
    )
    call = new_call(state={"bedrock": {"messages": [user("Hallo"), assistant("Guten Tag!")]}})
    stream = agent.stream(call, "Wann ist mein Termin?")
    assert next(stream) == "Gern!"
    assert not model.bodies[0].closed  # still streaming
    # The history is written when the turn is complete, not before.
    assert call.state["bedrock"]["messages"][-1] == assistant("Guten Tag!")
    assert list(stream) == ["Ihr Termin ist am 3. Mai um 10 Uhr.", "Passt das?"]
    assert model.requests[0]["messages"] == [
        user("Hallo"),
        assistant("Guten Tag!"),
        user("Wann ist mein Termin?"),
    ]
    assert model.requests[0]["system"] == [{"text": SYSTEM}]
    assert model.requests[0]["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.3}
    assert call.state["bedrock"]["messages"][-2:] == [
        user("Wann ist mein Termin?"),
        assistant("Gern! Ihr Termin ist am 3. Mai um 10 Uhr. Passt das?"),
    ]


def test_what_the_model_says_before_a_tool_is_heard_before_the_tool_runs() -> None:
    agent, model = practice(
        {
            "Freitag?": model_turn("Ich schaue nach.", ("opening_hours", {"day": "fri"})),
            "8-12": model_turn("Freitags von 8 bis 12. Sonst noch etwas?"),
        }
    )
    call = new_call()
    items = list(agent.stream(call, "Freitag?"))
    assert items == ["Ich schaue nach.", "Freitags von 8 bis 12.", "Sonst noch etwas?"]
    tool_call = {
        "role": "assistant",
        "content": [
            {"text": "Ich schaue nach."},
            {"toolUse": {"toolUseId": "t1", "name": "opening_hours", "input": {"day": "fri"}}},
        ],
    }
    tool_result = {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "8-12"}]}}],
    }
    assert model.requests[1]["messages"] == [user("Freitag?"), tool_call, tool_result]
    assert call.state["bedrock"]["messages"] == [
        user("Freitag?"),
        tool_call,
        tool_result,
        assistant("Freitags von 8 bis 12. Sonst noch etwas?"),
    ]


def test_an_sms_and_the_hangup_come_as_actions_after_their_speech() -> None:
    agent, _ = practice(
        {
            "Adresse per SMS, dann auflegen": model_turn(
                None, ("send_sms", {"message": "Hauptstr. 1"})
            ),
            "text message sent": model_turn(
                "Die SMS ist raus.", ("end_call", {"farewell": "Tschüss! Bis bald."})
            ),
        }
    )
    items = list(agent.stream(new_call(), "Adresse per SMS, dann auflegen"))
    assert items == [
        SendSmsAction(phone_number="4917612345678", message="Hauptstr. 1"),
        "Die SMS ist raus.",
        "Tschüss!",
        "Bis bald.",
        HangupAction(),
    ]


def test_the_step_limit_in_a_stream() -> None:
    agent, model = practice(
        {
            "?": model_turn("Moment bitte.", ("opening_hours", {})),
            "error: invalid arguments: day: Field required": model_turn(
                "Moment bitte.", ("opening_hours", {})
            ),
        },
        max_tool_steps=2,
        language="de",
    )
    call = new_call()
    assert list(agent.stream(call, "?")) == [
        "Moment bitte.",
        "Moment bitte.",
        "Entschuldigung, das hat nicht geklappt.",
        "Können Sie das bitte noch einmal sagen?",
    ]
    assert model.requests[1]["messages"][1]["content"][1] == {
        "toolUse": {"toolUseId": "t1", "name": "opening_hours", "input": {}}
    }
    assert call.state["bedrock"]["messages"][-1] == assistant(
        "Entschuldigung, das hat nicht geklappt. Können Sie das bitte noch einmal sagen?"
    )


def test_max_tokens_drops_the_unfinished_sentence() -> None:
    agent, _ = practice({"x": model_turn("Das ist fertig. Das ist nicht fer", stop="max_tokens")})
    call = new_call()
    assert list(agent.stream(call, "x")) == ["Das ist fertig."]
    assert call.state["bedrock"]["messages"][-1] == assistant("Das ist fertig.")


def test_stopping_early_keeps_nothing_and_releases_the_connection() -> None:
    agent, model = practice({"Zählen": model_turn("Eins. Zwei. Drei.")})
    call = new_call()
    stream = agent.stream(call, "Zählen")
    assert next(stream) == "Eins."
    stream.close()  # e.g. the caller barged in
    assert call.state == {}
    assert model.bodies[0].closed


def test_an_http_error_before_the_stream() -> None:
    agent, _ = practice({"x": AwsError("ServiceUnavailableException", 503)}, max_attempts=1)
    with pytest.raises(AgentError) as info:
        list(agent.stream(new_call(), "x"))
    assert info.value.aws_code == "ServiceUnavailableException" and info.value.retryable


def test_an_error_in_the_middle_of_a_stream_keeps_nothing() -> None:
    client, _ = stubbed_client()
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM}, client=client)
    server = StreamServer(client)
    state = {"bedrock": {"messages": [user("Hallo"), assistant("Tag!")]}}
    call = new_call(state=copy.deepcopy(state))
    frames = text_stream("Erster Satz. Zweiter")[:2]  # messageStart + the first delta
    server.add([*frames, encode_exception("throttlingException", "slow down")])
    heard: list[str] = []
    with pytest.raises(AgentError) as info:
        for item in agent.stream(call, "Erzählen Sie"):
            heard.append(str(item))
    assert heard == ["Erster Satz."]  # the caller may have heard this already
    assert info.value.aws_code == "throttlingException" and info.value.retryable
    assert call.state == state


def test_stream_encoder_round_trip() -> None:
    """The test encoder produces frames botocore's own decoder accepts."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(encode_event("messageStop", {"stopReason": "end_turn"}))
    (message,) = list(buffer)
    assert message.headers[":event-type"] == "messageStop"
    assert message.payload == b'{"stopReason": "end_turn"}'
