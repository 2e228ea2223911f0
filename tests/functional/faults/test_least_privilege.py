"""Each function's role grants exactly the AWS actions its code calls.

What the code calls is recorded, not listed: a scripted call runs through every entry point
against moto, each function with a boto3 session of its own (as each Lambda function has its
own process), and every botocore request is noted as the IAM action it needs. The webhook
takes every event type, a caller's booking that fails once (a once-only side effect given
up), a slow turn for the worker (whose side effect fails too) and an outbound call that
takes its dial context; the WebSocket function a streamed answer interrupted by the caller;
the dialer one dial that works and one that fails for good. The recorded actions must equal
the role's grants in ``template.yaml`` / ``infra/websocket.yaml``, except what AWS itself
does with the role (listed below, with the reason).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from aiflow import Assistant, Call, DtmfReceivedEvent, UserSpeakEvent, hangup, streaming
from aiflow.agents import BedrockAgent
from aiflow.lambda_ import Settings, lambda_handler, websocket_handler, worker_handler
from aiflow.local.template import load_template
from aiflow.outbound.dialer import dialer_handler
from aiflow.testing.fake_sipgate import FakeSipgate

from .cloud import MODEL_ID, REPO, WORKER, Cloud
from .phone import LambdaContext, Phone, WsPhone
from .practice import FAREWELL, QUESTION

WEBSOCKET_TEMPLATE = REPO / "infra" / "websocket.yaml"
FLOW_ID = "e3670012-96a3-4ae5-ac42-87abe22015c3"
UNKNOWN_FLOW = "deadbeef-0000-4000-8000-000000000404"
CALLEE = "+4915790000687"

# Actions AWS performs with a function's role, not the function's code:
RUNTIME_ONLY = {
    "logs:CreateLogStream",  # the Lambda runtime writes the function's log group
    "logs:PutLogEvents",
    "sqs:ReceiveMessage",  # the SQS event source mapping polls the dial queue for the dialer
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}
# Bedrock is granted by one optional policy (EnableBedrock) to every function that runs the
# assistant. Converse needs bedrock:InvokeModel (recorded); ConverseStream, used by
# BedrockAgent.stream, needs InvokeModelWithResponseStream, which is not recorded here:
# the fake model endpoint speaks no AWS event-stream encoding.
NOT_RECORDED_BEDROCK = {"bedrock:InvokeModelWithResponseStream"}
# botocore operation -> IAM action, where the names differ.
IAM_NAMES = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("execute-api", "PostToConnection"): "execute-api:ManageConnections",
    ("bedrock", "Converse"): "bedrock:InvokeModel",
    ("bedrock", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
}


class Recorder:
    """The IAM actions of each function's AWS requests (one boto3 session per function)."""

    def __init__(self) -> None:
        self.actions: dict[str, set[str]] = defaultdict(set)
        self._sessions: dict[str, boto3.Session] = {}

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        """Clients created meanwhile belong to ``function`` (and record into its set)."""
        session = self._sessions.get(function)
        if session is None:
            session = boto3.Session()

            def record(model: Any, **_: Any) -> None:
                service = model.service_model.signing_name
                name = IAM_NAMES.get((service, model.name), f"{service}:{model.name}")
                self.actions[function].add(name)

            session.events.register("before-call.*.*", record)
            self._sessions[function] = session
        saved = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = session
        try:
            yield
        finally:
            boto3.DEFAULT_SESSION = saved


@dataclass
class Backoffice:
    """The practice's systems the assistant books with (down when told)."""

    down: bool = False

    def book(self) -> str:
        if self.down:
            raise ConnectionError("the booking system is not answering")
        return f"T-{uuid.uuid4().hex[:6]}"


def practice_line(name: str, office: Backoffice) -> Assistant:
    """Greets (naming an outbound call's reason), books, prescribes (the model, then the
    office), streams explanations, presses keys, says goodbye."""
    agent = BedrockAgent(
        {
            "model_id": MODEL_ID,
            "system_prompt": "Sie sind die Telefonassistenz der Praxis Dr. Weber.",
            "language": "de",
            "read_timeout_s": 4.0,
            "max_attempts": 1,
        }
    )
    assistant = Assistant(name, language="de-DE")

    @assistant.on_session_start
    def greet(call: Call) -> str:
        if call.outbound is not None:
            return f"Hier ist die Praxis Dr. Weber, wegen {call.outbound.data['reason']}."
        return "Praxis Dr. Weber, guten Tag."

    @assistant.on_user_speak
    @streaming
    def answer(event: UserSpeakEvent, call: Call) -> Iterator[Any]:
        words = event.text.lower()
        if "tschüss" in words:
            yield FAREWELL
            yield hangup()
        elif "termin" in words:
            booking = call.once("booking", office.book)
            yield f"Ihr Termin {booking} ist gebucht."
        elif "rezept" in words:
            yield from agent.respond(call, event.text)
            call.once("prescription", office.book)
        elif "erklären" in words:
            for sentence in ("Gern.", "Das Rezept gilt drei Monate.", "Sie holen es ab."):
                yield sentence
                time.sleep(0.2)
        else:
            yield from agent.respond(call, event.text)

    @assistant.on_dtmf
    def key(event: DtmfReceivedEvent) -> str:
        return f"Sie haben die {event.digit} gedrückt."

    @assistant.on_user_input_timeout
    def silence() -> str:
        return "Sind Sie noch da?"

    return assistant


@pytest.fixture
def recorder(cloud: Cloud) -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    cloud.heal()


@pytest.mark.slow
@pytest.mark.usefixtures("aiflow_logging")
def test_each_role_grants_exactly_what_its_function_calls(
    cloud: Cloud, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = cloud.client("sqs")
    dead_letters = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    with FakeSipgate(flows={FLOW_ID: "+4921155660"}) as sipgate:
        token = cloud.client("secretsmanager").create_secret(
            Name=f"sipgate-{uuid.uuid4().hex[:6]}", SecretString=sipgate.token
        )["ARN"]
        for name, value in {
            "AIFLOW_TABLE_NAME": cloud.table,
            "AIFLOW_SIPGATE_TOKEN_SECRET": token,
            "AIFLOW_SIPGATE_API_URL": sipgate.url,
            "AIFLOW_SIPGATE_DEVICE": "e2",
            "AIFLOW_DIAL_DLQ_URL": dead_letters,
            "AWS_ENDPOINT_URL_SQS": cloud.url,
        }.items():
            monkeypatch.setenv(name, value)
        with recorder.acting_as("dialer"):
            dial_twice()
    run_webhook_and_worker(cloud, recorder)
    run_websocket(cloud, recorder)

    for function, (template, role) in ROLES.items():
        granted, bedrock = grants(template, role)
        called = recorder.actions[function]
        assert called - bedrock == granted - RUNTIME_ONLY, function
        if function in ("webhook", "worker"):
            assert called & bedrock == bedrock - NOT_RECORDED_BEDROCK, function


def dial_twice() -> None:
    """One dial that rings the callee (its context stays for the call), one that cannot."""
    dialer = dialer_handler()
    records = [
        {"flow_id": FLOW_ID, "to": CALLEE, "data": {"reason": "Ihren Termin morgen"}},
        {"flow_id": UNKNOWN_FLOW, "to": "+4915790000688", "data": {}},
    ]
    event = {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": "r",
                "body": json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:dial",
                "awsRegion": "eu-central-1",
            }
            for i, body in enumerate(records)
        ]
    }
    assert dialer(event, LambdaContext(remaining_ms=150_000)) == {"batchItemFailures": []}


def settings(cloud: Cloud) -> Settings:
    return Settings(
        table_name=cloud.table,
        token_secret=cloud.secret,
        worker_function=WORKER,
        ws_endpoint=cloud.ws_endpoint,
        in_lambda=True,
    )


def run_webhook_and_worker(cloud: Cloud, recorder: Recorder) -> None:
    name = f"practice-{uuid.uuid4().hex[:6]}"
    office = Backoffice()
    with recorder.acting_as("webhook"):
        webhook = lambda_handler(practice_line(name, office), settings=settings(cloud))
    with recorder.acting_as("worker"):
        worker = worker_handler(practice_line(name, office), settings=settings(cloud))
    try:
        with recorder.acting_as("webhook"):
            phone = Phone(webhook)
            phone.start()
            phone.play()
            phone.say(QUESTION)
            phone.play()
            office.down = True
            phone.say("Ich möchte einen Termin")  # the booking fails: given up, fallback
            office.down = False
            phone.play()
            assert phone.say("Dann bitte einen Termin").said[0].startswith("Ihr Termin")
            phone.play()
            office.down = True
            cloud.proxies["bedrock"].inject("delay", seconds=30, times=1)
            assert phone.say("Ich brauche ein Rezept").said == ["Einen Moment, bitte …"]
        with recorder.acting_as("worker"):
            # The model answers now; booking the prescription fails: the fallback waits.
            assert worker(cloud.invocations[-1], None) == {"result": "failed"}
        cloud.heal()
        with recorder.acting_as("webhook"):
            phone.play()
            phone.send("dtmf_received", digit="3")
            phone.play()
            phone.send("user_input_timeout")
            phone.play()
            for kind, fields in [
                ("user_barge_in", {"text": "Moment"}),
                ("user_speech_started", {}),
                ("sms_failed", {"reason": "unreachable"}),
                ("transcription_partial", {"text": "Ich möch"}),
            ]:
                assert phone.send(kind, **fields).status in (200, 204)
            phone.queue.clear()
            phone.say("Tschüss")
            phone.play()
            phone.hang_up()
            assert phone.endings == ["hangup"]
            outbound = Phone(webhook, dialled=CALLEE)
            assert outbound.start().said == [
                "Hier ist die Praxis Dr. Weber, wegen Ihren Termin morgen."
            ]
            outbound.hang_up()
    finally:
        webhook.engine.close()
        worker.engine.close()


def run_websocket(cloud: Cloud, recorder: Recorder) -> None:
    office = Backoffice()
    with recorder.acting_as("websocket"):
        handler = websocket_handler(practice_line("practice-ws", office), settings=settings(cloud))
        try:
            phone = WsPhone(handler, cloud)
            assert phone.connect() == 200
            phone.start()
            phone.play()
            seen = len(cloud.frames)
            asking = threading.Thread(target=phone.say, args=("Können Sie das erklären?",))
            asking.start()
            deadline = time.monotonic() + 5
            while len(cloud.frames) == seen and time.monotonic() < deadline:
                time.sleep(0.01)
            phone.send("user_speech_started")  # the caller talks: the stream stops
            asking.join(10)
            phone.queue.clear()
            phone.say("Tschüss")
            phone.play()
            phone.hang_up()
            phone.disconnect()
            assert phone.endings == ["hangup"]
            assert "Sie holen es ab." not in phone.heard, "the stream was not interrupted"
        finally:
            handler.transport.close()


# --- the templates ---------------------------------------------------------------------------

ROLES = {
    "webhook": ("template.yaml", "WebhookRole"),
    "worker": ("template.yaml", "WorkerRole"),
    "websocket": ("infra/websocket.yaml", "WebSocketRole"),
    "dialer": ("template.yaml", "DialerRole"),
}


def grants(template_file: str, role: str) -> tuple[set[str], set[str]]:
    """The actions ``role``'s own policies grant (all condition branches), and those of
    the optional Bedrock policy attached to it."""
    template = load_template(Path(REPO / template_file))
    resources = template["Resources"]
    own = {
        action
        for policy in resources[role]["Properties"].get("Policies", [])
        for statement in branches(policy["PolicyDocument"]["Statement"])
        for action in as_list(statement["Action"])
    }
    root = load_template(REPO / "template.yaml")
    bedrock_policy = root["Resources"]["BedrockInvokePolicy"]
    attached = bedrock_policy["Properties"]["Roles"]
    websocket = root["Resources"]["WebSocket"]["Properties"]["Parameters"]["BedrockPolicyArn"]
    gets_bedrock = {"Ref": role} in attached or (
        role == "WebSocketRole" and "BedrockInvokePolicy" in json.dumps(websocket)
    )
    bedrock = (
        {
            action
            for statement in branches(bedrock_policy["Properties"]["PolicyDocument"]["Statement"])
            for action in as_list(statement["Action"])
        }
        if gets_bedrock
        else set()
    )
    return own, bedrock


def branches(value: Any) -> Iterator[dict[str, Any]]:
    """The statements of a (possibly Fn::If-wrapped) statement list, every branch."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        for branch in value["Fn::If"][1:]:
            yield from branches(branch)
    elif isinstance(value, list):
        for item in value:
            yield from branches(item)
    elif isinstance(value, dict) and "Action" in value:
        yield value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
