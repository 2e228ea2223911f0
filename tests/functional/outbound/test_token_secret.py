"""The sipgate token from Secrets Manager (moto), as the deployed dialer reads it."""

from __future__ import annotations

import json

import boto3
import pytest

from aiflow.local.template import load_template
from aiflow.outbound import DialNotConfigured, SipgateClient, secret_token_source
from aiflow.testing.fake_sipgate import FakeSipgate

from .conftest import CALLEE, DEVICE, FLOW_ID, TEMPLATE


def test_the_token_is_read_from_the_secret_and_sent(
    aws: None, sipgate: FakeSipgate, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = boto3.client("secretsmanager").create_secret(
        Name="sipgate", SecretString=sipgate.token + "\n"
    )["ARN"]
    monkeypatch.setenv("AIFLOW_SIPGATE_TOKEN_SECRET", arn)
    monkeypatch.setenv("AIFLOW_SIPGATE_API_URL", sipgate.url)
    SipgateClient.from_env().call(FLOW_ID, CALLEE, device=DEVICE)
    assert sipgate.requests[0].headers["authorization"] == f"Bearer {sipgate.token}"


def test_a_json_secret_with_a_token_field_works_too(aws: None) -> None:
    boto3.client("secretsmanager").create_secret(
        Name="sipgate-json", SecretString=json.dumps({"token": "abc123"})
    )
    assert secret_token_source("sipgate-json")() == "abc123"


def test_the_stacks_placeholder_is_recognised(aws: None) -> None:
    """The secret as template.yaml creates it: its SecretStringTemplate plus a random key."""
    spec = load_template(TEMPLATE)["Resources"]["SipgateTokenSecret"]["Properties"]
    generate = spec["GenerateSecretString"]
    value = json.loads(generate["SecretStringTemplate"])
    value[generate["GenerateStringKey"]] = "Zq3kP0aLx9"
    boto3.client("secretsmanager").create_secret(Name="fresh", SecretString=json.dumps(value))

    with pytest.raises(DialNotConfigured, match="placeholder.*SetSipgateTokenCommand"):
        secret_token_source("fresh")()


def test_a_missing_secret_says_what_to_check(aws: None) -> None:
    with pytest.raises(DialNotConfigured, match="ResourceNotFoundException.*GetSecretValue"):
        secret_token_source("no-such-secret")()
