"""A whole call through the Assistant core with a BedrockAgent behind ``on_user_speak``:
platform events in, wire actions out, Bedrock stubbed with botocore's Stubber."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from aiflow import (
    Assistant,
    Call,
    DtmfReceivedEvent,
    Reply,
    UserSpeakEvent,
    parse_event,
)
from aiflow.agents import BedrockAgent

MODEL = "eu.amazon.nova-lite-v1:0"
SYSTEM = "Du bist die Telefonassistenz der Praxis Weber. Antworte kurz."
SESSION = {
    "id": "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b",
    "account_id": "acc-7731",
    "phone_number": "+4921198765400",
    "from_phone_number": "+4917612345678",
}


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("bedrock-runtime", region_name="eu-central-1")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def build(stub: Stubber) -> tuple[Assistant, BedrockAgent]:
    agent = BedrockAgent(
        {
            "model_id": MODEL,
            "system_prompt": SYSTEM,
            "language": "de",
            "transfer_targets": {
                "empfang": ["+4921198765411", "Praxis Weber", "+4921198765400", 25],
            },
        },
        client=stub.client,
    )
    assistant = Assistant("praxis", language="de-DE", user_input_timeout=8)

    @assistant.on_session_start
    def greet() -> str:
        return "Praxis Weber, guten Tag."

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent, call: Call) -> Any:
        return agent.respond(call, event.text)

    @assistant.on_dtmf
    def keys(event: DtmfReceivedEvent, call: Call) -> Any:
        return agent.on_dtmf(call, event.digit)

    return assistant, agent


def event(kind: str, **fields: Any) -> Any:
    return parse_event({"type": kind, "session": SESSION, **fields})


def respond(text: str, stop: str = "end_turn") -> dict[str, Any]:
    return reply([{"text": text}], stop)


def reply(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 100},
    }


def wire(result: Reply) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    strip = lambda a: {k: v for k, v in a.to_wire().items() if k != "session_id"}  # noqa: E731
    return [strip(a) for a in result.actions], [strip(a) for a in result.deferred]


def test_a_call_with_an_answer_a_keypad_input_and_a_goodbye(stub: Stubber) -> None:
    assistant, agent = build(stub)
    start = event("session_start")
    call = Call.from_session(start.session)
    assistant.handle(start, call)

    stub.add_response("converse", respond("Gern. Wie ist Ihre Kundennummer?"))
    now, later = wire(assistant.handle(event("user_speak", text="Ich brauche einen Termin."), call))
    assert now == [
        {
            "type": "speak",
            "text": "Gern. Wie ist Ihre Kundennummer?",
            "user_input_timeout_seconds": 8,
        }
    ]
    assert later == []

    ask = {"prompt": "Bitte tippen Sie sie ein und drücken Sie Raute.", "max_digits": 8}
    stub.add_response(
        "converse",
        reply(
            [{"toolUse": {"toolUseId": "d1", "name": "collect_digits", "input": ask}}], "tool_use"
        ),
    )
    now, _ = wire(assistant.handle(event("user_speak", text="Die weiß ich nicht auswendig."), call))
    assert now[0]["text"] == "Bitte tippen Sie sie ein und drücken Sie Raute."
    for digit in "4711":
        assert assistant.handle(event("dtmf_received", digit=digit), call).actions == []
    stub.add_response("converse", respond("Danke. Ich habe Dienstag um 9 Uhr für Sie."))
    now, _ = wire(assistant.handle(event("dtmf_received", digit="#"), call))
    assert now[0] == {"type": "barge_in"}  # a key press stops the speech playing
    assert now[1]["text"] == "Danke. Ich habe Dienstag um 9 Uhr für Sie."
    messages = call.state["bedrock"]["messages"]
    assert messages[-2] == {"role": "user", "content": [{"text": "[keypad] 4711"}]}

    stub.add_response(
        "converse",
        reply(
            [
                {
                    "toolUse": {
                        "toolUseId": "e1",
                        "name": "end_call",
                        "input": {"farewell": "Auf Wiederhören!"},
                    }
                }
            ],
            "tool_use",
        ),
    )
    now, later = wire(assistant.handle(event("user_speak", text="Super, danke, tschüss."), call))
    # The core holds the hangup back until the farewell has been heard.
    # Speech before a deferred hangup is not interruptible: its end must be reported.
    assert now == [{"type": "speak", "text": "Auf Wiederhören!", "barge_in": {"strategy": "none"}}]
    assert later == [{"type": "hangup"}]
    released, _ = wire(assistant.handle(event("assistant_speech_ended"), call))
    assert released == [{"type": "hangup"}]
    assert [t.role for t in call.history] == [
        "assistant",
        "caller",
        "assistant",
        "caller",
        "assistant",
        "assistant",
        "caller",
        "assistant",
    ]


def test_transfer_is_deferred_until_the_handoff_was_spoken(stub: Stubber) -> None:
    assistant, _ = build(stub)
    call = Call.from_session(event("session_start").session)
    use = {"target": "empfang", "handoff": "Ich verbinde Sie mit dem Empfang."}
    stub.add_response(
        "converse",
        reply(
            [{"toolUse": {"toolUseId": "t1", "name": "transfer_call", "input": use}}], "tool_use"
        ),
    )
    now, later = wire(assistant.handle(event("user_speak", text="Empfang bitte"), call))
    assert now == [
        {
            "type": "speak",
            "text": "Ich verbinde Sie mit dem Empfang.",
            "barge_in": {"strategy": "none"},
        }
    ]
    assert later == [
        {
            "type": "transfer",
            "target_phone_number": "4921198765411",
            "caller_id_name": "Praxis Weber",
            "caller_id_number": "4921198765400",
            "timeout": 25,
        }
    ]


def test_bedrock_throttling_gives_the_fallback_and_keeps_the_history(stub: Stubber) -> None:
    assistant, _ = build(stub)
    call = Call.from_session(event("session_start").session)
    stub.add_response("converse", respond("Guten Tag!"))
    assistant.handle(event("user_speak", text="Hallo"), call)
    before = copy.deepcopy(call.state)

    stub.add_client_error("converse", "ThrottlingException", http_status_code=429)
    result = assistant.handle(event("user_speak", text="Haben Sie heute offen?"), call)
    assert result.fallback is True
    assert wire(result)[0] == [
        {
            "type": "speak",
            "text": "Entschuldigung, da ist bei uns etwas schiefgelaufen. Bitte sagen Sie das "
            "noch einmal.",
            "user_input_timeout_seconds": 8,
        }
    ]
    assert call.state == before  # no dangling user message

    # The next turn alternates correctly: the failed text is not in the request.
    stub.add_response(
        "converse",
        respond("Ja, bis 18 Uhr."),
        {
            "modelId": MODEL,
            "messages": [
                {"role": "user", "content": [{"text": "Hallo"}]},
                {"role": "assistant", "content": [{"text": "Guten Tag!"}]},
                {"role": "user", "content": [{"text": "Haben Sie heute offen?"}]},
            ],
            "system": [{"text": SYSTEM}],
            "inferenceConfig": {"maxTokens": 300},
            "toolConfig": {"tools": agent_tools(stub)},
        },
    )
    result = assistant.handle(event("user_speak", text="Haben Sie heute offen?"), call)
    assert result.fallback is False


def agent_tools(stub: Stubber) -> list[dict[str, Any]]:
    return build(stub)[1].tool_specs()
