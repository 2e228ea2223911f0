"""`aiflow dial` end to end: a real process against the fake sipgate and moto's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import boto3
import pytest

from aiflow.local.embedded import EmbeddedDynamoDB
from aiflow.outbound import DynamoDBOutboundContexts
from aiflow.protocol import Session
from aiflow.testing.fake_sipgate import FakeSipgate

from .conftest import CLEARED_ENV, FAKE_AWS_ENV, FLOW_ID, REPO, TEMPLATE, UNKNOWN_FLOW

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto_server() -> Iterator[EmbeddedDynamoDB]:
    """moto's server on loopback (every service, the template's tables)."""
    with EmbeddedDynamoDB(TEMPLATE, prefix=f"dial-cli-{uuid.uuid4().hex[:6]}-") as server:
        yield server


def run_dial(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    return subprocess.run(
        [sys.executable, "-m", "aiflow.dev.cli", "dial", *args],
        cwd=REPO,
        env={**clean, **FAKE_AWS_ENV, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sipgate_env(sipgate: FakeSipgate) -> dict[str, str]:
    return {
        "AIFLOW_SIPGATE_API_URL": sipgate.url,
        "AIFLOW_SIPGATE_TOKEN": sipgate.token,
        "AIFLOW_SIPGATE_DEVICE": "e2",
    }


def test_dialling_prints_what_happened(sipgate: FakeSipgate) -> None:
    done = run_dial("--flow", FLOW_ID, "--to", "0049 157 90000687", env=sipgate_env(sipgate))

    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith(
        f"Calling +49*********87 from AI Flow {FLOW_ID} (device e2): sipgate answered 201 "
        "after 1 attempt(s) in "
    )
    assert second.startswith("Request ") and "no context stored" in second
    assert "90000687" not in done.stdout + done.stderr
    (request,) = sipgate.requests
    assert request.json == {"billingDevice": "e2", "toPhoneNumber": "4915790000687"}


def test_data_is_stored_for_the_call(sipgate: FakeSipgate, moto_server: EmbeddedDynamoDB) -> None:
    env = {
        **sipgate_env(sipgate),
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AIFLOW_TABLE_NAME": moto_server.table_name(),
    }
    data = {"appointment": "Mo 9:30", "patient": "Weber"}

    done = run_dial(
        "--flow",
        FLOW_ID,
        "--to",
        "+4915790000687",
        "--device",
        "e9",
        "--data",
        json.dumps(data),
        env=env,
    )

    assert done.returncode == 0, done.stderr
    assert "context stored" in done.stdout and "no context" not in done.stdout
    assert sipgate.requests[0].json["billingDevice"] == "e9"
    contexts = DynamoDBOutboundContexts(moto_server.table_name(), client=moto_server.client())
    session = Session(id="s-1", direction="outbound", to_phone_number="4915790000687")
    taken = contexts.take_for(session, int(time.time() * 1000))
    assert taken is not None and (taken.data, taken.device) == (data, "e9")


def test_a_refused_dial_names_the_error_and_exits_1(sipgate: FakeSipgate) -> None:
    done = run_dial("--flow", UNKNOWN_FLOW, "--to", "+4915790000687", env=sipgate_env(sipgate))

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("aiflow dial: FlowNotFound: sipgate answered 404 Not Found")
    assert "check the flow id" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_token_nothing_is_dialled(sipgate: FakeSipgate) -> None:
    env = sipgate_env(sipgate)
    del env["AIFLOW_SIPGATE_TOKEN"]
    done = run_dial("--flow", FLOW_ID, "--to", "+4915790000687", env=env)
    assert done.returncode == 1
    assert "DialNotConfigured: no sipgate token: set AIFLOW_SIPGATE_TOKEN" in done.stderr
    assert sipgate.requests == []


def test_data_without_a_table_is_refused(sipgate: FakeSipgate) -> None:
    done = run_dial(
        "--flow", FLOW_ID, "--to", "+4915790000687", "--data", "{}", env=sipgate_env(sipgate)
    )
    assert done.returncode == 1
    assert "AIFLOW_TABLE_NAME" in done.stderr
    assert sipgate.requests == []


def test_bad_data_is_a_usage_error(sipgate: FakeSipgate) -> None:
    done = run_dial(
        "--flow", FLOW_ID, "--to", "+4915790000687", "--data", "[1]", env=sipgate_env(sipgate)
    )
    assert done.returncode == 2
    assert "--data: must be a JSON object" in done.stderr


def test_a_call_can_be_queued_for_the_dialer(moto_server: EmbeddedDynamoDB) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_server.endpoint_url)
    queue_url = sqs.create_queue(QueueName=f"dial-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    done = run_dial(
        "--flow",
        FLOW_ID,
        "--to",
        "+49 157 90000687",
        "--data",
        '{"n": 1}',
        "--queue",
        "--queue-url",
        queue_url,
        env={"AWS_ENDPOINT_URL": moto_server.endpoint_url},
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Queued the call to +49*********87 from AI Flow {FLOW_ID}: ")
    (message,) = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(message["Body"]) == {
        "flow_id": FLOW_ID,
        "to": "+4915790000687",
        "data": {"n": 1},
    }
    assert message["MessageId"] in done.stdout


def test_queueing_needs_a_queue() -> None:
    done = run_dial("--flow", FLOW_ID, "--to", "+4915790000687", "--queue", env={})
    assert done.returncode == 2
    assert "--queue needs the queue: --queue-url URL, --stack NAME" in done.stderr
