"""The receptionist with Amazon Bedrock: free questions go to the model, which knows the
practice from receptionist.yaml and can only transfer to configured targets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY

from aiflow import Assistant, FakeClock
from aiflow.agents import BedrockAgent
from aiflow.protocol import to_action_number
from aiflow.testing import CallSimulator
from receptionist.app import build_assistant
from receptionist.config import ReceptionistConfig
from receptionist.engine import make_responder
from receptionist.llm import BedrockResponder, agent_config
from tests.unit.agents.bedrock_fakes import aws_env, stubbed_client, text_response, tool_response

from .conftest import LINE

MODEL = "eu.anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    aws_env(monkeypatch)
    monkeypatch.setenv("AIFLOW_BEDROCK_MODEL_ID", MODEL)


@pytest.fixture
def with_model(config: ReceptionistConfig, clock: FakeClock) -> Iterator[tuple[CallSimulator, Any]]:
    """A call to the receptionist whose free questions go to a stubbed Bedrock."""
    client, stub = stubbed_client()
    stub.activate()
    agent = BedrockAgent(agent_config(config, model_id=MODEL), client=client)
    assistant = build_assistant(config, responder=BedrockResponder(agent), clock=clock.now_ms)
    with CallSimulator(assistant, clock=clock, options=LINE) as call:
        yield call, stub


def test_the_model_answers_a_free_question_with_what_the_yaml_says(
    with_model: tuple[CallSimulator, Any],
) -> None:
    call, stub = with_model
    call.start()
    stub.add_response(
        "converse",
        text_response("Ja, Sie können bei uns parken, direkt hinter dem Haus."),
        {
            "modelId": MODEL,
            "system": ANY,
            "messages": ANY,
            "inferenceConfig": ANY,
            "toolConfig": ANY,
        },
    )
    heard = call.say("Kann man bei Ihnen irgendwo das Auto abstellen, so ganz allgemein?")
    stub.assert_no_pending_responses()
    assert "parken" in heard.text


def test_the_system_prompt_carries_the_business_hours_and_faq(
    config: ReceptionistConfig,
) -> None:
    options = agent_config(config, model_id=MODEL)
    assert options["model_id"] == MODEL
    assert config.business_name in options["system_prompt"]
    assert "Uhr" in options["system_prompt"]  # the opening hours, spoken form
    assert set(options["transfer_targets"]) == set(config.transfer.targets)  # type: ignore[union-attr]


def test_a_transfer_chosen_by_the_model_goes_to_the_configured_number_after_the_handoff(
    config: ReceptionistConfig, with_model: tuple[CallSimulator, Any]
) -> None:
    call, stub = with_model
    call.start()
    target = next(iter(config.transfer.targets))  # type: ignore[union-attr]
    stub.add_response("converse", tool_response(("t1", "transfer_call", {"target": target})), None)
    heard = call.say("Mein Rezept ist abgelaufen, was soll ich jetzt tun?")
    stub.assert_no_pending_responses()
    expected = config.transfer.targets[target]  # type: ignore[union-attr]
    # A handoff sentence is spoken before the transfer.
    heard.expect.speak().speech_ended().transfer(expected.number)
    assert call.transfer is not None
    assert call.transfer.target_phone_number == to_action_number(expected.number)


def test_without_llm_config_the_environment_switches_bedrock_on_and_off(
    config: ReceptionistConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(build_assistant(config), Assistant)
    assert isinstance(make_responder(config, model_id=MODEL), BedrockResponder)
    assert not isinstance(make_responder(config, model_id=None), BedrockResponder)
    monkeypatch.delenv("AIFLOW_BEDROCK_MODEL_ID")
    chosen = ReceptionistConfig.model_validate(
        {**config.model_dump(), "llm": {"engine": "receptionist.llm:bedrock_responder"}}
    )
    with pytest.raises(ValueError, match="model_id"):
        make_responder(chosen)  # the YAML way, but no model id anywhere
    monkeypatch.setenv("AIFLOW_BEDROCK_MODEL_ID", MODEL)
    assert isinstance(make_responder(chosen), BedrockResponder)
