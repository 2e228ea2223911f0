from __future__ import annotations

import asyncio
import copy
import logging
import subprocess
import sys
from typing import Any, Literal

import pytest
from botocore.stub import Stubber
from pydantic import BaseModel, ValidationError

from aiflow import (
    AssistantDefinitionError,
    Call,
    HangupAction,
    SendSmsAction,
    SpeakAction,
    TransferAction,
)
from aiflow.agents import AgentError, BedrockAgent, BedrockConfig, TransferTarget, tool
from aiflow.agents.bedrock import trim_history

from .bedrock_fakes import (
    MODEL,
    SYSTEM,
    assistant,
    converse_response,
    new_call,
    text_response,
    tool_response,
    user,
)

CONFIG: dict[str, Any] = {
    "model_id": MODEL,
    "system_prompt": SYSTEM,
    "transfer_targets": {
        "reception": {
            "number": "+4921198765411",
            "caller_id_name": "Praxis Weber",
            "caller_id_number": "+4921198765400",
            "timeout": 25,
            "description": "front desk",
        },
        "billing": ["+49 211 98765422", "Praxis Weber", "+4921198765400"],
    },
    "allow_sms": True,
    "max_tokens": 200,
    "temperature": 0.3,
}


@tool
def opening_hours(day: Literal["mon", "tue", "wed", "thu", "fri"]) -> str:
    """Opening hours on one weekday.

    Args:
        day: the weekday.
    """
    return "8-12" if day == "fri" else "8-18"


TRANSFER_SPEC = {
    "toolSpec": {
        "name": "transfer_call",
        "description": "Transfer the caller to a person. Targets: reception (front desk); billing.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "target": {"type": "string", "enum": ["reception", "billing"]},
                    "handoff": {
                        "type": "string",
                        "description": "short sentence said before transferring",
                    },
                },
                "required": ["target", "handoff"],
            }
        },
    }
}
END_SPEC = {
    "toolSpec": {
        "name": "end_call",
        "description": "End the call when the conversation is over.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"farewell": {"type": "string", "description": "last sentence said"}},
                "required": ["farewell"],
            }
        },
    }
}
SMS_SPEC = {
    "toolSpec": {
        "name": "send_sms",
        "description": "Send a text message to the caller's phone.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"message": {"type": "string", "maxLength": 640}},
                "required": ["message"],
            }
        },
    }
}
DIGITS_SPEC = {
    "toolSpec": {
        "name": "collect_digits",
        "description": "Ask the caller to type digits on the phone keypad. They arrive as the "
        "next user message '[keypad] <digits>'.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "what to say"},
                    "max_digits": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["prompt", "max_digits"],
            }
        },
    }
}
HOURS_SPEC = {
    "toolSpec": {
        "name": "opening_hours",
        "description": "Opening hours on one weekday.",
        "inputSchema": {
            "json": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "day": {
                        "description": "the weekday.",
                        "enum": ["mon", "tue", "wed", "thu", "fri"],
                        "type": "string",
                    }
                },
                "required": ["day"],
            }
        },
    }
}
ALL_TOOLS = [TRANSFER_SPEC, END_SPEC, SMS_SPEC, DIGITS_SPEC, HOURS_SPEC]


def request(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> dict:
    """The exact Converse request the agent must send for CONFIG."""
    return {
        "modelId": MODEL,
        "messages": messages,
        "system": [{"text": SYSTEM}],
        "inferenceConfig": {"maxTokens": 200, "temperature": 0.3},
        "toolConfig": {"tools": ALL_TOOLS if tools is None else tools},
    }


def make_agent(client: Any, **overrides: Any) -> BedrockAgent:
    return BedrockAgent({**CONFIG, **overrides}, tools=[opening_hours], client=client)


def wire(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.to_wire() for a in actions]


def tool_use(use_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": use_id, "name": name, "input": args}}


def result(use_id: str, content: dict[str, Any], *, error: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"toolUseId": use_id, "content": [content]}
    if error:
        block["status"] = "error"
    return {"toolResult": block}


# --- request shape, plain answers, history ---------------------------------------------------


def test_request_shape_with_persisted_history_and_plain_answer(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stub = bedrock
    call = new_call(state={"bedrock": {"messages": [user("Hallo"), assistant("Guten Tag!")]}})
    stub.add_response(
        "converse",
        text_response("Wir haben bis 18 Uhr geöffnet. Noch etwas?"),
        request([user("Hallo"), assistant("Guten Tag!"), user("Wie lange haben Sie offen?")]),
    )
    actions = make_agent(client).respond(call, "  Wie lange haben Sie offen? ")
    assert wire(actions) == [
        {"type": "speak", "text": "Wir haben bis 18 Uhr geöffnet. Noch etwas?"}
    ]
    assert call.state == {
        "bedrock": {
            "messages": [
                user("Hallo"),
                assistant("Guten Tag!"),
                user("Wie lange haben Sie offen?"),
                assistant("Wir haben bis 18 Uhr geöffnet. Noch etwas?"),
            ]
        }
    }


def test_minimal_config_offers_only_end_call_and_collect_digits(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stub = bedrock
    stub.add_response(
        "converse",
        text_response("Hi."),
        {
            "modelId": MODEL,
            "messages": [user("Hi")],
            "system": [{"text": SYSTEM}],
            "inferenceConfig": {"maxTokens": 300},
            "toolConfig": {"tools": [END_SPEC, DIGITS_SPEC]},
        },
    )
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM}, client=client)
    assert wire(agent.respond(new_call(), "Hi")) == [{"type": "speak", "text": "Hi."}]


def test_no_tools_at_all_sends_no_tool_config(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    stub.add_response(
        "converse",
        text_response("Hi."),
        {
            "modelId": MODEL,
            "messages": [user("Hi")],
            "system": [{"text": SYSTEM}],
            "inferenceConfig": {"maxTokens": 300},
        },
    )
    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "allow_hangup": False, "allow_digits": False},
        client=client,
    )
    agent.respond(new_call(), "Hi")


def test_prompt_cache_points_and_no_error_status(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    stub.add_response(
        "converse",
        tool_response(("t1", "opening_hours", {"day": "sun"})),
        {
            "modelId": MODEL,
            "messages": [user("Sonntag?")],
            "system": [{"text": SYSTEM}, {"cachePoint": {"type": "default"}}],
            "inferenceConfig": {"maxTokens": 300},
            "toolConfig": {"tools": [HOURS_SPEC, {"cachePoint": {"type": "default"}}]},
        },
    )
    bad_day = "invalid arguments: day: Input should be 'mon', 'tue', 'wed', 'thu' or 'fri'"
    stub.add_response(
        "converse",
        text_response("Sonntags ist zu."),
        {
            "modelId": MODEL,
            "messages": [
                user("Sonntag?"),
                {"role": "assistant", "content": [tool_use("t1", "opening_hours", {"day": "sun"})]},
                {"role": "user", "content": [result("t1", {"text": bad_day})]},
            ],
            "system": [{"text": SYSTEM}, {"cachePoint": {"type": "default"}}],
            "inferenceConfig": {"maxTokens": 300},
            "toolConfig": {"tools": [HOURS_SPEC, {"cachePoint": {"type": "default"}}]},
        },
    )
    agent = BedrockAgent(
        {
            "model_id": MODEL,
            "system_prompt": SYSTEM,
            "allow_hangup": False,
            "allow_digits": False,
            "cache_prompt": True,
            "tool_error_status": False,
        },
        tools=[opening_hours],
        client=client,
    )
    assert wire(agent.respond(new_call(), "Sonntag?")) == [
        {"type": "speak", "text": "Sonntags ist zu."}
    ]


def test_empty_text_calls_nothing(bedrock: tuple[Any, Stubber]) -> None:
    client, _ = bedrock
    call = new_call()
    assert make_agent(client).respond(call, "   ") == []
    assert call.state == {}


def test_history_is_trimmed_to_whole_turns(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    old = [
        user("eins"),
        {"role": "assistant", "content": [tool_use("a", "opening_hours", {"day": "mon"})]},
        {"role": "user", "content": [result("a", {"text": "8-18"})]},
        assistant("Montag 8 bis 18."),
        user("zwei"),
        assistant("Zwei."),
        user("drei"),
        assistant("Drei."),
    ]
    call = new_call(state={"bedrock": {"messages": copy.deepcopy(old)}, "mine": 1})
    # history_messages=5: the first turn (4 messages) cannot be kept whole, so it goes.
    stub.add_response(
        "converse",
        text_response("Vier."),
        request([*old[4:], user("vier")]),
    )
    make_agent(client, history_messages=5).respond(call, "vier")
    assert call.state["bedrock"]["messages"] == [*old[6:], user("vier"), assistant("Vier.")]
    assert call.state["mine"] == 1


def test_trim_history_never_splits_a_tool_call_from_its_result() -> None:
    turn = [
        user("a"),
        {"role": "assistant", "content": [tool_use("1", "x", {})]},
        {"role": "user", "content": [result("1", {"text": "r"})]},
        assistant("b"),
    ]
    assert trim_history(turn * 2, 5) == turn
    assert trim_history(turn, 2) == turn  # one turn longer than the limit is kept whole
    assert trim_history(turn, 4) == turn
    assert trim_history([], 3) == []


def test_broken_stored_history_is_repaired(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    stored = [
        assistant("starts with assistant"),
        {"role": "user", "content": [result("x", {"text": "orphan"})]},
        "garbage",
        {"role": "system", "content": [{"text": "?"}]},
        user("eins"),
        assistant("Eins."),
        user("dangling user message of a failed old turn"),
    ]
    call = new_call(state={"bedrock": {"messages": stored}})
    stub.add_response(
        "converse",
        text_response("Zwei."),
        request([user("eins"), assistant("Eins."), user("zwei")]),
    )
    make_agent(client).respond(call, "zwei")
    assert call.state["bedrock"]["messages"][-1] == assistant("Zwei.")


def test_not_a_dict_store_is_replaced(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call(state={"bedrock": "nonsense"})
    stub.add_response("converse", text_response("Ja."), request([user("Hallo")]))
    make_agent(client).respond(call, "Hallo")
    assert call.state["bedrock"]["messages"] == [user("Hallo"), assistant("Ja.")]


# --- built-in tools --------------------------------------------------------------------------


def test_transfer_call_speaks_handoff_then_transfers_to_configured_number(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stub = bedrock
    call = new_call()
    stub.add_response(
        "converse",
        tool_response(
            ("t1", "transfer_call", {"target": "reception", "handoff": "Ich verbinde Sie."})
        ),
        request([user("Ich will jemanden sprechen")]),
    )
    actions = make_agent(client).respond(call, "Ich will jemanden sprechen")
    assert wire(actions) == [
        {"type": "speak", "text": "Ich verbinde Sie."},
        {
            "type": "transfer",
            "target_phone_number": "4921198765411",
            "caller_id_name": "Praxis Weber",
            "caller_id_number": "4921198765400",
            "timeout": 25,
        },
    ]
    assert call.state["bedrock"]["messages"] == [
        user("Ich will jemanden sprechen"),
        {
            "role": "assistant",
            "content": [
                tool_use(
                    "t1", "transfer_call", {"target": "reception", "handoff": "Ich verbinde Sie."}
                )
            ],
        },
        {"role": "user", "content": [result("t1", {"text": "transferring to reception"})]},
        assistant("Ich verbinde Sie."),
    ]


def test_transfer_target_from_list_config_and_default_handoff(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    stub.add_response(
        "converse",
        tool_response(("t1", "transfer_call", {"target": "BILLING"}), text="Gern."),
        request([user("Rechnung")]),
    )
    actions = make_agent(client, language="de").respond(new_call(), "Rechnung")
    assert wire(actions) == [
        {"type": "speak", "text": "Gern. Einen Moment bitte, ich verbinde Sie."},
        {
            "type": "transfer",
            "target_phone_number": "4921198765422",
            "caller_id_name": "Praxis Weber",
            "caller_id_number": "4921198765400",
        },
    ]


def test_invented_transfer_target_is_refused_and_the_model_recovers(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stub = bedrock
    call = new_call()
    invented = {"target": "+4917099999999", "handoff": "Ich verbinde."}
    stub.add_response(
        "converse",
        tool_response(("t1", "transfer_call", invented)),
        request([user("Verbinden Sie mich mit 0170 99999999")]),
    )
    refusal = "unknown target '+4917099999999'; use one of: reception, billing"
    stub.add_response(
        "converse",
        text_response("Dorthin kann ich nicht verbinden, nur zum Empfang."),
        request(
            [
                user("Verbinden Sie mich mit 0170 99999999"),
                {"role": "assistant", "content": [tool_use("t1", "transfer_call", invented)]},
                {"role": "user", "content": [result("t1", {"text": refusal}, error=True)]},
            ]
        ),
    )
    actions = make_agent(client).respond(call, "Verbinden Sie mich mit 0170 99999999")
    assert [type(a) for a in actions] == [SpeakAction]
    assert not any(isinstance(a, TransferAction) for a in actions)


def test_end_call_speaks_farewell_then_hangs_up(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call()
    stub.add_response(
        "converse",
        tool_response(("t1", "end_call", {"farewell": "Auf Wiederhören!"})),
        request([user("Danke, tschüss")]),
    )
    actions = make_agent(client).respond(call, "Danke, tschüss")
    assert wire(actions) == [{"type": "speak", "text": "Auf Wiederhören!"}, {"type": "hangup"}]
    assert call.state["bedrock"]["messages"][-1] == assistant("Auf Wiederhören!")


def test_end_call_without_farewell_uses_the_configured_one(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    stub.add_response(
        "converse", tool_response(("t1", "end_call", {"farewell": " "})), request([user("bye")])
    )
    actions = make_agent(client, farewell_text="Bye from Praxis Weber.").respond(new_call(), "bye")
    assert wire(actions) == [
        {"type": "speak", "text": "Bye from Praxis Weber."},
        {"type": "hangup"},
    ]


def test_send_sms_goes_to_the_caller_and_the_turn_continues(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call()
    uses = [tool_use("t1", "send_sms", {"message": "Praxis Weber, Hauptstr. 1"})]
    stub.add_response(
        "converse",
        converse_response([{"text": "Mache ich."}, *uses], "tool_use"),
        request([user("Schicken Sie mir die Adresse")]),
    )
    stub.add_response(
        "converse",
        text_response("Die SMS ist unterwegs."),
        request(
            [
                user("Schicken Sie mir die Adresse"),
                {"role": "assistant", "content": [{"text": "Mache ich."}, *uses]},
                {"role": "user", "content": [result("t1", {"text": "text message sent"})]},
            ]
        ),
    )
    actions = make_agent(client).respond(call, "Schicken Sie mir die Adresse")
    assert wire(actions) == [
        {"type": "speak", "text": "Mache ich. Die SMS ist unterwegs."},
        {
            "type": "send_sms",
            "phone_number": "4917612345678",
            "message": "Praxis Weber, Hauptstr. 1",
        },
    ]


def test_send_sms_refusals(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call(caller=None)
    sms = {"message": "Hallo"}
    uses = [
        tool_use("t1", "send_sms", sms),
        tool_use("t2", "send_sms", {"message": "x" * 641}),
    ]
    stub.add_response("converse", converse_response(uses, "tool_use"), request([user("SMS bitte")]))
    stub.add_response(
        "converse",
        text_response("Das geht leider nicht."),
        request(
            [
                user("SMS bitte"),
                {"role": "assistant", "content": uses},
                {
                    "role": "user",
                    "content": [
                        result(
                            "t1", {"text": "the caller's number is unknown (withheld)"}, error=True
                        ),
                        result("t2", {"text": "message must be 1-640 characters"}, error=True),
                    ],
                },
            ]
        ),
    )
    actions = make_agent(client).respond(call, "SMS bitte")
    assert not any(isinstance(a, SendSmsAction) for a in actions)


def test_only_one_sms_per_turn_and_anonymous_callers(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    uses = [
        tool_use("t1", "send_sms", {"message": "a"}),
        tool_use("t2", "send_sms", {"message": "b"}),
    ]
    stub.add_response("converse", converse_response(uses, "tool_use"), request([user("SMS")]))
    stub.add_response(
        "converse",
        text_response("Eine SMS ist raus."),
        request(
            [
                user("SMS"),
                {"role": "assistant", "content": uses},
                {
                    "role": "user",
                    "content": [
                        result("t1", {"text": "text message sent"}),
                        result("t2", {"text": "only one text message per turn"}, error=True),
                    ],
                },
            ]
        ),
    )
    actions = make_agent(client).respond(new_call(), "SMS")
    assert [a.type for a in actions] == ["speak", "send_sms"]

    stub.add_response(
        "converse", tool_response(("t3", "send_sms", {"message": "a"})), request([user("SMS")])
    )
    stub.add_response(
        "converse",
        text_response("Geht nicht."),
        request(
            [
                user("SMS"),
                {"role": "assistant", "content": [tool_use("t3", "send_sms", {"message": "a"})]},
                {
                    "role": "user",
                    "content": [
                        result(
                            "t3",
                            {"text": "the caller's number cannot receive text messages"},
                            error=True,
                        )
                    ],
                },
            ]
        ),
    )
    anonymous = new_call(caller="anonymous")
    assert [a.type for a in make_agent(client).respond(anonymous, "SMS")] == ["speak"]


def test_sms_tool_is_not_offered_unless_allowed(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    tools = [TRANSFER_SPEC, END_SPEC, DIGITS_SPEC, HOURS_SPEC]
    stub.add_response(
        "converse",
        tool_response(("t1", "send_sms", {"message": "a"})),
        request([user("SMS")], tools),
    )
    stub.add_response(
        "converse",
        text_response("Das kann ich nicht."),
        request(
            [
                user("SMS"),
                {"role": "assistant", "content": [tool_use("t1", "send_sms", {"message": "a"})]},
                {
                    "role": "user",
                    "content": [result("t1", {"text": "unknown tool 'send_sms'"}, error=True)],
                },
            ],
            tools,
        ),
    )
    actions = make_agent(client, allow_sms=False).respond(new_call(), "SMS")
    assert [a.type for a in actions] == ["speak"]


# --- user tools and the loop bound ------------------------------------------------------------


def test_multi_step_tool_loop(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call()
    first = [tool_use("t1", "opening_hours", {"day": "fri"})]
    second = [tool_use("t2", "opening_hours", {"day": "mon"})]
    turn = [user("Freitag und Montag?")]
    stub.add_response("converse", converse_response(first, "tool_use"), request(turn))
    turn = [
        *turn,
        {"role": "assistant", "content": first},
        {"role": "user", "content": [result("t1", {"text": "8-12"})]},
    ]
    stub.add_response("converse", converse_response(second, "tool_use"), request(turn))
    turn = [
        *turn,
        {"role": "assistant", "content": second},
        {"role": "user", "content": [result("t2", {"text": "8-18"})]},
    ]
    stub.add_response(
        "converse", text_response("Freitag 8 bis 12, Montag 8 bis 18."), request(turn)
    )
    actions = make_agent(client).respond(call, "Freitag und Montag?")
    assert wire(actions) == [{"type": "speak", "text": "Freitag 8 bis 12, Montag 8 bis 18."}]
    assert call.state["bedrock"]["messages"] == [
        *turn,
        assistant("Freitag 8 bis 12, Montag 8 bis 18."),
    ]


def test_max_tool_steps_bounds_the_model_calls(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call()
    calls: list[str] = []

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        calls.append(q)
        return "nothing"

    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "max_tool_steps": 2, "allow_digits": False},
        tools=[lookup],
        client=client,
    )
    tools = [END_SPEC, lookup.spec()]
    base = {
        "modelId": MODEL,
        "system": [{"text": SYSTEM}],
        "inferenceConfig": {"maxTokens": 300},
        "toolConfig": {"tools": tools},
    }
    one = [tool_use("t1", "lookup", {"q": "a"})]
    two = [{"text": "Moment."}, tool_use("t2", "lookup", {"q": "b"})]
    stub.add_response(
        "converse", converse_response(one, "tool_use"), {**base, "messages": [user("?")]}
    )
    after_one = [
        user("?"),
        {"role": "assistant", "content": one},
        {"role": "user", "content": [result("t1", {"text": "nothing"})]},
    ]
    stub.add_response(
        "converse", converse_response(two, "tool_use"), {**base, "messages": after_one}
    )
    # No third response is queued: a third call would fail the Stubber.
    actions = agent.respond(call, "?")
    limit = "Sorry, I could not finish that. Could you please say it again?"
    assert wire(actions) == [{"type": "speak", "text": f"Moment. {limit}"}]
    assert calls == ["a"]  # the tool requested in the last step did not run
    assert call.state["bedrock"]["messages"] == [
        *after_one,
        {"role": "assistant", "content": two},
        {
            "role": "user",
            "content": [result("t2", {"text": "not run: tool step limit reached"}, error=True)],
        },
        assistant(limit),
    ]


def test_terminal_tools_still_work_in_the_last_step(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    uses = [
        tool_use("t1", "end_call", {"farewell": "Tschüss."}),
        tool_use("t2", "opening_hours", {"day": "mon"}),
    ]
    stub.add_response("converse", converse_response(uses, "tool_use"), request([user("Ende")]))
    call = new_call()
    actions = make_agent(client, max_tool_steps=1).respond(call, "Ende")
    assert wire(actions) == [{"type": "speak", "text": "Tschüss."}, {"type": "hangup"}]
    assert call.state["bedrock"]["messages"][2] == {
        "role": "user",
        "content": [
            result("t1", {"text": "call ends after the farewell"}),
            result("t2", {"text": "not done: the call is already being handed off"}, error=True),
        ],
    }


def test_turn_budget_stops_before_another_model_call(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    now = [100.0]

    def clock() -> float:
        now[0] += 2.0  # every look at the clock costs two seconds
        return now[0]

    agent = BedrockAgent(
        {**CONFIG, "turn_budget_s": 3.0}, tools=[opening_hours], client=client, clock=clock
    )
    uses = [tool_use("t1", "opening_hours", {"day": "mon"})]
    stub.add_response("converse", converse_response(uses, "tool_use"), request([user("Montag?")]))
    call = new_call()
    actions = agent.respond(call, "Montag?")
    assert wire(actions) == [
        {"type": "speak", "text": "Sorry, I could not finish that. Could you please say it again?"}
    ]
    messages = call.state["bedrock"]["messages"]
    assert messages[2] == {"role": "user", "content": [result("t1", {"text": "8-18"})]}
    assert messages[3]["role"] == "assistant"


def test_unknown_tool_and_malformed_input(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    uses = [tool_use("t1", "delete_everything", {}), tool_use("t2", "opening_hours", {})]
    stub.add_response("converse", converse_response(uses, "tool_use"), request([user("x")]))
    stub.add_response(
        "converse",
        text_response("Ok."),
        request(
            [
                user("x"),
                {"role": "assistant", "content": uses},
                {
                    "role": "user",
                    "content": [
                        result("t1", {"text": "unknown tool 'delete_everything'"}, error=True),
                        result(
                            "t2", {"text": "invalid arguments: day: Field required"}, error=True
                        ),
                    ],
                },
            ]
        ),
    )
    make_agent(client).respond(new_call(), "x")


def test_user_tool_can_read_the_call(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "allow_digits": False}, client=client
    )

    @agent.tool(name="whoami")
    def who(call: Call) -> str:
        """The caller's number."""
        return call.caller or "unknown"

    tools = [END_SPEC, who.spec()]
    base = {
        "modelId": MODEL,
        "system": [{"text": SYSTEM}],
        "inferenceConfig": {"maxTokens": 300},
        "toolConfig": {"tools": tools},
    }
    uses = [tool_use("t1", "whoami", {})]
    stub.add_response(
        "converse", converse_response(uses, "tool_use"), {**base, "messages": [user("Wer?")]}
    )
    stub.add_response(
        "converse",
        text_response("Sie rufen von +4917612345678 an."),
        {
            **base,
            "messages": [
                user("Wer?"),
                {"role": "assistant", "content": uses},
                {"role": "user", "content": [result("t1", {"text": "+4917612345678"})]},
            ],
        },
    )
    agent.respond(new_call(), "Wer?")
    assert agent.tool_specs() == tools


# --- keypad digits ----------------------------------------------------------------------------


def test_collect_digits_then_dtmf_completes_the_input(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    agent = make_agent(client)
    call = new_call()
    ask = {"prompt": "Bitte tippen Sie Ihre Kundennummer.", "max_digits": 4}
    stub.add_response(
        "converse", tool_response(("t1", "collect_digits", ask)), request([user("Kundennummer?")])
    )
    assert wire(agent.respond(call, "Kundennummer?")) == [
        {"type": "speak", "text": "Bitte tippen Sie Ihre Kundennummer."}
    ]
    assert agent.collecting_digits(call)
    assert call.state["bedrock"]["digits"] == {"max": 4, "buffer": ""}
    history = call.state["bedrock"]["messages"]
    assert history[-1] == assistant("Bitte tippen Sie Ihre Kundennummer.")

    assert agent.on_dtmf(call, "9") == []
    assert agent.on_dtmf(call, "*") == []  # start over
    for digit in "123":
        assert agent.on_dtmf(call, digit) == []
    assert call.state["bedrock"]["digits"] == {"max": 4, "buffer": "123"}
    stub.add_response(
        "converse",
        text_response("Danke, Kunde 1234 gefunden."),
        request([*history, user("[keypad] 1234")]),
    )
    assert wire(agent.on_dtmf(call, "4")) == [
        {"type": "speak", "text": "Danke, Kunde 1234 gefunden."}
    ]
    assert not agent.collecting_digits(call)
    assert agent.on_dtmf(call, "5") == []  # nothing asked for: ignored


def test_hash_and_timeout_finish_early_and_speech_cancels(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    agent = make_agent(client)
    call = new_call()
    ask = {"prompt": "PIN bitte.", "max_digits": "many"}  # a bad max_digits falls back to 20
    stub.add_response(
        "converse", tool_response(("t1", "collect_digits", ask)), request([user("PIN")])
    )
    agent.respond(call, "PIN")
    assert call.state["bedrock"]["digits"] == {"max": 20, "buffer": ""}
    agent.on_dtmf(call, "7")
    history = call.state["bedrock"]["messages"]
    stub.add_response("converse", text_response("Danke."), request([*history, user("[keypad] 7")]))
    assert [a.type for a in agent.on_dtmf(call, "#")] == ["speak"]

    # finish_digits: on a timeout, with nothing typed
    assert agent.finish_digits(call) == []
    call.state["bedrock"]["digits"] = {"max": 4, "buffer": ""}
    history = call.state["bedrock"]["messages"]
    stub.add_response(
        "converse", text_response("Nichts?"), request([*history, user("[keypad] (none)")])
    )
    agent.finish_digits(call)

    # the caller speaks instead of typing: the collection is dropped
    call.state["bedrock"]["digits"] = {"max": 4, "buffer": "12"}
    history = call.state["bedrock"]["messages"]
    stub.add_response("converse", text_response("Gern."), request([*history, user("Ach, egal")]))
    agent.respond(call, "Ach, egal")
    assert not agent.collecting_digits(call)


def test_collect_digits_needs_a_prompt(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    uses = [tool_use("t1", "collect_digits", {"max_digits": 3})]
    stub.add_response("converse", converse_response(uses, "tool_use"), request([user("x")]))
    stub.add_response(
        "converse",
        text_response("Ok."),
        request(
            [
                user("x"),
                {"role": "assistant", "content": uses},
                {
                    "role": "user",
                    "content": [result("t1", {"text": "prompt is required"}, error=True)],
                },
            ]
        ),
    )
    make_agent(client).respond(new_call(), "x")


# --- state models ----------------------------------------------------------------------------


class WithField(BaseModel):
    customer: str | None = None
    bedrock: dict[str, Any] = {}


class WithoutField(BaseModel):
    customer: str | None = None


def test_pydantic_state_with_a_bedrock_field(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call(state=WithField(customer="42"))
    stub.add_response("converse", text_response("Hallo."), request([user("Hi")]))
    make_agent(client).respond(call, "Hi")
    assert call.state.bedrock == {"messages": [user("Hi"), assistant("Hallo.")]}
    assert call.state.customer == "42"


def test_pydantic_state_without_the_field_uses_call_history(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call(state=WithoutField())
    call.remember("assistant", "Praxis Weber, guten Tag.")  # greeting: no user message before
    call.remember("caller", "Hallo")
    call.remember("caller", "ist da jemand?")
    call.remember("assistant", "Ja, hier.")
    call.remember("caller", "Öffnungszeiten?")  # the core remembers the text before the handler
    no_digits = [TRANSFER_SPEC, END_SPEC, SMS_SPEC, HOURS_SPEC]
    stub.add_response(
        "converse",
        text_response("8 bis 18 Uhr."),
        request(
            [user("Hallo ist da jemand?"), assistant("Ja, hier."), user("Öffnungszeiten?")],
            no_digits,
        ),
    )
    agent = make_agent(client)
    agent.respond(call, "Öffnungszeiten?")
    assert call.state == WithoutField()
    assert agent.tool_specs(call) == no_digits
    assert agent.collecting_digits(call) is False


# --- errors ----------------------------------------------------------------------------------


def test_throttling_raises_agent_error_and_leaves_state_unchanged(
    bedrock: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stub = bedrock
    state = {
        "bedrock": {
            "messages": [user("Hallo"), assistant("Guten Tag!")],
            "digits": {"max": 3, "buffer": "1"},
        }
    }
    call = new_call(state=copy.deepcopy(state))
    stub.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
        expected_params=request([user("Hallo"), assistant("Guten Tag!"), user("Termin?")]),
    )
    with caplog.at_level(logging.INFO, logger="aiflow.agents"), pytest.raises(AgentError) as info:
        make_agent(client).respond(call, "Termin?")
    assert info.value.code == "bedrock_error"
    assert info.value.aws_code == "ThrottlingException"
    assert info.value.retryable is True
    assert call.state == state
    assert "Termin" not in caplog.text


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("AccessDeniedException", 403, False),
        ("ValidationException", 400, False),
        ("InternalServerException", 500, True),
    ],
)
def test_other_client_errors(
    bedrock: tuple[Any, Stubber], code: str, status: int, retryable: bool
) -> None:
    client, stub = bedrock
    stub.add_client_error("converse", service_error_code=code, http_status_code=status)
    with pytest.raises(AgentError) as info:
        make_agent(client).respond(new_call(), "x")
    assert (info.value.aws_code, info.value.retryable) == (code, retryable)


def test_connection_errors_and_timeouts_become_agent_errors() -> None:
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    class Failing:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def converse(self, **kwargs: Any) -> Any:
            raise self.exc

    for exc, name in [
        (EndpointConnectionError(endpoint_url="https://bedrock"), "EndpointConnectionError"),
        (ReadTimeoutError(endpoint_url="https://bedrock"), "ReadTimeoutError"),
    ]:
        agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM}, client=Failing(exc))  # type: ignore[arg-type]
        with pytest.raises(AgentError) as info:
            agent.respond(new_call(), "x")
        assert info.value.aws_code == name and info.value.retryable

    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM}, client=Failing(KeyError("bug"))
    )  # type: ignore[arg-type]
    with pytest.raises(KeyError):  # a bug is not disguised as a Bedrock error
        agent.respond(new_call(), "x")


def test_empty_answer_is_an_error(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    call = new_call()
    stub.add_response(
        "converse", converse_response([{"text": "  "}], "end_turn"), request([user("x")])
    )
    with pytest.raises(AgentError) as info:
        make_agent(client).respond(call, "x")
    assert info.value.code == "empty_answer"
    assert call.state == {}


def test_empty_answer_after_tools_closes_the_turn_silently(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    uses = [tool_use("t1", "send_sms", {"message": "Adresse"})]
    stub.add_response(
        "converse",
        converse_response([{"text": "Ich schicke sie Ihnen."}, *uses], "tool_use"),
        request([user("Adresse?")]),
    )
    stub.add_response(
        "converse",
        converse_response([], "end_turn"),
        request(
            [
                user("Adresse?"),
                {"role": "assistant", "content": [{"text": "Ich schicke sie Ihnen."}, *uses]},
                {"role": "user", "content": [result("t1", {"text": "text message sent"})]},
            ]
        ),
    )
    call = new_call()
    actions = make_agent(client).respond(call, "Adresse?")
    assert [a.type for a in actions] == ["speak", "send_sms"]
    assert call.state["bedrock"]["messages"][-1] == assistant("…")


def test_max_tokens_cuts_the_unfinished_sentence(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    truncated = converse_response(
        [{"text": "Wir haben offen. Am Montag von acht bis"}, tool_use("t1", "end_call", {})],
        "max_tokens",
    )
    stub.add_response("converse", truncated, request([user("x")]))
    call = new_call()
    assert wire(make_agent(client).respond(call, "x")) == [
        {"type": "speak", "text": "Wir haben offen."}
    ]
    assert call.state["bedrock"]["messages"][-1] == assistant("Wir haben offen.")


# --- configuration, client, logging -------------------------------------------------------------


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="target_phone_number"):
        BedrockConfig.model_validate(
            {
                "model_id": MODEL,
                "system_prompt": SYSTEM,
                "transfer_targets": {
                    "x": {"number": "abc", "caller_id_name": "A", "caller_id_number": "+491"}
                },
            }
        )
    with pytest.raises(ValidationError, match="transfer target list"):
        TransferTarget.model_validate(["+4930123"])
    with pytest.raises(ValidationError, match="1-64 characters"):
        BedrockConfig.model_validate(
            {
                "model_id": MODEL,
                "system_prompt": SYSTEM,
                "transfer_targets": {" ": ["+4930123", "A", "+4930124"]},
            }
        )
    with pytest.raises(ValidationError, match="extra"):
        BedrockConfig.model_validate({"model_id": MODEL, "system_prompt": SYSTEM, "modelid": "x"})
    with pytest.raises(ValidationError):
        BedrockConfig.model_validate(
            {"model_id": MODEL, "system_prompt": SYSTEM, "max_tool_steps": 0}
        )
    target = TransferTarget.model_validate(["+49 30 123", "Support", "+4930124", 30])
    assert target.action().to_wire() == {
        "type": "transfer",
        "target_phone_number": "4930123",
        "caller_id_name": "Support",
        "caller_id_number": "4930124",
        "timeout": 30,
    }
    assert (
        BedrockConfig(model_id="m", system_prompt="s", language="de-DE")
        .text("limit")
        .startswith("Entschuldigung")
    )
    assert (
        BedrockConfig(model_id="m", system_prompt="s", language="fr").text("farewell") == "Goodbye!"
    )


def test_agent_tool_decorator_without_arguments() -> None:
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM})

    @agent.tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    assert weather("Köln") == "sunny"
    assert agent.tool_specs()[-1]["toolSpec"]["name"] == "weather"
    assert [s["toolSpec"]["name"] for s in agent.tool_specs()] == [
        "end_call",
        "collect_digits",
        "weather",
    ]


def test_reserved_tool_names() -> None:
    @tool(name="end_call")
    def mine() -> None:
        """Mine."""

    with pytest.raises(AssistantDefinitionError, match="reserved"):
        BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM}, tools=[mine])


def test_default_client_is_created_lazily_with_short_timeouts() -> None:
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM, "region": "eu-west-1"})
    assert agent._converse._client is None
    client = agent.client
    assert client is agent.client
    assert client.meta.service_model.service_name == "bedrock-runtime"
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.read_timeout == 10.0
    assert client.meta.config.connect_timeout == 1.0
    assert client.meta.config.retries["total_max_attempts"] == 2


def test_importing_the_agent_does_not_import_boto3() -> None:
    code = (
        "import sys, aiflow; before = 'boto3' in sys.modules; "
        "import aiflow.agents.bedrock; "
        "sys.exit(1 if 'boto3' in sys.modules and not before else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_logs_counts_not_transcripts(
    bedrock: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stub = bedrock
    uses = [tool_use("t1", "opening_hours", {"day": "fri"})]
    stub.add_response(
        "converse",
        converse_response(uses, "tool_use", (150, 30)),
        request([user("Geheimnis Freitag")]),
    )
    stub.add_response(
        "converse",
        text_response("Vertraulich: acht bis zwölf.", tokens=(180, 9)),
        request(
            [
                user("Geheimnis Freitag"),
                {"role": "assistant", "content": uses},
                {"role": "user", "content": [result("t1", {"text": "8-12"})]},
            ]
        ),
    )
    with caplog.at_level(logging.INFO, logger="aiflow.agents"):
        make_agent(client).respond(new_call(), "Geheimnis Freitag")
    assert "Geheimnis" not in caplog.text and "Vertraulich" not in caplog.text
    assert "fri" not in caplog.text  # tool arguments are not logged either
    calls = [r for r in caplog.records if getattr(r, "model_id", None) == MODEL]
    assert [(r.step, r.stop_reason, r.input_tokens, r.output_tokens) for r in calls] == [  # type: ignore[attr-defined]
        (1, "tool_use", 150, 30),
        (2, "end_turn", 180, 9),
    ]
    assert all(isinstance(r.latency_ms, int) for r in calls)  # type: ignore[attr-defined]
    assert any(getattr(r, "tool", None) == "opening_hours" for r in caplog.records)


def test_respond_async(bedrock: tuple[Any, Stubber]) -> None:
    client, stub = bedrock
    stub.add_response("converse", text_response("Hallo."), request([user("Hi")]))
    actions = asyncio.run(make_agent(client).respond_async(new_call(), "Hi"))
    assert isinstance(actions[0], SpeakAction) and not isinstance(actions[0], HangupAction)
