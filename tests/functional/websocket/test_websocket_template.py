"""template.yaml's optional WebSocket transport and its nested stack infra/websocket.yaml."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from aiflow.lambda_.websocket import WebSocketHandler
from aiflow.local.template import REPO_ROOT, load_template, resources_of_type

ROOT_TEMPLATE = REPO_ROOT / "template.yaml"
NESTED_TEMPLATE = REPO_ROOT / "infra" / "websocket.yaml"
FUNCTIONS_MAKEFILE = REPO_ROOT / "functions" / "Makefile"


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    return load_template(ROOT_TEMPLATE)


@pytest.fixture(scope="module")
def nested() -> dict[str, Any]:
    return load_template(NESTED_TEMPLATE)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_both_templates_pass_cfn_lint_including_informational_checks() -> None:
    from cfnlint.api import ManualArgs, lint_file

    for path in (ROOT_TEMPLATE, NESTED_TEMPLATE):
        matches = lint_file(path, ManualArgs(include_checks=["I"]))
        assert [str(match) for match in matches] == [], path


def test_the_websocket_transport_is_off_by_default(root: dict[str, Any]) -> None:
    parameter = root["Parameters"]["EnableWebSocket"]
    assert parameter["Default"] == "false"
    assert parameter["AllowedValues"] == ["true", "false"]
    assert root["Conditions"]["WebSocketEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableWebSocket"}, "true"]
    }
    (logical_id,) = resources_of_type(root, "AWS::Serverless::Application")
    assert root["Resources"][logical_id]["Condition"] == "WebSocketEnabled"
    output = root["Outputs"]["WebSocketUrl"]
    assert output["Condition"] == "WebSocketEnabled"
    assert output["Value"] == {"Fn::GetAtt": [logical_id, "Outputs.WebSocketUrl"]}


def test_the_nested_stack_gets_the_table_and_the_token_of_the_webhook(
    root: dict[str, Any], nested: dict[str, Any]
) -> None:
    application = root["Resources"]["WebSocket"]["Properties"]
    assert (ROOT_TEMPLATE.parent / application["Location"]).resolve() == NESTED_TEMPLATE
    passed = application["Parameters"]
    declared = nested["Parameters"]
    assert set(passed) <= set(declared)
    assert {name for name, spec in declared.items() if "Default" not in spec} <= set(passed)
    assert passed["CallsTableName"] == {"Ref": "CallsTable"}
    assert passed["CallsTableArn"] == {"Fn::GetAtt": ["CallsTable", "Arn"]}
    assert passed["ApiTokenSecretArn"] == {"Ref": "ApiTokenSecret"}
    assert passed["BedrockPolicyArn"]["Fn::If"][0] == "BedrockEnabled"


def test_api_routes_and_integration(nested: dict[str, Any]) -> None:
    resources = nested["Resources"]
    (api,) = resources_of_type(nested, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    (integration_id,) = resources_of_type(nested, "AWS::ApiGatewayV2::Integration")
    integration = resources[integration_id]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    # the alias `live` SAM makes for AutoPublishAlias (a published version: SnapStart)
    assert "${WebSocketFunctionAliaslive}" in integration["IntegrationUri"]["Fn::Sub"]
    routes = {
        spec["Properties"]["RouteKey"]: spec["Properties"]
        for spec in resources_of_type(nested, "AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {"$connect", "$default", "$disconnect"}
    for route in routes.values():
        assert route["Target"] == {"Fn::Sub": f"integrations/${{{integration_id}}}"}
    (stage,) = resources_of_type(nested, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["AutoDeploy"] is True
    assert stage["Properties"]["StageName"] == {"Ref": "StageName"}
    url = nested["Outputs"]["WebSocketUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("wss://${WebSocketApi}.execute-api.") and url.endswith("/${StageName}")


def test_only_this_api_may_invoke_the_function(nested: dict[str, Any]) -> None:
    (permission,) = resources_of_type(nested, "AWS::Lambda::Permission").values()
    props = permission["Properties"]
    assert props["Principal"] == "apigateway.amazonaws.com"
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["SourceArn"]["Fn::Sub"].endswith(":${WebSocketApi}/${StageName}/*")


def test_the_function(root: dict[str, Any], nested: dict[str, Any]) -> None:
    function = nested["Resources"]["WebSocketFunction"]
    props = function["Properties"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert (NESTED_TEMPLATE.parent / props["CodeUri"]).resolve() == REPO_ROOT / "functions"
    assert props["Runtime"] == root["Globals"]["Function"]["Runtime"]
    assert props["Architectures"] == root["Globals"]["Function"]["Architectures"]
    env = props["Environment"]["Variables"]
    assert env["AIFLOW_TABLE_NAME"] == {"Ref": "CallsTableName"}
    assert env["AIFLOW_TOKEN_SECRET"] == {"Ref": "ApiTokenSecretArn"}
    assert env["AIFLOW_API_TOKEN"] == "", "never a token in the template"
    assert env["AIFLOW_LOG_REDACT"] == "true"
    assert props["Role"] == {"Fn::GetAtt": ["WebSocketRole", "Arn"]}
    assert "Policies" not in props
    group = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert nested["Resources"][group]["Type"] == "AWS::Logs::LogGroup"


def test_the_handler_exists_in_the_code(root: dict[str, Any], nested: dict[str, Any]) -> None:
    handler = root["Resources"]["WebSocket"]["Properties"]["Parameters"]["Handler"]
    assert handler == nested["Parameters"]["Handler"]["Default"]
    module_name, _, name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    entry = getattr(module, name)
    assert callable(entry)
    assert isinstance(entry, WebSocketHandler)


def test_the_makefile_builds_the_function() -> None:
    makefile = FUNCTIONS_MAKEFILE.read_text(encoding="utf-8")
    rules = re.findall(r"^([\w. -]+):", makefile, re.MULTILINE)
    assert any("build-WebSocketFunction" in rule.split() for rule in rules), "sam build fails"


def test_the_role_is_least_privilege(nested: dict[str, Any]) -> None:
    role = nested["Resources"]["WebSocketRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    managed = role["ManagedPolicyArns"]["Fn::If"]
    assert managed == ["HasBedrockPolicy", [{"Ref": "BedrockPolicyArn"}], {"Ref": "AWS::NoValue"}]
    (policy,) = role["Policies"]
    granted: dict[str, Any] = {}
    statements = policy["PolicyDocument"]["Statement"]
    # The call records grant exists only with a records table (tests/functional/records).
    conditional = [s for s in statements if set(s) == {"Fn::If"}]
    assert [s["Fn::If"][0] for s in conditional] == ["HasCallRecordsTable"]
    for statement in [s for s in statements if s not in conditional]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions)
        assert statement["Resource"] != "*"
        for action in actions:
            granted[action] = statement["Resource"]
    table = {"Ref": "CallsTableArn"}
    assert granted == {
        "logs:CreateLogStream": {"Fn::GetAtt": ["WebSocketLogGroup", "Arn"]},
        "logs:PutLogEvents": {"Fn::GetAtt": ["WebSocketLogGroup", "Arn"]},
        "dynamodb:GetItem": table,
        "dynamodb:PutItem": table,
        "dynamodb:UpdateItem": table,
        "dynamodb:DeleteItem": table,
        "secretsmanager:GetSecretValue": {"Ref": "ApiTokenSecretArn"},
        "execute-api:ManageConnections": {
            "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
            "${WebSocketApi}/${StageName}/POST/@connections/*"
        },
    }


def test_access_logs_are_opt_in(nested: dict[str, Any]) -> None:
    assert nested["Parameters"]["EnableAccessLog"]["Default"] == "false"
    group = nested["Resources"]["WebSocketApiAccessLogGroup"]
    assert group["Condition"] == "AccessLogEnabled"
    (stage,) = resources_of_type(nested, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]["Fn::If"]
    assert settings[0] == "AccessLogEnabled" and settings[2] == {"Ref": "AWS::NoValue"}
    assert "header" not in settings[1]["Format"] and "body" not in settings[1]["Format"]


def test_the_template_path_exists() -> None:
    assert Path(NESTED_TEMPLATE).is_file()
