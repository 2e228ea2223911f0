"""template.yaml, samconfig.toml, functions/Makefile and infra/: what deployment relies on.

Fast and offline: the template is read with ``aiflow.local.template`` and linted with cfn-lint's
Python API; tables are created in moto. The real ``make build`` (sam build, about a minute,
needs PyPI) runs only with ``AIFLOW_TEST_SAM_BUILD=1``.

Nothing here depends on which assistant is deployed (the template's ``Assistant``):
tests/functional/test_assistant_setting.py runs this file again with another one.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiflow.local.template import (
    TemplateError,
    create_tables,
    deployed_assistant,
    function_environment,
    load_template,
    resources_of_type,
    sample_events,
    table_definitions,
    ttl_attributes,
)
from aiflow.protocol import (
    SessionStartEvent,
    UnknownEvent,
    UserBargeInEvent,
    UserSpeakEvent,
    parse_event,
)

# This checkout (or the copy test_assistant_setting.py makes), not where aiflow is installed.
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
EVENTS_DIR = REPO_ROOT / "infra" / "events"
LOCAL_ENV = REPO_ROOT / "infra" / "env" / "local.json"
FUNCTIONS_MAKEFILE = REPO_ROOT / "functions" / "Makefile"
SESSION_ID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
MAX_ZIP_BYTES = 5_000_000

# The contract with the Lambda code (functions/aiflow/lambda_/settings.py and friends).
SHARED_ENV = {
    "AIFLOW_ASSISTANT",
    "AIFLOW_TABLE_NAME",
    "AIFLOW_CALL_TTL_SECONDS",
    "AIFLOW_TURN_BUDGET_MS",
    "AIFLOW_LOG_REDACT",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
WEBHOOK_ONLY_ENV = {
    "AIFLOW_TOKEN_SECRET",
    "AIFLOW_TOKEN_CACHE_SECONDS",
    "AIFLOW_MAX_BODY_BYTES",
    "AIFLOW_WORKER_FUNCTION",
    "AIFLOW_API_TOKEN",
}
# What the webhook and the worker call (recorded in tests/functional/faults/
# test_least_privilege.py); UpdateItem is the WebSocket function's only.
TABLE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
}
TABLE_ARN = {"Fn::GetAtt": ["CallsTable", "Arn"]}
# Call records (EnableCallRecords): written once per call, nothing else (tests/functional/records).
RECORDS_ARN = {"Fn::GetAtt": ["CallRecordsTable", "Arn"]}
EVENT_FILES = {
    "session_start",
    "session_start_again",
    "user_speak",
    "user_speak_barged_in",
    "user_speech_started",
    "assistant_speak",
    "assistant_speech_ended",
    "user_input_timeout",
    "dtmf_received",
    "session_end",
    "user_barge_in",
    "sms_failed",
    "unknown_event",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


def resources(template: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = template["Resources"]
    return result


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    result: dict[str, Any] = resources(template)[logical_id]["Properties"]
    return result


def function_env(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """Globals merged with the function's own variables, as SAM does."""
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    own = props(template, logical_id).get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def if_branches(value: Any) -> Iterator[Any]:
    """Every value a (possibly nested) Fn::If can produce; AWS::NoValue dropped."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        for branch in value["Fn::If"][1:]:
            yield from if_branches(branch)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Every IAM statement granted to ``role``: inline and attached policies, all branches."""
    documents = [policy["PolicyDocument"] for policy in props(template, role).get("Policies", [])]
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for resource in resources_of_type(template, kind).values():
            if {"Ref": role} in resource["Properties"].get("Roles", []):
                documents.append(resource["Properties"]["PolicyDocument"])
    statements = []
    for document in documents:
        for branch in if_branches(document["Statement"]):
            for statement in as_list(branch):
                statements.extend(if_branches(statement))
    return statements


# --- lint ---------------------------------------------------------------------------------------


def test_cfn_lint_passes_including_informational_checks() -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(TEMPLATE_PATH, ManualArgs(include_checks=["I"]))
    assert [str(match) for match in matches] == []


def test_load_template_understands_short_tags(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  A:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      Ref: !Ref P\n"
        "      Att: !GetAtt B.Arn\n"
        "      AttList: !GetAtt [B, Arn]\n"
        "      Sub: !Sub 'x-${AWS::Region}'\n"
        "      If: !If [C, !Join ['', [a, !Select [0, !Split [',', 'b,c']]]], !Ref AWS::NoValue]\n"
        "      Cond: !And [!Condition C, !Not [!Equals [!Ref P, 'x']]]\n"
        "      Version: 2012-10-17\n",
        encoding="utf-8",
    )
    got = load_template(path)["Resources"]["A"]["Properties"]
    assert got["Ref"] == {"Ref": "P"}
    assert got["Att"] == got["AttList"] == {"Fn::GetAtt": ["B", "Arn"]}
    assert got["Sub"] == {"Fn::Sub": "x-${AWS::Region}"}
    assert got["If"] == {
        "Fn::If": [
            "C",
            {"Fn::Join": ["", ["a", {"Fn::Select": [0, {"Fn::Split": [",", "b,c"]}]}]]},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert got["Cond"] == {
        "Fn::And": [{"Condition": "C"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, "x"]}]}]
    }
    assert got["Version"] == "2012-10-17"


def test_load_template_rejects_what_is_not_a_template(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- a\n", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("a: [\n", encoding="utf-8")
    for name in ("list.yaml", "bad.yaml", "missing.yaml"):
        with pytest.raises(TemplateError):
            load_template(tmp_path / name)


# --- functions ----------------------------------------------------------------------------------


def test_functions_run_python312_or_newer_on_arm64(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    runtime = globals_["Runtime"]
    match = re.fullmatch(r"python3\.(\d+)", runtime)
    assert match and int(match[1]) >= 12, runtime
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["CodeUri"] == "functions/"
    assert globals_.get("Tracing", "PassThrough") == "PassThrough"
    makefile = FUNCTIONS_MAKEFILE.read_text(encoding="utf-8")
    pinned = re.search(r"^LAMBDA_PYTHON_VERSION\s*:=\s*(\S+)", makefile, re.MULTILINE)
    assert pinned and runtime == f"python{pinned[1]}", "functions/Makefile builds another Python"
    assert "manylinux2014_aarch64" in makefile


@pytest.mark.parametrize(
    ("logical_id", "handler", "memory", "timeout"),
    [
        ("WebhookFunction", "aiflow.lambda_.main.webhook", 512, 10),
        ("WorkerFunction", "aiflow.lambda_.main.worker", 512, 60),
    ],
)
def test_function_shape(
    template: dict[str, Any], logical_id: str, handler: str, memory: int, timeout: int
) -> None:
    resource = resources(template)[logical_id]
    function = resource["Properties"]
    parameters = template["Parameters"]
    assert resource["Type"] == "AWS::Serverless::Function"
    assert resource["Metadata"]["BuildMethod"] == "makefile"
    makefile = FUNCTIONS_MAKEFILE.read_text(encoding="utf-8")
    rules = re.findall(r"^([\w. -]+):", makefile, re.MULTILINE)
    assert any(f"build-{logical_id}" in rule.split() for rule in rules)
    assert "CodeUri" not in function or function["CodeUri"] == "functions/"
    assert function["Handler"] == handler
    assert parameters[function["MemorySize"]["Ref"]]["Default"] == memory
    assert parameters[function["Timeout"]["Ref"]]["Default"] == timeout
    # Own role: SAM then attaches no AWSLambdaBasicExecutionRole (logs:* on "*").
    assert "Policies" not in function
    role = function["Role"]["Fn::GetAtt"][0]
    assert resources(template)[role]["Type"] == "AWS::IAM::Role"
    # Explicit log group with parameterised retention.
    group = function["LoggingConfig"]["LogGroup"]["Ref"]
    assert resources(template)[group]["Type"] == "AWS::Logs::LogGroup"
    retention = props(template, group)["RetentionInDays"]
    assert parameters[retention["Ref"]]["Default"] == 30


@pytest.mark.parametrize("logical_id", ["WebhookFunction", "WorkerFunction"])
def test_handler_exists_in_the_code(
    template: dict[str, Any], logical_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler resolves to a callable when its module is imported, as Lambda does it
    with the function's environment (entry points are built lazily by a module-level
    ``__getattr__``, for the assistant AIFLOW_ASSISTANT names)."""
    from aiflow.lambda_ import main

    module_name, _, name = props(template, logical_id)["Handler"].rpartition(".")
    environment = function_environment(template, logical_id)
    monkeypatch.setenv("AIFLOW_ASSISTANT", environment["AIFLOW_ASSISTANT"])
    monkeypatch.setenv("AIFLOW_API_TOKEN", "template-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.delenv("AIFLOW_TABLE_NAME", raising=False)
    module = importlib.import_module(module_name)
    assert module is main
    assert callable(main.build_entry_point(name)), f"{logical_id}: {module_name} has no {name}"


def test_environment_contract(template: dict[str, Any]) -> None:
    webhook = function_env(template, "WebhookFunction")
    worker = function_env(template, "WorkerFunction")
    assert SHARED_ENV | WEBHOOK_ONLY_ENV <= set(webhook)
    assert SHARED_ENV <= set(worker)
    assert not {"AIFLOW_TOKEN_SECRET", "AIFLOW_API_TOKEN"} & set(worker), "worker needs no token"
    assert webhook["AIFLOW_ASSISTANT"] == {"Ref": "Assistant"}
    assert webhook["AIFLOW_TABLE_NAME"] == {"Ref": "CallsTable"}
    assert webhook["AIFLOW_TOKEN_SECRET"] == {"Ref": "ApiTokenSecret"}
    assert webhook["AIFLOW_WORKER_FUNCTION"] == {"Ref": "WorkerFunction.Alias"}
    assert webhook["AIFLOW_API_TOKEN"] == "", "never a token in the template"
    assert webhook["AIFLOW_TOKEN_CACHE_SECONDS"] == "300"
    assert webhook["AIFLOW_MAX_BODY_BYTES"] == "262144"
    assert webhook["AIFLOW_CALL_TTL_SECONDS"] == "86400"
    assert webhook["AIFLOW_TURN_BUDGET_MS"] == "2500"
    assert webhook["AIFLOW_LOG_REDACT"] == "true"
    assert webhook["POWERTOOLS_SERVICE_NAME"] == "aiflow"
    assert webhook["POWERTOOLS_METRICS_NAMESPACE"] == "AiFlow"
    level = webhook["POWERTOOLS_LOG_LEVEL"]
    assert level == "INFO" or template["Parameters"][level["Ref"]]["Default"] == "INFO"
    for env in (webhook, worker):
        assert all(isinstance(value, str | dict) for value in env.values())


def test_worker_is_only_invoked_asynchronously_without_retries(template: dict[str, Any]) -> None:
    worker = props(template, "WorkerFunction")
    assert "Events" not in worker
    assert worker["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


def test_webhook_route(template: dict[str, Any]) -> None:
    events = props(template, "WebhookFunction")["Events"]
    (event,) = events.values()
    assert event["Type"] == "HttpApi"
    route = event["Properties"]
    # Every method reaches the function, which answers anything but POST itself (405).
    assert (route["Method"], route["Path"]) == ("ANY", "/webhook")
    assert route["PayloadFormatVersion"] == "2.0"
    api = route["ApiId"]["Ref"]
    assert resources(template)[api]["Type"] == "AWS::Serverless::HttpApi"


# --- least privilege ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["WebhookRole", "WorkerRole"])
def test_policies_are_least_privilege(template: dict[str, Any], role: str) -> None:
    trust = props(template, role)["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert "ManagedPolicyArns" not in props(template, role)
    statements = role_statements(template, role)
    assert statements
    granted: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        targets = as_list(statement["Resource"])
        assert "NotAction" not in statement and "NotResource" not in statement
        assert all("*" not in action for action in actions), statement
        assert all(target != "*" for target in targets), statement
        granted.update(actions)
        services = {action.split(":")[0] for action in actions}
        assert len(services) == 1, statement
        service = services.pop()
        if service == "dynamodb" and targets == [RECORDS_ARN]:
            assert actions == ["dynamodb:PutItem"] and role == "WebhookRole"
        elif service == "dynamodb":
            assert set(actions) <= TABLE_ACTIONS
            assert targets == [TABLE_ARN]
        elif service == "secretsmanager":
            assert actions == ["secretsmanager:GetSecretValue"]
            assert targets == [{"Ref": "ApiTokenSecret"}]
        elif service == "lambda":
            assert actions == ["lambda:InvokeFunction"]
            assert targets == [{"Ref": "WorkerFunction.Alias"}]
        elif service == "logs":
            assert set(actions) <= {"logs:CreateLogStream", "logs:PutLogEvents"}
            own_group = props(template, role.replace("Role", "Function"))["LoggingConfig"]
            assert targets == [{"Fn::GetAtt": [own_group["LogGroup"]["Ref"], "Arn"]}]
        elif service == "bedrock":
            assert set(actions) <= {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
            for target in targets:
                arn = as_list(target["Fn::Sub"])[0]
                assert arn.endswith(("foundation-model/${BedrockModelId}", "profile/${ProfileId}"))
                if ":bedrock:*:" in arn:  # any region: only through our inference profile
                    assert "bedrock:InferenceProfileArn" in statement["Condition"]["StringEquals"]
        else:
            pytest.fail(f"{role} is granted an unexpected service: {statement}")
    assert TABLE_ACTIONS <= granted
    if role == "WebhookRole":
        assert {"secretsmanager:GetSecretValue", "lambda:InvokeFunction"} <= granted
    else:
        assert not {"secretsmanager:GetSecretValue", "lambda:InvokeFunction"} & granted


def test_bedrock_is_off_by_default_and_conditional(template: dict[str, Any]) -> None:
    assert template["Parameters"]["EnableBedrock"]["Default"] == "false"
    assert "BedrockModelId" in template["Parameters"]
    assert template["Conditions"]["BedrockEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableBedrock"}, "true"]
    }
    policies = resources_of_type(template, "AWS::IAM::ManagedPolicy")
    for role in ("WebhookRole", "WorkerRole"):
        actions = [a for s in role_statements(template, role) for a in as_list(s["Action"])]
        assert "bedrock:InvokeModel" in actions, role
    assert all(policy.get("Condition") == "BedrockEnabled" for policy in policies.values())
    for role in ("WebhookRole", "WorkerRole"):
        inline = json.dumps(props(template, role)["Policies"])
        assert "bedrock:" not in inline, "Bedrock access must depend on EnableBedrock"
    model = template["Globals"]["Function"]["Environment"]["Variables"]["AIFLOW_BEDROCK_MODEL_ID"]
    values = list(if_branches(model))
    assert {"Ref": "BedrockModelId"} in values and len(values) == 2


# --- state --------------------------------------------------------------------------------------


def test_calls_table_spec(template: dict[str, Any]) -> None:
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    assert list(tables) == ["CallsTable", "CallRecordsTable"]
    assert tables["CallRecordsTable"]["Condition"] == "CallRecordsEnabled"  # opt-in
    table = props(template, "CallsTable")
    assert table["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "session_id", "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    protection = table["DeletionProtectionEnabled"]["Ref"]
    assert template["Parameters"][protection]["AllowedValues"] == ["true", "false"]
    assert "TableName" not in table, "a fixed name would allow one stack per account only"


def test_api_token_secret_is_a_raw_generated_token(template: dict[str, Any]) -> None:
    resource = resources(template)["ApiTokenSecret"]
    assert resource["Type"] == "AWS::SecretsManager::Secret"
    generate = resource["Properties"]["GenerateSecretString"]
    assert generate["PasswordLength"] == 48
    assert generate["ExcludePunctuation"] is True
    assert "SecretStringTemplate" not in generate and "GenerateStringKey" not in generate
    assert "SecretString" not in resource["Properties"]


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    url = outputs["WebhookUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${WebhookApi}.execute-api.") and url.endswith("/webhook")
    assert outputs["ApiTokenSecretArn"]["Value"] == {"Ref": "ApiTokenSecret"}
    assert outputs["CallsTableName"]["Value"] == {"Ref": "CallsTable"}
    command = outputs["ReadTokenCommand"]["Value"]["Fn::Sub"]
    assert "\n" not in command
    assert command.startswith("aws secretsmanager get-secret-value --secret-id ${ApiTokenSecret}")
    assert command.endswith("--query SecretString --output text")


# --- local tables -------------------------------------------------------------------------------


def test_table_definitions_follow_the_template(template: dict[str, Any]) -> None:
    definitions = table_definitions(template, prefix="dev-")
    # Conditions are not evaluated locally: the records table is there for aiflow dev --record.
    assert definitions.pop("CallRecordsTable")["TableName"] == "dev-CallRecordsTable"
    assert definitions == {
        "CallsTable": {
            "TableName": "dev-CallsTable",
            "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "session_id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    }
    assert ttl_attributes(template) == {
        "CallsTable": "expires_at",
        "CallRecordsTable": "expires_at",
    }


def test_table_definitions_translate_indexes_and_parameters() -> None:
    template = {
        "Parameters": {"Mode": {"Type": "String", "Default": "PROVISIONED"}},
        "Resources": {
            "T": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": {"Fn::Sub": "${AWS::StackName}-t"},
                    "BillingMode": {"Ref": "Mode"},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 2},
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "gk", "AttributeType": "N"},
                    ],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "by-gk",
                            "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                            "ProvisionedThroughput": {
                                "ReadCapacityUnits": 3,
                                "WriteCapacityUnits": 4,
                            },
                        }
                    ],
                    "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                },
            }
        },
    }
    (definition,) = table_definitions(template).values()
    assert definition["TableName"] == "T"
    assert definition["BillingMode"] == "PROVISIONED"
    assert definition["ProvisionedThroughput"] == {"ReadCapacityUnits": 1, "WriteCapacityUnits": 2}
    (gsi,) = definition["GlobalSecondaryIndexes"]
    assert gsi["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}
    assert definition["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_IMAGE",
    }
    overridden = table_definitions(template, parameters={"Mode": "PAY_PER_REQUEST"})["T"]
    assert "ProvisionedThroughput" not in overridden["GlobalSecondaryIndexes"][0]
    template["Resources"]["T"]["Properties"]["BillingMode"] = {"Ref": "Nope"}
    with pytest.raises(TemplateError, match="Nope"):
        table_definitions(template)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@pytest.mark.usefixtures("aws_credentials")
def test_create_tables_in_moto_with_ttl() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-central-1")
        names = create_tables(client, TEMPLATE_PATH, prefix="test-")
        assert names == {
            "CallsTable": "test-CallsTable",
            "CallRecordsTable": "test-CallRecordsTable",
        }
        table = client.describe_table(TableName="test-CallsTable")["Table"]
        assert table["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = client.describe_time_to_live(TableName="test-CallsTable")["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
        # Again, as a restarted dev server does: the existing table is reused.
        assert create_tables(client, TEMPLATE_PATH, prefix="test-") == names
        assert sorted(client.list_tables()["TableNames"]) == sorted(names.values())


# --- sample events and local env ----------------------------------------------------------------


def test_the_sample_events_cover_every_event_type() -> None:
    assert set(sample_events(EVENTS_DIR)) == EVENT_FILES
    assert (EVENTS_DIR / "README.md").is_file()


@pytest.mark.parametrize("name", sorted(EVENT_FILES))
def test_sample_event_is_an_http_api_v2_event(name: str) -> None:
    event = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhook"
    assert event["rawPath"] == "/webhook"
    assert event["isBase64Encoded"] is False
    headers = event["headers"]
    assert all(key == key.lower() for key in headers), "API Gateway delivers lower-case names"
    assert headers["content-type"] == "application/json"
    assert headers["x-api-token"] == "local-dev-token-0123"
    assert int(headers["content-length"]) == len(event["body"].encode())
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/webhook"
    assert context["http"]["sourceIp"]
    assert context["requestId"] and context["routeKey"] == "POST /webhook"
    assert isinstance(context["timeEpoch"], int)
    assert context["stage"] == "$default"

    parsed = parse_event(event["body"])
    assert parsed.session.id == SESSION_ID
    expected: dict[str, type] = {
        "session_start_again": SessionStartEvent,
        "user_speak_barged_in": UserSpeakEvent,
        "unknown_event": UnknownEvent,
        "user_barge_in": UserBargeInEvent,
    }
    if name in expected:
        assert isinstance(parsed, expected[name])
    else:
        assert parsed.type == name
    if isinstance(parsed, UserSpeakEvent):
        assert parsed.barged_in is (name == "user_speak_barged_in")


def test_sample_events_form_one_call_in_order() -> None:
    events = sample_events(EVENTS_DIR)
    order = sorted(events, key=lambda name: events[name]["requestContext"]["timeEpoch"])
    assert order[0] == "session_start" and order[-1] == "session_end"
    assert order.index("session_start_again") > order.index("session_start")
    request_ids = {event["requestContext"]["requestId"] for event in events.values()}
    assert len(request_ids) == len(events)


def test_local_env_sets_only_declared_variables(template: dict[str, Any]) -> None:
    """sam local ignores variables the template does not declare for the function."""
    local = json.loads(LOCAL_ENV.read_text(encoding="utf-8"))
    shared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    assert set(local["Parameters"]) <= shared
    for logical_id, variables in local.items():
        if logical_id != "Parameters":
            assert set(variables) <= set(function_env(template, logical_id)), logical_id
    assert local["WebhookFunction"]["AIFLOW_API_TOKEN"] == "local-dev-token-0123"


# --- samconfig and build ------------------------------------------------------------------------


def test_samconfig() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    default = config["default"]
    # No stack yet: the first `make deploy` is `sam deploy --guided`, which saves the name.
    assert "stack_name" not in json.dumps(config)
    assert default["global"]["parameters"]["region"] == "eu-central-1"
    deploy = default["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert default["build"]["parameters"] == {"cached": True, "parallel": True}
    assert default["local_invoke"]["parameters"]["env_vars"] == "infra/env/local.json"


def test_lambda_pins_satisfy_pyproject_and_leave_out_boto3() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    makefile = FUNCTIONS_MAKEFILE.read_text(encoding="utf-8")
    block = re.search(r"^LAMBDA_REQUIREMENTS\s*:=((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert block
    pins = {}
    for token in block[1].replace("\\", " ").split():
        name, _, version = token.partition("==")
        assert version, f"not pinned: {token}"
        pins[canonicalize_name(name)] = version
    assert not {"boto3", "botocore", "s3transfer", "aws-xray-sdk"} & set(pins)
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for line in pyproject["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name in {"boto3", "botocore"}:
            continue  # provided by the Lambda runtime
        assert name in pins, f"{name} is a runtime dependency but is not shipped"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("AIFLOW_TEST_SAM_BUILD") != "1",
    reason="slow (runs sam build, downloads wheels); set AIFLOW_TEST_SAM_BUILD=1",
)
def test_make_build_produces_a_small_artifact(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "build"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    package = deployed_assistant(TEMPLATE_PATH).partition(":")[0].split(".")[0]
    for logical_id in ("WebhookFunction", "WorkerFunction"):
        artifact = REPO_ROOT / ".aws-sam" / "build" / logical_id
        assert (artifact / package).exists()
        assert (artifact / "aiflow" / "lambda_" / "worker.py").is_file()
        for package in ("pydantic_core", "aws_lambda_powertools", "yaml"):
            assert (artifact / package).is_dir(), package
        for absent in (
            "boto3",
            "botocore",
            "aws_xray_sdk",
            "aiflow/dev",
            "aiflow/local",
            "aiflow/testing",
        ):
            assert not (artifact / absent).exists(), absent
        archive = tmp_path / f"{logical_id}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(artifact.rglob("*")):
                if path.is_file():
                    bundle.write(path, path.relative_to(artifact))
        size = archive.stat().st_size
        assert size <= MAX_ZIP_BYTES, f"{logical_id}: {size} bytes zipped"
        compiled = list(artifact.rglob("*.pyc"))
        # functions/Makefile says which interpreter compiled, or warns that none could.
        if "compiling bytecode with" in result.stdout + result.stderr:
            assert compiled and all(".cpython-312." in path.name for path in compiled)
            print(f"{logical_id}: {size} bytes zipped, {len(compiled)} .pyc", file=sys.stderr)
        else:
            assert not compiled, "bytecode of the wrong Python version"
