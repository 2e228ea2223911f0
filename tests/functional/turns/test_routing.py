"""One deployment, two numbers, two assistants: the Lambda handler of a Router answers each
number with its own assistant, state model and defaults, and keeps a call with the assistant
it started with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aiflow import Assistant, Call, UserSpeakEvent
from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.gateway import LocalGateway
from aiflow.routing import Router, RoutingError
from aiflow.store import MemoryStore

TOKEN = "routing-test-token-0123"
PRACTICE = "+4921198765400"
PIZZA = "+4921198765499"


class Order(BaseModel):
    pizzas: list[str] = []


def practice() -> Assistant:
    assistant = Assistant("practice", language="de-DE")

    @assistant.on_session_start
    def greet() -> str:
        return "Praxis Weber, guten Tag."

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent, call: Call) -> str:
        call.state["asked"] = event.text
        return "Gern, einen Moment."

    return assistant


def pizza() -> Assistant:
    assistant = Assistant("pizza", state=Order)

    @assistant.on_session_start
    def greet() -> str:
        return "Pizza Roma, what would you like?"

    @assistant.on_user_speak
    def order(event: UserSpeakEvent, call: Call[Order]) -> str:
        call.state.pizzas.append(event.text)
        return f"{len(call.state.pizzas)} pizza(s) so far."

    return assistant


def send(gateway: LocalGateway, kind: str, session: dict[str, Any], **fields: Any) -> Any:
    body = json.dumps({"type": kind, "session": session, **fields}).encode()
    return gateway.request("POST", "/webhook", {"X-API-TOKEN": TOKEN}, body)


def session(number: str, call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "phone_number": number.lstrip("+"),  # with or without +: the same route
        "direction": "inbound",
        "from_phone_number": "+4917612345678",
        "to_phone_number": number,
    }


@pytest.fixture
def line() -> tuple[LocalGateway, MemoryStore]:
    router = Router({PRACTICE: practice(), "0049 211 98765499": pizza()})
    store = MemoryStore()
    handler = lambda_handler(router, store=store, token=TOKEN, settings=Settings())
    return LocalGateway(handler), store


def test_each_number_is_answered_by_its_own_assistant(
    line: tuple[LocalGateway, MemoryStore],
) -> None:
    gateway, store = line
    practice_call, pizza_call = session(PRACTICE, "call-practice"), session(PIZZA, "call-pizza")

    assert json.loads(send(gateway, "session_start", practice_call).body)["text"] == (
        "Praxis Weber, guten Tag."
    )
    assert json.loads(send(gateway, "session_start", pizza_call).body)["text"] == (
        "Pizza Roma, what would you like?"
    )
    # Later events carry only the id: the call stays with the assistant it started with.
    send(gateway, "user_speak", {"id": "call-pizza"}, text="Margherita")
    reply = send(gateway, "user_speak", {"id": "call-pizza"}, text="Diavola")
    assert json.loads(reply.body)["text"] == "2 pizza(s) so far."
    send(gateway, "user_speak", {"id": "call-practice"}, text="Termin")

    assert store.get("call-pizza")["state"] == {"pizzas": ["Margherita", "Diavola"]}  # type: ignore[index]
    assert store.get("call-pizza")["assistant"] == "pizza"  # type: ignore[index]
    assert store.get("call-practice")["state"] == {"asked": "Termin"}  # type: ignore[index]


def test_a_number_nobody_configured_hears_a_polite_goodbye() -> None:
    router = Router({PRACTICE: practice()}, unknown_number="This number is not in service.")
    handler = lambda_handler(router, store=MemoryStore(), token=TOKEN, settings=Settings())
    reply = send(LocalGateway(handler), "session_start", session("+4930123456", "stray"))

    farewell = json.loads(reply.body)  # one speak: the hangup waits for its end
    assert (farewell["type"], farewell["text"]) == ("speak", "This number is not in service.")
    ended = send(LocalGateway(handler), "assistant_speech_ended", {"id": "stray"})
    assert json.loads(ended.body)["type"] == "hangup"


def test_a_default_assistant_answers_every_other_number() -> None:
    router = Router({PIZZA: pizza()}, default=practice())
    handler = lambda_handler(router, store=MemoryStore(), token=TOKEN, settings=Settings())
    reply = send(LocalGateway(handler), "session_start", session("+4930123456", "other"))

    assert json.loads(reply.body)["text"] == "Praxis Weber, guten Tag."


def test_routes_come_from_a_file(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "routes:\n"
        '  "+49 211 98765400": tests.functional.turns.test_routing:PRACTICE_ASSISTANT\n'
        "default: tests.functional.turns.test_routing:PIZZA_ASSISTANT\n"
    )

    router = Router.from_file(routes)

    assert router.for_session(_session(PRACTICE)).name == "practice"
    assert router.for_session(_session("+4930123456")).name == "pizza"


def test_two_assistants_for_one_number_or_one_name_are_refused() -> None:
    with pytest.raises(RoutingError, match="two assistants"):
        Router({PRACTICE: practice(), "004921198765400": pizza()})
    with pytest.raises(RoutingError, match="named 'practice'"):
        Router({PRACTICE: practice(), PIZZA: practice()})


def _session(number: str) -> Any:
    from aiflow import Session

    return Session(id="x", phone_number=number)


PRACTICE_ASSISTANT = practice()
PIZZA_ASSISTANT = pizza()
