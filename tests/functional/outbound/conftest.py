"""Outbound calls against a fake sipgate on loopback and DynamoDB/SQS in moto.

The fake (``aiflow.testing.fake_sipgate``) is real HTTP on 127.0.0.1 and answers as sipgate's
documentation says; the call table is created from ``template.yaml``. Nothing here needs AWS
credentials or the network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from aiflow.local.template import create_tables
from aiflow.outbound import RetryPolicy, SipgateClient
from aiflow.testing.fake_sipgate import FakeSipgate

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
FLOW_ID = "e3670012-96a3-4ae5-ac42-87abe22015c3"
FLOW_WITHOUT_NUMBER = "0b1c2d3e-0000-4000-8000-000000000400"
UNKNOWN_FLOW = "deadbeef-0000-4000-8000-000000000404"
FLOW_NUMBER = "+4921155660"
CALLEE = "+4915790000687"
DEVICE = "e2"
# Quick retries for tests; the bounds and their timing are what the tests check.
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, max_wait=1.0)

FAKE_AWS_ENV = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
CLEARED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AIFLOW_TABLE_NAME",
    "AIFLOW_SIPGATE_TOKEN",
    "AIFLOW_SIPGATE_TOKEN_SECRET",
    "AIFLOW_SIPGATE_DEVICE",
    "AIFLOW_SIPGATE_API_URL",
    "AIFLOW_DIAL_DLQ_URL",
    "AIFLOW_DIAL_QUEUE_URL",
    "AIFLOW_OUTBOUND_WINDOW_SECONDS",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real account, endpoint or sipgate setting of the machine."""
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()


@pytest.fixture
def sipgate() -> Iterator[FakeSipgate]:
    fake = FakeSipgate(flows={FLOW_ID: FLOW_NUMBER, FLOW_WITHOUT_NUMBER: None})
    with fake:
        yield fake


@pytest.fixture
def client(sipgate: FakeSipgate) -> SipgateClient:
    return SipgateClient(sipgate.token, base_url=sipgate.url, device=DEVICE, retry=FAST_RETRY)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def table(aws: None) -> str:
    """The call table, created from template.yaml in moto."""
    names = create_tables(boto3.client("dynamodb"), TEMPLATE)
    return names["CallsTable"]


class RequestCounter:
    """Counts the AWS API calls a boto3 client makes, by operation name."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[model.name] += 1

    def total(self) -> int:
        return sum(self.counts.values())
