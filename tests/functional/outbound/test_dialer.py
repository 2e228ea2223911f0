"""The dialer Lambda handler with SQS batches: dialled, retried, or dead-lettered at once.

Messages go through a real (moto) SQS queue and come back as the SQS event Lambda would
deliver; the dialer dials the fake sipgate and stores contexts in the template's call table.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from aiflow.outbound import DynamoDBOutboundContexts, InvalidDial, SipgateClient, enqueue_dial
from aiflow.outbound.dialer import Dialer
from aiflow.protocol import Session
from aiflow.testing.fake_sipgate import Answer, FakeSipgate

from .conftest import CALLEE, DEVICE, FLOW_ID, FLOW_NUMBER, UNKNOWN_FLOW

OTHER_CALLEE = "+4930123456789"
THIRD_CALLEE = "+4940123456789"


@dataclass
class LambdaContext:
    remaining_ms: int = 150_000
    function_name: str = "aiflow-dialer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-central-1:123456789012:function:aiflow-dialer"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Queues:
    sqs: Any
    url: str
    arn: str
    dlq_url: str

    def send(self, body: dict[str, Any] | str) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.sqs.send_message(QueueUrl=self.url, MessageBody=text)

    def batch(self) -> dict[str, Any]:
        """Receive what is queued and shape it as Lambda's SQS event."""
        received = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        return {"Records": [self.record(message) for message in received]}

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": "eu-central-1",
        }

    def dead_letters(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return messages


@pytest.fixture
def queues(aws: None) -> Queues:
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="dial-dlq")["QueueUrl"]
    url = sqs.create_queue(QueueName="dial")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queues(sqs, url, arn, dlq_url)


@pytest.fixture
def dialer(client: SipgateClient, table: str, queues: Queues) -> Dialer:
    return Dialer(
        client=client,
        contexts=DynamoDBOutboundContexts(table),
        dead_letter_queue_url=queues.dlq_url,
        sqs=queues.sqs,
    )


def request(to: str = CALLEE, flow_id: str = FLOW_ID, **extra: Any) -> dict[str, Any]:
    return {"flow_id": flow_id, "to": to, **extra}


def failed_ids(result: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in result["batchItemFailures"]]


def test_each_message_of_a_batch_ends_where_it_belongs(
    dialer: Dialer, queues: Queues, sipgate: FakeSipgate, table: str
) -> None:
    sipgate.answer(500, 500, 500)  # the first message meets an outage
    queues.send(request(to=OTHER_CALLEE))
    queues.send(request(data={"appointment": "Mo 9:30"}))
    queues.send(request(to=THIRD_CALLEE, flow_id=UNKNOWN_FLOW))
    queues.send('{"flow_id": "x", "to": "not a number"}')
    event = queues.batch()
    ids = [record["messageId"] for record in event["Records"]]

    result = dialer(event, LambdaContext())

    assert failed_ids(result) == [ids[0]], "only the outage is retried through the queue"
    assert len(sipgate.requests) == 3 + 1 + 1, "the malformed message was never sent"
    dead = {message["Body"]: message["MessageAttributes"] for message in queues.dead_letters()}
    unknown_flow = json.dumps(request(to=THIRD_CALLEE, flow_id=UNKNOWN_FLOW))
    assert dead[unknown_flow]["aiflow_error"]["StringValue"] == "flow_not_found"
    assert dead[unknown_flow]["aiflow_status"]["StringValue"] == "404"
    malformed = dead['{"flow_id": "x", "to": "not a number"}']
    assert malformed["aiflow_error"]["StringValue"] == "invalid_dial"
    assert "aiflow_status" not in malformed
    assert len(dead) == 2
    taken = DynamoDBOutboundContexts(table).take_for(
        Session(id="s-1", direction="outbound", to_phone_number=CALLEE),
        now_ms=_now_ms(),
    )
    assert taken is not None and taken.request_id == ids[1]
    assert taken.data == {"appointment": "Mo 9:30"}


def test_a_rate_limit_goes_back_to_the_queue(
    dialer: Dialer, queues: Queues, sipgate: FakeSipgate
) -> None:
    sipgate.answer(Answer(429, headers={"Retry-After": "60"}))
    queues.send(request())
    event = queues.batch()
    assert failed_ids(dialer(event, LambdaContext())) == [event["Records"][0]["messageId"]]
    assert queues.dead_letters() == []


def test_a_repeated_delivery_does_not_ring_twice(
    dialer: Dialer, queues: Queues, sipgate: FakeSipgate
) -> None:
    queues.send(request())
    event = queues.batch()
    assert failed_ids(dialer(event, LambdaContext())) == []
    assert failed_ids(dialer(event, LambdaContext())) == []  # SQS delivered it again
    assert len(sipgate.requests) == 1


def test_a_dial_without_answer_is_dead_lettered_not_repeated(
    sipgate: FakeSipgate, table: str, queues: Queues
) -> None:
    slow = SipgateClient(sipgate.token, base_url=sipgate.url, device=DEVICE, timeout=0.3)
    dialer = Dialer(
        client=slow,
        contexts=DynamoDBOutboundContexts(table),
        dead_letter_queue_url=queues.dlq_url,
        sqs=queues.sqs,
    )
    sipgate.answer(Answer(201, delay=3))
    queues.send(request())
    result = dialer(queues.batch(), LambdaContext())
    assert failed_ids(result) == []
    (dead,) = queues.dead_letters()
    assert dead["MessageAttributes"]["aiflow_error"]["StringValue"] == "sipgate_unavailable"
    assert len(sipgate.requests) == 1


def test_with_too_little_time_left_the_batch_goes_back_untouched(
    dialer: Dialer, queues: Queues, sipgate: FakeSipgate
) -> None:
    queues.send(request())
    queues.send(request(to=OTHER_CALLEE))
    event = queues.batch()
    result = dialer(event, LambdaContext(remaining_ms=3_000))
    assert sorted(failed_ids(result)) == sorted(r["messageId"] for r in event["Records"])
    assert sipgate.requests == []


def test_when_the_dead_letter_queue_fails_the_message_is_retried(
    client: SipgateClient, table: str, queues: Queues, sipgate: FakeSipgate
) -> None:
    dialer = Dialer(
        client=client,
        contexts=DynamoDBOutboundContexts(table),
        dead_letter_queue_url=queues.dlq_url + "-missing",
        sqs=queues.sqs,
    )
    queues.send(request(flow_id=UNKNOWN_FLOW))
    event = queues.batch()
    assert failed_ids(dialer(event, LambdaContext())) == [event["Records"][0]["messageId"]]


def test_without_a_dead_letter_queue_a_hopeless_message_is_dropped(
    client: SipgateClient, table: str, queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    dialer = Dialer(client=client, contexts=DynamoDBOutboundContexts(table))
    queues.send(request(flow_id=UNKNOWN_FLOW))
    assert failed_ids(dialer(queues.batch(), LambdaContext())) == []
    assert "no dead-letter queue, dropped" in caplog.text


# --- the deployed entry point: aiflow.outbound.dialer.handler ------------------------------------


@pytest.fixture
def deployed_env(
    sipgate: FakeSipgate, table: str, queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The environment template.yaml gives the dialer, with the token in Secrets Manager."""
    secret = boto3.client("secretsmanager").create_secret(
        Name="sipgate-token", SecretString=sipgate.token
    )
    monkeypatch.setenv("AIFLOW_TABLE_NAME", table)
    monkeypatch.setenv("AIFLOW_SIPGATE_TOKEN_SECRET", secret["ARN"])
    monkeypatch.setenv("AIFLOW_SIPGATE_DEVICE", DEVICE)
    monkeypatch.setenv("AIFLOW_SIPGATE_API_URL", sipgate.url)
    monkeypatch.setenv("AIFLOW_DIAL_DLQ_URL", queues.dlq_url)
    module = importlib.import_module("aiflow.outbound.dialer")
    try:
        yield
    finally:
        module.__dict__.pop("handler", None)


def test_a_queued_call_is_dialled_by_the_deployed_handler(
    deployed_env: None, queues: Queues, sipgate: FakeSipgate, table: str
) -> None:
    message_id = enqueue_dial(
        queues.url, FLOW_ID, "0049 157 90000687", data={"patient": "Weber"}, client=queues.sqs
    )
    from aiflow.outbound.dialer import handler  # built from the environment on first access

    event = queues.batch()
    assert [r["messageId"] for r in event["Records"]] == [message_id]
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}

    (sent,) = sipgate.requests
    assert sent.json == {"billingDevice": DEVICE, "toPhoneNumber": "4915790000687"}
    session = Session(
        id="s-9",
        direction="outbound",
        from_phone_number=FLOW_NUMBER,
        to_phone_number="4915790000687",
    )
    taken = DynamoDBOutboundContexts(table).take_for(session, _now_ms())
    assert taken is not None and (taken.request_id, taken.data) == (
        message_id,
        {"patient": "Weber"},
    )


def test_the_queued_message_is_the_documented_dial_request(queues: Queues) -> None:
    enqueue_dial(queues.url, FLOW_ID, "+49 157 90000687", device="e3", client=queues.sqs)
    (message,) = queues.sqs.receive_message(QueueUrl=queues.url)["Messages"]
    assert json.loads(message["Body"]) == {"flow_id": FLOW_ID, "to": CALLEE, "device": "e3"}


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_a_bad_dial_is_refused_before_it_is_queued(queues: Queues) -> None:
    with pytest.raises(InvalidDial, match="to: .*national number"):
        enqueue_dial(queues.url, FLOW_ID, "0157 90000687", client=queues.sqs)
    with pytest.raises(InvalidDial, match="data: at most"):
        enqueue_dial(queues.url, FLOW_ID, CALLEE, data={"x": "y" * 40_000}, client=queues.sqs)
    with pytest.raises(InvalidDial, match="flow"):
        enqueue_dial(queues.url, "no/flow", CALLEE, client=queues.sqs)
    assert "Messages" not in queues.sqs.receive_message(QueueUrl=queues.url)
