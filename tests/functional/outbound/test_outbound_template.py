"""template.yaml's optional outbound calls: queue, dead-letter queue, dialer, token secret."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from aiflow.local.template import REPO_ROOT, load_template
from aiflow.outbound import SipgateClient
from aiflow.outbound.contexts import KEY_PREFIX
from aiflow.outbound.dialer import SAFETY_MS
from aiflow.testing.fake_sipgate import FakeSipgate

from .conftest import TEMPLATE, UNKNOWN_FLOW

FUNCTIONS_MAKEFILE = REPO_ROOT / "functions" / "Makefile"
OUTBOUND_RESOURCES = {
    "DialQueue",
    "DialDeadLetterQueue",
    "SipgateTokenSecret",
    "DialerFunction",
    "DialerLogGroup",
    "DialerRole",
}
OUTBOUND_OUTPUTS = {
    "DialQueueUrl",
    "DialDeadLetterQueueUrl",
    "SipgateTokenSecretArn",
    "SetSipgateTokenCommand",
    "DialerFunctionName",
}
# What the SQS event source mapping does with the function's role (not our code).
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    result: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return result


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def dialer_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (policy,) = props(template, "DialerRole")["Policies"]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def test_outbound_calls_are_off_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["EnableOutbound"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["true", "false"])
    assert template["Conditions"]["OutboundEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableOutbound"}, "true"]
    }
    assert template["Parameters"]["SipgateBillingDevice"]["Default"] == ""


def test_every_outbound_resource_and_output_depends_on_the_parameter(
    template: dict[str, Any],
) -> None:
    conditional = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("Condition") == "OutboundEnabled"
    }
    assert conditional == OUTBOUND_RESOURCES
    outputs = {
        name
        for name, spec in template["Outputs"].items()
        if spec.get("Condition") == "OutboundEnabled"
    }
    assert outputs == OUTBOUND_OUTPUTS
    assert template["Outputs"]["DialQueueUrl"]["Value"] == {"Ref": "DialQueue"}
    # Nothing that exists without the parameter may point at these resources.
    for logical_id, resource in template["Resources"].items():
        if logical_id not in OUTBOUND_RESOURCES:
            text = json.dumps(resource)
            assert not any(f'"{name}' in text for name in OUTBOUND_RESOURCES), logical_id


def test_failed_dials_end_in_a_dead_letter_queue(template: dict[str, Any]) -> None:
    queue = props(template, "DialQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DialDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    dead = props(template, "DialDeadLetterQueue")
    assert dead["MessageRetentionPeriod"] == 14 * 24 * 3600
    for name in ("DialQueue", "DialDeadLetterQueue"):
        resource = template["Resources"][name]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Delete"
    assert queue["SqsManagedSseEnabled"] is dead["SqsManagedSseEnabled"] is True
    dialer = props(template, "DialerFunction")
    # AWS's advice for Lambda event sources: visibility timeout >= 6 x function timeout.
    assert queue["VisibilityTimeout"] >= 6 * dialer["Timeout"]
    env = dialer["Environment"]["Variables"]
    assert env["AIFLOW_DIAL_DLQ_URL"] == {"Ref": "DialDeadLetterQueue"}


def test_dialling_concurrency_is_bounded(template: dict[str, Any]) -> None:
    dialer = props(template, "DialerFunction")
    (source,) = dialer["Events"].values()
    assert source["Type"] == "SQS"
    spec = source["Properties"]
    assert spec["Queue"] == {"Fn::GetAtt": ["DialQueue", "Arn"]}
    assert 1 <= spec["BatchSize"] <= 5
    assert spec["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert spec["ScalingConfig"] == {"MaximumConcurrency": 2}
    # A full batch of worst-case dials fits into the function's time.
    worst_ms = SipgateClient("t").worst_case_seconds() * 1000 + SAFETY_MS
    assert spec["BatchSize"] * worst_ms <= dialer["Timeout"] * 1000


def test_the_dialer_function_is_built_and_logged_like_the_others(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = template["Resources"]["DialerFunction"]
    assert resource["Type"] == "AWS::Serverless::Function"
    assert resource["Metadata"]["BuildMethod"] == "makefile"
    rules = re.findall(r"^([\w. -]+):", FUNCTIONS_MAKEFILE.read_text("utf-8"), re.MULTILINE)
    assert any("build-DialerFunction" in rule.split() for rule in rules)
    dialer = resource["Properties"]
    assert dialer["Handler"] == "aiflow.outbound.dialer.handler"
    assert dialer["Role"] == {"Fn::GetAtt": ["DialerRole", "Arn"]}
    assert "Policies" not in dialer
    group = dialer["LoggingConfig"]["LogGroup"]["Ref"]
    assert props(template, group)["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    env = dialer["Environment"]["Variables"]
    assert env["AIFLOW_SIPGATE_TOKEN_SECRET"] == {"Ref": "SipgateTokenSecret"}
    assert env["AIFLOW_SIPGATE_DEVICE"] == {"Ref": "SipgateBillingDevice"}
    assert "AIFLOW_SIPGATE_TOKEN" not in env, "never a token in the template"
    module_name, _, name = dialer["Handler"].rpartition(".")
    module = importlib.import_module(module_name)
    try:
        assert callable(getattr(module, name))
    finally:
        module.__dict__.pop(name, None)


def test_the_token_secret_starts_as_a_recognisable_placeholder(template: dict[str, Any]) -> None:
    resource = template["Resources"]["SipgateTokenSecret"]
    spec = resource["Properties"]
    assert "SecretString" not in spec
    assert "placeholder" in json.loads(spec["GenerateSecretString"]["SecretStringTemplate"])
    assert resource["DeletionPolicy"] == "Delete"
    command = template["Outputs"]["SetSipgateTokenCommand"]["Value"]["Fn::Sub"]
    assert "\n" not in command
    assert command.startswith(
        "aws secretsmanager put-secret-value --secret-id ${SipgateTokenSecret}"
    )
    assert command.endswith('--secret-string "$SIPGATE_TOKEN"')


def test_the_dialer_role_grants_exactly_its_resources(template: dict[str, Any]) -> None:
    trust = props(template, "DialerRole")["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    grants = {
        (action, json.dumps(statement["Resource"], sort_keys=True))
        for statement in dialer_statements(template)
        for action in as_list(statement["Action"])
    }
    table = json.dumps({"Fn::GetAtt": ["CallsTable", "Arn"]})
    assert grants == {
        ("logs:CreateLogStream", json.dumps({"Fn::GetAtt": ["DialerLogGroup", "Arn"]})),
        ("logs:PutLogEvents", json.dumps({"Fn::GetAtt": ["DialerLogGroup", "Arn"]})),
        *(
            (action, json.dumps({"Fn::GetAtt": ["DialQueue", "Arn"]}))
            for action in EVENT_SOURCE_ACTIONS
        ),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["DialDeadLetterQueue", "Arn"]})),
        ("secretsmanager:GetSecretValue", json.dumps({"Ref": "SipgateTokenSecret"})),
        ("dynamodb:PutItem", table),
        ("dynamodb:DeleteItem", table),
    }
    (dynamodb,) = [s for s in dialer_statements(template) if "dynamodb:PutItem" in s["Action"]]
    assert dynamodb["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [KEY_PREFIX + "*"]}
    }, "only the outbound context items of the call table"


def test_the_webhook_may_take_contexts(template: dict[str, Any]) -> None:
    """take_for is one DeleteItem on the call table, which the webhook role has already."""
    (policy,) = props(template, "WebhookRole")["Policies"]
    (state,) = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == "CallState"]
    assert "dynamodb:DeleteItem" in state["Action"]
    assert state["Resource"] == {"Fn::GetAtt": ["CallsTable", "Arn"]}


# --- what the code really calls ------------------------------------------------------------------


@pytest.fixture
def aws_calls(aws: None) -> Iterator[set[str]]:
    """Every AWS operation made through boto3's default session, as IAM action names."""
    seen: set[str] = set()
    session = boto3._get_default_session()._session  # clients copy its event handlers

    def record(model: Any, **_: Any) -> None:
        prefix = model.service_model.signing_name
        seen.add(f"{prefix}:{model.name}")

    session.register("before-call.*.*", record, unique_id="outbound-template-test")
    try:
        yield seen
    finally:
        session.unregister("before-call.*.*", unique_id="outbound-template-test")


def test_the_role_allows_exactly_what_the_dialer_calls(
    template: dict[str, Any],
    aws_calls: set[str],
    table: str,
    sipgate: FakeSipgate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dial that stores a context, fails for good (404), removes the context and moves its
    message to the dead-letter queue touches every permission the code needs."""
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    secret = boto3.client("secretsmanager").create_secret(Name="t", SecretString=sipgate.token)
    for name, value in {
        "AIFLOW_TABLE_NAME": table,
        "AIFLOW_SIPGATE_TOKEN_SECRET": secret["ARN"],
        "AIFLOW_SIPGATE_API_URL": sipgate.url,
        "AIFLOW_SIPGATE_DEVICE": "e2",
        "AIFLOW_DIAL_DLQ_URL": dlq,
    }.items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module("aiflow.outbound.dialer")
    aws_calls.clear()  # the setup above is not the dialer's doing
    body = json.dumps({"flow_id": UNKNOWN_FLOW, "to": "+4915790000687", "data": {"x": 1}})
    event = {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:q",
                "awsRegion": "eu-central-1",
            }
        ]
    }
    try:
        assert module.handler(event, None) == {"batchItemFailures": []}
    finally:
        module.__dict__.pop("handler", None)

    granted = {
        action
        for statement in dialer_statements(template)
        for action in as_list(statement["Action"])
        if not action.startswith("logs:")
    }
    assert aws_calls == granted - EVENT_SOURCE_ACTIONS
