"""ConverseStream: botocore's Stubber cannot stub it (it validates the ``stream`` member as a
structure, so an event list or an EventStream object is refused). These tests use a real
client and answer its HTTP request in-process from the ``before-send`` hook with binary
event-stream frames, so serialisation and botocore's EventStream parser run for real."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aiflow import HangupAction, SendSmsAction
from aiflow.agents import AgentError, BedrockAgent, tool

from .bedrock_fakes import (
    MODEL,
    SYSTEM,
    StreamServer,
    assistant,
    encode_event,
    encode_exception,
    new_call,
    stubbed_client,
    text_stream,
    tool_stream,
    user,
)


@tool
def opening_hours(day: str) -> str:
    """Opening hours on one weekday."""
    return "8-12" if day == "fri" else "8-18"


@pytest.fixture
def server() -> tuple[BedrockAgent, StreamServer]:
    client, _ = stubbed_client()
    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "allow_digits": False, "allow_sms": True},
        tools=[opening_hours],
        client=client,
    )
    return agent, StreamServer(client)


def test_sentences_are_yielded_one_by_one_as_they_complete(
    server: tuple[BedrockAgent, StreamServer],
) -> None:
    agent, srv = server
    call = new_call(state={"bedrock": {"messages": [user("Hallo"), assistant("Guten Tag!")]}})
    srv.add(text_stream("Gern! Ihr Termin ist am 3.", " Mai um 10 Uhr. Pass", "t das?"))
    stream = agent.stream(call, "Wann ist mein Termin?")
    assert next(stream) == "Gern!"
    # Only the first frames are consumed so far; the history is not written yet.
    assert call.state["bedrock"]["messages"][-1] == assistant("Guten Tag!")
    assert list(stream) == ["Ihr Termin ist am 3. Mai um 10 Uhr.", "Passt das?"]
    body = srv.requests[0]
    assert body["messages"] == [
        user("Hallo"),
        assistant("Guten Tag!"),
        user("Wann ist mein Termin?"),
    ]
    assert body["system"] == [{"text": SYSTEM}]
    assert body["inferenceConfig"] == {"maxTokens": 300}
    assert [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]] == [
        "end_call",
        "send_sms",
        "opening_hours",
    ]
    assert call.state["bedrock"]["messages"][-2:] == [
        user("Wann ist mein Termin?"),
        assistant("Gern! Ihr Termin ist am 3. Mai um 10 Uhr. Passt das?"),
    ]


def test_tool_use_in_a_stream_runs_the_tool_loop(server: tuple[BedrockAgent, StreamServer]) -> None:
    agent, srv = server
    call = new_call()
    srv.add(tool_stream("Ich schaue nach.", "t1", "opening_hours", ['{"day":', ' "fri"}']))
    srv.add(text_stream("Freitags von 8 bis 12. ", "Sonst noch etwas?"))
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
    assert srv.requests[1]["messages"] == [user("Freitag?"), tool_call, tool_result]
    assert call.state["bedrock"]["messages"] == [
        user("Freitag?"),
        tool_call,
        tool_result,
        assistant("Freitags von 8 bis 12. Sonst noch etwas?"),
    ]


def test_end_call_and_sms_in_a_stream_yield_actions(
    server: tuple[BedrockAgent, StreamServer],
) -> None:
    agent, srv = server
    srv.add(tool_stream(None, "t1", "send_sms", ['{"message": "Hauptstr. 1"}']))
    srv.add(
        tool_stream("Die SMS ist raus.", "t2", "end_call", ['{"farewell": "Tschüss! Bis bald."}'])
    )
    items = list(agent.stream(new_call(), "Adresse per SMS, dann auflegen"))
    assert items[0] == SendSmsAction(phone_number="4917612345678", message="Hauptstr. 1")
    assert items[1:4] == ["Die SMS ist raus.", "Tschüss!", "Bis bald."]
    assert items[4] == HangupAction()


def test_error_in_the_middle_of_a_stream(server: tuple[BedrockAgent, StreamServer]) -> None:
    agent, srv = server
    state = {"bedrock": {"messages": [user("Hallo"), assistant("Tag!")]}}
    call = new_call(state=copy.deepcopy(state))
    frames = text_stream("Erster Satz. Zweiter")[:2]  # messageStart + the first delta
    srv.add([*frames, encode_exception("throttlingException", "slow down")])
    stream = agent.stream(call, "Erzählen Sie")
    heard: list[str] = []
    with pytest.raises(AgentError) as info:
        for item in stream:
            heard.append(str(item))
    assert heard == ["Erster Satz."]  # the caller may have heard this already
    assert info.value.aws_code == "throttlingException" and info.value.retryable
    assert call.state == state


def test_http_error_before_the_stream(server: tuple[BedrockAgent, StreamServer]) -> None:
    agent, srv = server

    class Refused:
        def converse_stream(self, **kwargs: Any) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ServiceUnavailableException", "Message": "down"}},
                "ConverseStream",
            )

    agent._converse._client = Refused()  # type: ignore[assignment]
    with pytest.raises(AgentError) as info:
        list(agent.stream(new_call(), "x"))
    assert info.value.aws_code == "ServiceUnavailableException" and info.value.retryable


def test_max_tokens_drops_the_unfinished_sentence(
    server: tuple[BedrockAgent, StreamServer],
) -> None:
    agent, srv = server
    call = new_call()
    srv.add(text_stream("Das ist fertig. Das ist nicht fer", stop="max_tokens"))
    assert list(agent.stream(call, "x")) == ["Das ist fertig."]
    assert call.state["bedrock"]["messages"][-1] == assistant("Das ist fertig.")


def test_stopping_early_keeps_nothing(server: tuple[BedrockAgent, StreamServer]) -> None:
    agent, srv = server
    call = new_call()
    srv.add(text_stream("Eins. Zwei. Drei."))
    stream = agent.stream(call, "Zählen")
    assert next(stream) == "Eins."
    stream.close()  # e.g. the caller barged in
    assert call.state == {}
    assert srv.bodies[0].closed  # the HTTP response is released


class FakeStreamClient:
    """A client object with the same method as boto3's, for event sequences that are awkward
    to encode: several text blocks, an unknown tool name, empty tool input."""

    def __init__(self, events: list[list[dict[str, Any]]]) -> None:
        self.events = events
        self.requests: list[dict[str, Any]] = []

    def converse_stream(self, **request: Any) -> dict[str, Any]:
        self.requests.append(copy.deepcopy(request))
        return {"stream": iter(self.events.pop(0))}


def test_stream_with_a_fake_client_and_the_step_limit() -> None:
    start = {"messageStart": {"role": "assistant"}}

    def tool_turn(use_id: str) -> list[dict[str, Any]]:
        return [
            start,
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Moment"}}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": " bitte."}}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {
                "contentBlockStart": {
                    "contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": use_id, "name": "opening_hours"}},
                }
            },
            {"contentBlockStop": {"contentBlockIndex": 1}},
            {"messageStop": {"stopReason": "tool_use"}},
            {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 5}}},
        ]

    fake = FakeStreamClient([tool_turn("a"), tool_turn("b")])
    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "max_tool_steps": 2, "language": "de"},
        tools=[opening_hours],
        client=fake,  # type: ignore[arg-type]
    )
    call = new_call()
    items = list(agent.stream(call, "?"))
    assert items == [
        "Moment bitte.",
        "Moment bitte.",
        "Entschuldigung, das hat nicht geklappt.",
        "Können Sie das bitte noch einmal sagen?",
    ]
    assert fake.requests[0]["modelId"] == MODEL
    second = fake.requests[1]["messages"]
    assert second[1]["content"][1] == {
        "toolUse": {"toolUseId": "a", "name": "opening_hours", "input": {}}
    }
    assert second[2]["content"][0]["toolResult"]["status"] == "error"  # day is required
    assert call.state["bedrock"]["messages"][-1] == assistant(
        "Entschuldigung, das hat nicht geklappt. Können Sie das bitte noch einmal sagen?"
    )


def test_stream_encoder_round_trip() -> None:
    """The test encoder produces frames botocore's own decoder accepts."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(encode_event("messageStop", {"stopReason": "end_turn"}))
    (message,) = list(buffer)
    assert message.headers[":event-type"] == "messageStop"
    assert message.payload == b'{"stopReason": "end_turn"}'
