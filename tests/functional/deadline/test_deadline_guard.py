"""The deadline guard: a 5 s model is answered within the budget by a filler, and its
answer is delivered on the next speech end — across "Lambda instances", state in DynamoDB."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from aiflow import Assistant, Call, TurnPolicy, UserSpeakEvent, hangup
from aiflow.deadline import ThreadDeferrer
from aiflow.lambda_ import Settings, lambda_handler, worker_handler
from aiflow.lambda_.aws import LambdaDeferrer
from aiflow.store.dynamodb import DynamoDBStore
from aiflow.turns import TurnEngine, TurnLimits
from aiflow.webhook import Webhook

SESSION = {"id": "5d0c6b52-0000-4000-8000-00000000beef", "from_phone_number": "+4917612345678"}
TOKEN = "local-dev-token-0123"


class SlowModel:
    """A fake LLM that needs ``seconds`` per answer (and can be released early)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0
        self.release = threading.Event()

    def answer(self, text: str) -> str:
        self.calls += 1
        self.release.wait(self.seconds)
        return f"The answer to {text!r} is 42."


def make_assistant(model: SlowModel, policy: TurnPolicy | None = None) -> Assistant:
    assistant = Assistant("slow", user_input_timeout=6, policy=policy)

    @assistant.on_session_start
    def greet() -> str:
        return "Hello, ask me anything."

    @assistant.on_user_speak
    def think(event: UserSpeakEvent, call: Call) -> Any:
        if "bye" in event.text:
            return ["Goodbye!", hangup()]
        call.state["questions"] = call.state.get("questions", 0) + 1
        return model.answer(event.text)

    return assistant


@pytest.fixture
def dynamodb(moto_calls_store: DynamoDBStore) -> DynamoDBStore:
    return moto_calls_store


def webhook_of(
    assistant: Assistant, store: DynamoDBStore, budget_ms: int, worker: ThreadDeferrer | None
) -> Webhook:
    """A webhook "instance" whose slow turns go to ``worker``."""
    engine = TurnEngine(
        assistant, store, limits=TurnLimits(turn_budget_ms=budget_ms), deferrer=worker
    )
    return Webhook(engine, token=TOKEN)


def worker_of(assistant: Assistant, store: DynamoDBStore) -> ThreadDeferrer:
    """The worker "Lambda": a turn engine of its own, run in a thread."""
    return ThreadDeferrer(TurnEngine(assistant, store).finish_slow_turn)


def post(webhook: Webhook, body: dict[str, Any]) -> tuple[int, Any, float]:
    started = time.perf_counter()
    reply = webhook.handle({"X-API-TOKEN": TOKEN}, json.dumps({**body, "session": SESSION}))
    elapsed = (time.perf_counter() - started) * 1000
    return reply.status, json.loads(reply.body) if reply.body else None, elapsed


def test_a_slow_answer_is_bridged_by_a_filler_and_delivered_on_the_next_speech_end(
    dynamodb: DynamoDBStore,
) -> None:
    model = SlowModel(seconds=5.0)
    assistant = make_assistant(model)
    worker = worker_of(assistant, dynamodb)
    # Two webhooks on one table: the filler and the delivery may hit different instances.
    first = webhook_of(assistant, dynamodb, 300, worker)
    second = webhook_of(assistant, dynamodb, 300, worker)

    post(first, {"type": "session_start"})
    status, body, elapsed = post(first, {"type": "user_speak", "text": "the meaning of life"})
    assert status == 200
    assert body["text"] == "One moment, please …"
    assert "user_input_timeout_seconds" not in body
    assert elapsed < 1000, f"the filler took {elapsed:.0f} ms"

    # The filler ends before the model is done: another filler, nothing lost.
    status, body, _ = post(second, {"type": "assistant_speech_ended"})
    assert body["text"] == "I'm nearly there, just a moment."

    model.release.set()  # the model finishes
    worker.join(timeout=5)
    status, body, _ = post(second, {"type": "assistant_speech_ended"})
    assert status == 200
    assert body["text"] == "The answer to 'the meaning of life' is 42."
    assert body["user_input_timeout_seconds"] == 6

    stored = dynamodb.load(SESSION["id"])
    assert stored is not None
    assert stored.doc["slow_turn"] is None
    assert stored.doc["state"] == {"questions": 1}
    said = [(t["role"], t["text"]) for t in stored.doc["history"]]
    assert ("caller", "the meaning of life") in said
    assert ("assistant", "The answer to 'the meaning of life' is 42.") in said
    assert said.count(("caller", "the meaning of life")) == 1


def test_a_turn_that_never_finishes_ends_in_an_apology_and_the_late_answer_is_dropped(
    dynamodb: DynamoDBStore,
) -> None:
    model = SlowModel(seconds=5.0)
    assistant = make_assistant(model, TurnPolicy(max_fillers=2))
    worker = worker_of(assistant, dynamodb)
    webhook = webhook_of(assistant, dynamodb, 200, worker)

    post(webhook, {"type": "session_start"})
    assert post(webhook, {"type": "user_speak", "text": "hard one"})[1]["text"].startswith("One")
    assert post(webhook, {"type": "assistant_speech_ended"})[1]["text"].startswith("I'm nearly")
    status, body, _ = post(webhook, {"type": "assistant_speech_ended"})
    assert body["text"] == "Sorry, that is taking too long. Could you ask me again, please?"

    model.release.set()
    worker.join(timeout=5)
    assert post(webhook, {"type": "assistant_speech_ended"})[0] == 204  # nothing late
    stored = dynamodb.load(SESSION["id"])
    assert stored is not None and stored.doc.get("pending") is None


def test_without_a_worker_a_slow_turn_gets_the_fallback(dynamodb: DynamoDBStore) -> None:
    model = SlowModel(seconds=2.0)
    webhook = webhook_of(make_assistant(model), dynamodb, 200, None)
    post(webhook, {"type": "session_start"})
    status, body, elapsed = post(webhook, {"type": "user_speak", "text": "slow"})
    model.release.set()
    assert status == 200 and body["text"].startswith("Sorry, something went wrong")
    assert elapsed < 1000


def test_the_webhook_lambda_invokes_the_worker_lambda_asynchronously(
    dynamodb: DynamoDBStore,
) -> None:
    model = SlowModel(seconds=5.0)
    assistant = make_assistant(model)
    lambda_client = boto3.client("lambda", region_name="eu-central-1")
    settings = Settings(api_token=TOKEN, turn_budget_ms=300, worker_function="aiflow-worker")
    captured: list[dict[str, Any]] = []
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "aiflow-worker", "InvocationType": "Event", "Payload": ANY},
        )
        handler = lambda_handler(
            assistant,
            store=dynamodb,
            settings=settings,
            deferrer=_capturing(
                LambdaDeferrer("aiflow-worker", settings=settings, client=lambda_client), captured
            ),
        )
        handler(_api_event({"type": "session_start"}), None)
        response = handler(_api_event({"type": "user_speak", "text": "why?"}), None)
        stub.assert_no_pending_responses()
    assert json.loads(response["body"])["text"] == "One moment, please …"

    # The worker Lambda, as AWS would run it with the invoked payload.
    model.release.set()
    worker = worker_handler(assistant, store=dynamodb, settings=settings)
    assert worker(captured[0], None) == {"result": "delivered"}
    delivered = handler(_api_event({"type": "assistant_speech_ended"}), None)
    assert json.loads(delivered["body"])["text"] == "The answer to 'why?' is 42."


def _capturing(deferrer: LambdaDeferrer, into: list[dict[str, Any]]) -> Any:
    def defer(payload: dict[str, Any]) -> None:
        into.append(json.loads(json.dumps(payload)))  # what the Payload bytes carry
        deferrer(payload)

    return defer


def _api_event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-api-token": TOKEN},
        "requestContext": {
            "http": {"method": "POST", "path": "/webhook", "sourceIp": "203.0.113.10"},
            "requestId": "req-1",
            "stage": "$default",
        },
        "body": json.dumps({**body, "session": SESSION}),
        "isBase64Encoded": False,
    }
