"""The Bedrock model id: the cross-region inference profile follows the stack's region.

The template's intrinsic functions are evaluated here for a region and parameters, as
CloudFormation would, so the model id the functions get and the ARNs their policy allows
are checked per region instead of being read as text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from aiflow.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


class Stack:
    """Evaluates the intrinsics the template uses, for one region and parameter set."""

    def __init__(self, template: dict[str, Any], region: str, **parameters: str) -> None:
        self.template = template
        defaults = {
            name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()
        }
        self.refs = {
            **defaults,
            **parameters,
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws-us-gov" if region.startswith("us-gov-") else "aws",
        }

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        key, arg = next(iter(node.items()))
        if len(node) != 1 or not (key == "Ref" or key == "Condition" or key.startswith("Fn::")):
            return {k: self.value(v) for k, v in node.items()}
        if key == "Ref":
            return self.refs[arg]
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = self.value(arg)
            return left == right
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(item) for item in arg)
        if key == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if key == "Fn::Select":
            index, items = self.value(arg)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = self.value(arg)
            return text.split(separator)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            names = {**self.refs, **{k: self.value(v) for k, v in variables.items()}}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m.group(1)]), text)
        raise AssertionError(f"{key} is not evaluated here")

    def model_id(self) -> str:
        variables = self.template["Globals"]["Function"]["Environment"]["Variables"]
        return str(self.value(variables["AIFLOW_BEDROCK_MODEL_ID"]))

    def allowed_profiles(self) -> list[str]:
        policy = self.template["Resources"]["BedrockInvokePolicy"]["Properties"]
        statements = self.value(policy["PolicyDocument"]["Statement"])
        arns = [s["Resource"] for s in statements]
        arns += [
            s["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]
            for s in statements
            if "Condition" in s
        ]
        return [arn for arn in arns if ":inference-profile/" in arn]


@pytest.mark.parametrize(
    ("region", "prefix"),
    [
        ("eu-central-1", "eu"),
        ("eu-west-3", "eu"),
        ("us-east-1", "us"),
        ("us-west-2", "us"),
        ("ap-northeast-1", "apac"),
        ("ap-southeast-2", "apac"),
        ("us-gov-west-1", "us-gov"),
        ("ca-central-1", "ca"),
    ],
)
def test_auto_takes_the_profile_of_the_stack_region(
    template: dict[str, Any], region: str, prefix: str
) -> None:
    stack = Stack(template, region, EnableBedrock="true", BedrockModelId=MODEL)

    assert template["Parameters"]["BedrockCrossRegionInference"]["Default"] == "auto"
    assert stack.model_id() == f"{prefix}.{MODEL}"
    profile = f":{region}:{ACCOUNT}:inference-profile/{prefix}.{MODEL}"
    assert [arn.endswith(profile) for arn in stack.allowed_profiles()] == [True, True]


@pytest.mark.parametrize("prefix", ["global", "jp", "us"])
def test_an_explicit_profile_is_used_in_any_region(template: dict[str, Any], prefix: str) -> None:
    stack = Stack(
        template,
        "eu-central-1",
        EnableBedrock="true",
        BedrockModelId=MODEL,
        BedrockCrossRegionInference=prefix,
    )

    assert stack.model_id() == f"{prefix}.{MODEL}"
    assert all(arn.endswith(f"/{prefix}.{MODEL}") for arn in stack.allowed_profiles())


def test_none_calls_the_model_in_the_stack_region(template: dict[str, Any]) -> None:
    stack = Stack(
        template,
        "eu-central-1",
        EnableBedrock="true",
        BedrockModelId=MODEL,
        BedrockCrossRegionInference="none",
    )

    assert stack.model_id() == MODEL
    assert stack.allowed_profiles() == []


def test_the_websocket_function_gets_the_same_model_id(template: dict[str, Any]) -> None:
    stack = Stack(template, "ap-south-1", EnableBedrock="true", BedrockModelId=MODEL)
    nested = template["Resources"]["WebSocket"]["Properties"]["Parameters"]

    assert stack.value(nested["BedrockModelId"]) == stack.model_id() == f"apac.{MODEL}"


@pytest.mark.parametrize(
    ("model_id", "accepted"),
    [
        (MODEL, True),
        ("amazon.nova-lite-v1:0", True),
        ("meta.llama3-1-8b-instruct-v1:0", True),
        (f"eu.{MODEL}", False),
        (f"us.{MODEL}", False),
        (f"apac.{MODEL}", False),
        (f"global.{MODEL}", False),
        (f"us-gov.{MODEL}", False),
        ("claude", False),
    ],
)
def test_an_already_prefixed_model_id_is_refused(
    template: dict[str, Any], model_id: str, accepted: bool
) -> None:
    """Else eu.anthropic... would become eu.eu.anthropic... (CloudFormation checks the
    AllowedPattern, a Java regex, before anything is created; Python's agrees here)."""
    parameter = template["Parameters"]["BedrockModelId"]

    assert bool(re.fullmatch(parameter["AllowedPattern"], model_id)) is accepted
    assert "without a cross-region prefix" in parameter["ConstraintDescription"]
