"""BedrockAgent conversations, scenario by scenario: the caller says something, the fake model
(keyed by what the caller or a tool said last) answers, and the test checks what the caller
gets and what the agent remembers. The exact request shape, the client and its failures are
in test_bedrock_calls.py, streaming in test_stream.py."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from aiflow import Call
from aiflow.agents import BedrockAgent
from aiflow.agents.history import trim_history

from .bedrock_fakes import (
    CONFIG,
    FakeConverse,
    assistant,
    model_turn,
    new_call,
    opening_hours,
    practice,
    result,
    tool_use,
    user,
    wire,
)

LIMIT = "Sorry, I could not finish that. Could you please say it again?"

# --- the conversation and its history --------------------------------------------------------


def test_the_model_answers_and_the_turn_is_remembered() -> None:
    call = new_call(state={"bedrock": {"messages": [user("Hallo"), assistant("Guten Tag!")]}})
    agent, model = practice({"Wie lange haben Sie offen?": model_turn("Bis 18 Uhr. Noch etwas?")})
    actions = agent.respond(call, "  Wie lange haben Sie offen? ")
    assert wire(actions) == [{"type": "speak", "text": "Bis 18 Uhr. Noch etwas?"}]
    turn = [user("Hallo"), assistant("Guten Tag!"), user("Wie lange haben Sie offen?")]
    assert model.requests[0]["messages"] == turn
    assert call.state == {"bedrock": {"messages": [*turn, assistant("Bis 18 Uhr. Noch etwas?")]}}


def test_an_empty_text_calls_no_model() -> None:
    agent, model = practice({})
    call = new_call()
    assert agent.respond(call, "   ") == []
    assert model.requests == [] and call.state == {}


def test_a_long_history_loses_its_oldest_whole_turns() -> None:
    old = [
        user("eins"),
        {"role": "assistant", "content": [tool_use("a", "opening_hours", {"day": "mon"})]},
        {"role": "user", "content": [result("a", "8-18")]},
        assistant("Montag 8 bis 18."),
        user("zwei"),
        assistant("Zwei."),
        user("drei"),
        assistant("Drei."),
    ]
    call = new_call(state={"bedrock": {"messages": copy.deepcopy(old)}, "mine": 1})
    agent, model = practice({"vier": model_turn("Vier.")}, history_messages=5)
    agent.respond(call, "vier")
    # The first turn (4 messages) cannot be kept whole within 5, so it goes as a whole.
    assert model.requests[0]["messages"] == [*old[4:], user("vier")]
    assert call.state["bedrock"]["messages"] == [*old[6:], user("vier"), assistant("Vier.")]
    assert call.state["mine"] == 1


def test_trimming_never_splits_a_tool_call_from_its_result() -> None:
    turn = [
        user("a"),
        {"role": "assistant", "content": [tool_use("1", "x", {})]},
        {"role": "user", "content": [result("1", "r")]},
        assistant("b"),
    ]
    assert trim_history(turn * 2, 5) == turn
    assert trim_history(turn, 2) == turn  # one turn longer than the limit is kept whole
    assert trim_history(turn, 4) == turn
    assert trim_history([], 3) == []


def test_a_broken_stored_history_is_cut_to_whole_turns() -> None:
    stored = [
        assistant("starts with assistant"),
        {"role": "user", "content": [result("x", "orphan")]},
        "garbage",
        {"role": "system", "content": [{"text": "?"}]},
        user("eins"),
        assistant("Eins."),
        user("dangling user message of a failed old turn"),
    ]
    call = new_call(state={"bedrock": {"messages": stored}})
    agent, model = practice({"zwei": model_turn("Zwei.")})
    agent.respond(call, "zwei")
    assert model.requests[0]["messages"] == [user("eins"), assistant("Eins."), user("zwei")]
    assert call.state["bedrock"]["messages"][-1] == assistant("Zwei.")


def test_a_store_that_is_not_a_dict_is_replaced() -> None:
    call = new_call(state={"bedrock": "nonsense"})
    agent, _ = practice({"Hallo": model_turn("Ja.")})
    agent.respond(call, "Hallo")
    assert call.state["bedrock"]["messages"] == [user("Hallo"), assistant("Ja.")]


class WithField(BaseModel):
    customer: str | None = None
    bedrock: dict[str, Any] = {}


class WithoutField(BaseModel):
    customer: str | None = None


def test_a_pydantic_state_with_a_bedrock_field_keeps_the_history() -> None:
    call = new_call(state=WithField(customer="42"))
    agent, _ = practice({"Hi": model_turn("Hallo.")})
    agent.respond(call, "Hi")
    assert call.state.bedrock == {"messages": [user("Hi"), assistant("Hallo.")]}
    assert call.state.customer == "42"


def test_a_pydantic_state_without_the_field_uses_the_call_history() -> None:
    call = new_call(state=WithoutField())
    call.remember("assistant", "Praxis Weber, guten Tag.")  # greeting: no user message before
    call.remember("caller", "Hallo")
    call.remember("caller", "ist da jemand?")
    call.remember("assistant", "Ja, hier.")
    call.remember("caller", "Öffnungszeiten?")  # the core remembers the text before the handler
    agent, model = practice({"Öffnungszeiten?": model_turn("8 bis 18 Uhr.")})
    agent.respond(call, "Öffnungszeiten?")
    assert model.requests[0]["messages"] == [
        user("Hallo ist da jemand?"),
        assistant("Ja, hier."),
        user("Öffnungszeiten?"),
    ]
    assert call.state == WithoutField()
    offered = ["transfer_call", "end_call", "send_sms", "opening_hours"]  # no keypad input
    assert [t["toolSpec"]["name"] for t in model.requests[0]["toolConfig"]["tools"]] == offered
    assert [t["toolSpec"]["name"] for t in agent.tool_specs(call)] == offered
    assert agent.collecting_digits(call) is False


# --- transfer and end of call ----------------------------------------------------------------


def test_a_transfer_speaks_the_handoff_then_transfers_to_the_configured_number() -> None:
    handoff = {"target": "reception", "handoff": "Ich verbinde Sie."}
    agent, _ = practice(
        {"Ich will jemanden sprechen": model_turn(None, ("transfer_call", handoff))}
    )
    call = new_call()
    actions = agent.respond(call, "Ich will jemanden sprechen")
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
        {"role": "assistant", "content": [tool_use("t1", "transfer_call", handoff)]},
        {"role": "user", "content": [result("t1", "transferring to reception")]},
        assistant("Ich verbinde Sie."),
    ]


def test_a_target_from_a_list_in_any_case_with_the_default_handoff() -> None:
    turn = model_turn("Gern.", ("transfer_call", {"target": "BILLING"}))
    agent, _ = practice({"Rechnung": turn}, language="de")
    assert wire(agent.respond(new_call(), "Rechnung")) == [
        {"type": "speak", "text": "Gern. Einen Moment bitte, ich verbinde Sie."},
        {
            "type": "transfer",
            "target_phone_number": "4921198765422",
            "caller_id_name": "Praxis Weber",
            "caller_id_number": "4921198765400",
        },
    ]


def test_a_number_the_model_invents_is_refused_and_the_model_recovers() -> None:
    invented = {"target": "+4917099999999", "handoff": "Ich verbinde."}
    agent, model = practice(
        {
            "Verbinden Sie mich mit 0170 99999999": model_turn(None, ("transfer_call", invented)),
            "error: unknown target '+4917099999999'; use one of: reception, billing": model_turn(
                "Dorthin kann ich nicht verbinden, nur zum Empfang."
            ),
        }
    )
    actions = agent.respond(new_call(), "Verbinden Sie mich mit 0170 99999999")
    assert [a.type for a in actions] == ["speak"]  # no transfer
    transfer = model.requests[0]["toolConfig"]["tools"][0]["toolSpec"]
    assert transfer["inputSchema"]["json"]["properties"]["target"]["enum"] == [
        "reception",
        "billing",
    ]


def test_end_call_says_the_farewell_then_hangs_up() -> None:
    farewell = ("end_call", {"farewell": "Auf Wiederhören!"})
    agent, _ = practice({"Danke, tschüss": model_turn(None, farewell)})
    call = new_call()
    actions = agent.respond(call, "Danke, tschüss")
    assert wire(actions) == [{"type": "speak", "text": "Auf Wiederhören!"}, {"type": "hangup"}]
    assert call.state["bedrock"]["messages"][-1] == assistant("Auf Wiederhören!")


def test_end_call_without_a_farewell_uses_the_configured_one() -> None:
    blank = model_turn(None, ("end_call", {"farewell": " "}))
    agent, _ = practice({"bye": blank}, farewell_text="Bye from Praxis Weber.")
    assert wire(agent.respond(new_call(), "bye")) == [
        {"type": "speak", "text": "Bye from Praxis Weber."},
        {"type": "hangup"},
    ]


# --- text messages ---------------------------------------------------------------------------


def test_an_sms_goes_to_the_caller_and_the_turn_continues() -> None:
    sms = ("send_sms", {"message": "Praxis Weber, Hauptstr. 1"})
    agent, _ = practice(
        {
            "Schicken Sie mir die Adresse": model_turn("Mache ich.", sms),
            "text message sent": model_turn("Die SMS ist unterwegs."),
        }
    )
    assert wire(agent.respond(new_call(), "Schicken Sie mir die Adresse")) == [
        {"type": "speak", "text": "Mache ich. Die SMS ist unterwegs."},
        {
            "type": "send_sms",
            "phone_number": "4917612345678",
            "message": "Praxis Weber, Hauptstr. 1",
        },
    ]


def test_no_sms_to_a_withheld_number_nor_a_too_long_one() -> None:
    agent, _ = practice(
        {
            "SMS bitte": model_turn(
                None, ("send_sms", {"message": "Hallo"}), ("send_sms", {"message": "x" * 641})
            ),
            "error: the caller's number is unknown (withheld) | "
            "error: message must be 1-640 characters": model_turn("Das geht leider nicht."),
        }
    )
    assert [a.type for a in agent.respond(new_call(caller=None), "SMS bitte")] == ["speak"]


def test_one_sms_per_turn_and_none_to_an_anonymous_caller() -> None:
    two = model_turn(None, ("send_sms", {"message": "a"}), ("send_sms", {"message": "b"}))
    agent, _ = practice(
        {
            "Zwei SMS": two,
            "text message sent | error: only one text message per turn": model_turn("Eine."),
            "SMS": model_turn(None, ("send_sms", {"message": "a"})),
            "error: the caller's number cannot receive text messages": model_turn("Geht nicht."),
        }
    )
    assert [a.type for a in agent.respond(new_call(), "Zwei SMS")] == ["speak", "send_sms"]
    assert [a.type for a in agent.respond(new_call(caller="anonymous"), "SMS")] == ["speak"]


def test_sms_is_not_offered_unless_allowed() -> None:
    agent, model = practice(
        {
            "SMS": model_turn(None, ("send_sms", {"message": "a"})),
            "error: unknown tool 'send_sms'": model_turn("Das kann ich nicht."),
        },
        allow_sms=False,
    )
    assert [a.type for a in agent.respond(new_call(), "SMS")] == ["speak"]
    offered = [t["toolSpec"]["name"] for t in model.requests[0]["toolConfig"]["tools"]]
    assert offered == ["transfer_call", "end_call", "collect_digits", "opening_hours"]


# --- your tools and the bounded tool loop ----------------------------------------------------


def test_the_model_calls_tools_step_by_step() -> None:
    agent, model = practice(
        {
            "Freitag und Montag?": model_turn(None, ("opening_hours", {"day": "fri"})),
            "8-12": model_turn(None, ("opening_hours", {"day": "mon"})),
            "8-18": model_turn("Freitag 8 bis 12, Montag 8 bis 18."),
        }
    )
    call = new_call()
    actions = agent.respond(call, "Freitag und Montag?")
    assert wire(actions) == [{"type": "speak", "text": "Freitag 8 bis 12, Montag 8 bis 18."}]
    assert model.inputs == ["Freitag und Montag?", "8-12", "8-18"]
    assert call.state["bedrock"]["messages"] == [
        user("Freitag und Montag?"),
        {"role": "assistant", "content": [tool_use("t1", "opening_hours", {"day": "fri"})]},
        {"role": "user", "content": [result("t1", "8-12")]},
        {"role": "assistant", "content": [tool_use("t2", "opening_hours", {"day": "mon"})]},
        {"role": "user", "content": [result("t2", "8-18")]},
        assistant("Freitag 8 bis 12, Montag 8 bis 18."),
    ]


def test_max_tool_steps_bounds_the_model_calls_of_a_turn() -> None:
    looked_up: list[str] = []

    def lookup(q: str) -> str:
        """Look something up."""
        looked_up.append(q)
        return "nothing"

    agent, model = practice(
        {
            "?": model_turn(None, ("lookup", {"q": "a"})),
            "nothing": model_turn("Moment.", ("lookup", {"q": "b"})),  # and again, and again
        },
        tools=[lookup],
        max_tool_steps=2,
    )
    call = new_call()
    assert wire(agent.respond(call, "?")) == [{"type": "speak", "text": f"Moment. {LIMIT}"}]
    assert len(model.requests) == 2
    assert looked_up == ["a"]  # the tool requested in the last step did not run
    assert call.state["bedrock"]["messages"][-3:] == [
        {
            "role": "assistant",
            "content": [{"text": "Moment."}, tool_use("t2", "lookup", {"q": "b"})],
        },
        {"role": "user", "content": [result("t2", "not run: tool step limit reached", error=True)]},
        assistant(LIMIT),
    ]


def test_call_tools_still_work_in_the_last_step_and_end_the_turn() -> None:
    both = model_turn(
        None, ("end_call", {"farewell": "Tschüss."}), ("opening_hours", {"day": "mon"})
    )
    agent, _ = practice({"Ende": both}, max_tool_steps=1)
    call = new_call()
    assert wire(agent.respond(call, "Ende")) == [
        {"type": "speak", "text": "Tschüss."},
        {"type": "hangup"},
    ]
    assert call.state["bedrock"]["messages"][2]["content"] == [
        result("t1", "call ends after the farewell"),
        result("t2", "not done: the call is already being handed off", error=True),
    ]


def test_the_turn_budget_stops_before_another_model_call() -> None:
    now = [100.0]

    def clock() -> float:
        now[0] += 2.0  # every look at the clock costs two seconds
        return now[0]

    agent = BedrockAgent({**CONFIG, "turn_budget_s": 3.0}, tools=[opening_hours], clock=clock)
    model = FakeConverse({"Montag?": model_turn(None, ("opening_hours", {"day": "mon"}))})
    model.serve(agent.client)
    call = new_call()
    assert wire(agent.respond(call, "Montag?")) == [{"type": "speak", "text": LIMIT}]
    assert len(model.requests) == 1
    assert call.state["bedrock"]["messages"][2:] == [
        {"role": "user", "content": [result("t1", "8-18")]},
        assistant(LIMIT),
    ]


def test_an_unknown_tool_and_bad_arguments_are_told_to_the_model() -> None:
    uses = (("delete_everything", {}), ("opening_hours", {}))
    agent, _ = practice(
        {
            "x": model_turn(None, *uses),
            "error: unknown tool 'delete_everything' | "
            "error: invalid arguments: day: Field required": model_turn("Ok."),
        }
    )
    assert wire(agent.respond(new_call(), "x")) == [{"type": "speak", "text": "Ok."}]


def test_a_tool_can_read_the_call() -> None:
    def whoami(call: Call) -> str:
        """The caller's number."""
        return call.caller or "unknown"

    agent, _ = practice(
        {
            "Wer?": model_turn(None, ("whoami", {})),
            "+4917612345678": model_turn("Sie rufen von Ihrem Handy an."),
        },
        tools=[whoami],
    )
    assert wire(agent.respond(new_call(), "Wer?")) == [
        {"type": "speak", "text": "Sie rufen von Ihrem Handy an."}
    ]


# --- answers the model gets wrong -----------------------------------------------------------


def test_nothing_to_say_after_the_tools_closes_the_turn_quietly() -> None:
    agent, _ = practice(
        {
            "Adresse?": model_turn("Ich schicke sie Ihnen.", ("send_sms", {"message": "Adresse"})),
            "text message sent": model_turn(),
        }
    )
    call = new_call()
    assert [a.type for a in agent.respond(call, "Adresse?")] == ["speak", "send_sms"]
    assert call.state["bedrock"]["messages"][-1] == assistant("…")


def test_an_answer_cut_by_max_tokens_loses_its_unfinished_sentence() -> None:
    cut = model_turn("Wir haben offen. Am Montag von acht bis", ("end_call", {}), stop="max_tokens")
    agent, _ = practice({"x": cut})
    call = new_call()
    assert wire(agent.respond(call, "x")) == [{"type": "speak", "text": "Wir haben offen."}]
    assert call.state["bedrock"]["messages"][-1] == assistant("Wir haben offen.")


# --- keypad digits --------------------------------------------------------------------------


def test_the_model_asks_for_digits_and_gets_them_when_complete() -> None:
    ask = ("collect_digits", {"prompt": "Bitte tippen Sie Ihre Kundennummer.", "max_digits": 4})
    agent, model = practice(
        {
            "Kundennummer?": model_turn(None, ask),
            "[keypad] 1234": model_turn("Danke, Kunde 1234 gefunden."),
        }
    )
    call = new_call()
    assert wire(agent.respond(call, "Kundennummer?")) == [
        {"type": "speak", "text": "Bitte tippen Sie Ihre Kundennummer."}
    ]
    assert agent.collecting_digits(call)
    assert call.state["bedrock"]["digits"] == {"max": 4, "buffer": ""}
    assert agent.on_dtmf(call, "9") == []
    assert agent.on_dtmf(call, "*") == []  # start over
    for digit in "123":
        assert agent.on_dtmf(call, digit) == []
    assert call.state["bedrock"]["digits"] == {"max": 4, "buffer": "123"}
    assert wire(agent.on_dtmf(call, "4")) == [
        {"type": "speak", "text": "Danke, Kunde 1234 gefunden."}
    ]
    assert model.requests[1]["messages"][-2:] == [
        assistant("Bitte tippen Sie Ihre Kundennummer."),
        user("[keypad] 1234"),
    ]
    assert not agent.collecting_digits(call)
    assert agent.on_dtmf(call, "5") == []  # nothing asked for: ignored
    assert len(model.requests) == 2


def test_hash_and_a_timeout_finish_early_and_speech_drops_the_input() -> None:
    many = ("collect_digits", {"prompt": "PIN bitte.", "max_digits": "many"})
    agent, model = practice(
        {
            "PIN": model_turn(None, many),
            "[keypad] 7": model_turn("Danke."),
            "[keypad] (none)": model_turn("Nichts?"),
            "Ach, egal": model_turn("Gern."),
        }
    )
    call = new_call()
    agent.respond(call, "PIN")
    assert call.state["bedrock"]["digits"] == {"max": 20, "buffer": ""}  # a bad max: the most
    agent.on_dtmf(call, "7")
    assert wire(agent.on_dtmf(call, "#")) == [{"type": "speak", "text": "Danke."}]

    assert agent.finish_digits(call) == []  # nothing asked for
    call.state["bedrock"]["digits"] = {"max": 4, "buffer": ""}
    assert wire(agent.finish_digits(call)) == [{"type": "speak", "text": "Nichts?"}]

    call.state["bedrock"]["digits"] = {"max": 4, "buffer": "12"}
    agent.respond(call, "Ach, egal")  # the caller speaks instead of typing
    assert not agent.collecting_digits(call)
    assert model.inputs == ["PIN", "[keypad] 7", "[keypad] (none)", "Ach, egal"]


def test_asking_for_digits_needs_a_prompt() -> None:
    agent, _ = practice(
        {
            "x": model_turn(None, ("collect_digits", {"max_digits": 3})),
            "error: prompt is required": model_turn("Ok."),
        }
    )
    call = new_call()
    agent.respond(call, "x")
    assert not agent.collecting_digits(call)
