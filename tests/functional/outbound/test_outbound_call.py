"""An appointment reminder, end to end: ``dial()`` asks sipgate (the fake, real HTTP) to call
the patient and leaves the appointment in the call table; when the patient picks up, the
platform's ``session_start`` reaches the Lambda handler and the handler reads the appointment
from ``call.outbound`` — and can tell the call from an inbound one."""

from __future__ import annotations

import json
from typing import Any

import boto3

from aiflow import Assistant, Call
from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.gateway import LocalGateway
from aiflow.outbound import DynamoDBOutboundContexts, SipgateClient, dial
from aiflow.testing.fake_sipgate import FakeSipgate

from .conftest import CALLEE, FLOW_ID, FLOW_NUMBER

TOKEN = "outbound-call-token-0123"
APPOINTMENT = {"when": "Monday 9:30", "with": "Dr. Weber"}


def reminder() -> Assistant:
    assistant = Assistant("reminder")

    @assistant.on_session_start
    def greet(call: Call) -> str:
        if call.direction == "outbound" and call.outbound is not None:
            slot = call.outbound.data["appointment"]
            return f"This is a reminder of your appointment on {slot['when']} with {slot['with']}."
        return "Hello, how can I help?"

    return assistant


def session_start(direction: str, call_id: str) -> bytes:
    session: dict[str, Any] = {
        "id": call_id,
        "account_id": "acc-7731",
        "phone_number": FLOW_NUMBER,
        "direction": direction,
    }
    if direction == "outbound":
        session |= {"from_phone_number": FLOW_NUMBER, "to_phone_number": CALLEE}
    else:
        session |= {"from_phone_number": CALLEE, "to_phone_number": FLOW_NUMBER}
    return json.dumps({"type": "session_start", "session": session}).encode()


def test_the_dialled_call_greets_with_the_data_its_dial_attached(
    table: str, sipgate: FakeSipgate, client: SipgateClient
) -> None:
    dynamodb = boto3.client("dynamodb")
    contexts = DynamoDBOutboundContexts(table, client=dynamodb)
    dial(FLOW_ID, CALLEE, data={"appointment": APPOINTMENT}, client=client, contexts=contexts)
    assert sipgate.requests[0].json == {"billingDevice": "e2", "toPhoneNumber": CALLEE[1:]}

    handler = lambda_handler(reminder(), token=TOKEN, settings=Settings(table_name=table))
    gateway = LocalGateway(handler)
    headers = {"X-API-TOKEN": TOKEN}

    answered = gateway.request("POST", "/webhook", headers, session_start("outbound", "c-out"))
    inbound = gateway.request("POST", "/webhook", headers, session_start("inbound", "c-in"))

    assert json.loads(answered.body)["text"] == (
        "This is a reminder of your appointment on Monday 9:30 with Dr. Weber."
    )
    assert json.loads(inbound.body)["text"] == "Hello, how can I help?"
    # Taken once: the context is gone from the table, and the call record keeps it.
    assert contexts.take_for(_outbound_session(), 0) is None
    stored = handler.engine.store.load("c-out")
    assert stored.doc["outbound"]["data"] == {"appointment": APPOINTMENT}
    assert stored.doc["direction"] == "outbound"


def _outbound_session() -> Any:
    from aiflow import Session

    return Session(id="later", direction="outbound", to_phone_number=CALLEE)
