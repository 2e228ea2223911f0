"""The model calls of a BedrockAgent: the exact request where it matters (tool specs,
inference settings, system prompt, the cross-region model id), a client that fits a phone
turn (short timeouts, bounded retries), AWS failures as AgentError, and logs without
anything the caller said or their number."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from pydantic import ValidationError

from aiflow import AssistantDefinitionError
from aiflow.agents import AgentError, BedrockAgent, BedrockConfig, TransferTarget, tool

from .bedrock_fakes import (
    CONFIG,
    MODEL,
    SYSTEM,
    AwsError,
    FakeConverse,
    assistant,
    model_turn,
    new_call,
    opening_hours,
    practice,
    text_response,
    user,
)

# --- the request the model gets --------------------------------------------------------------

TRANSFER_SPEC = {
    "toolSpec": {
        "name": "transfer_call",
        "description": "Transfer the caller to a person. Targets: reception (front desk); billing.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "target": {"type": "string", "enum": ["reception", "billing"]},
                    "handoff": {
                        "type": "string",
                        "description": "short sentence said before transferring",
                    },
                },
                "required": ["target", "handoff"],
            }
        },
    }
}
END_SPEC = {
    "toolSpec": {
        "name": "end_call",
        "description": "End the call when the conversation is over.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"farewell": {"type": "string", "description": "last sentence said"}},
                "required": ["farewell"],
            }
        },
    }
}
SMS_SPEC = {
    "toolSpec": {
        "name": "send_sms",
        "description": "Send a text message to the caller's phone.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"message": {"type": "string", "maxLength": 640}},
                "required": ["message"],
            }
        },
    }
}
DIGITS_SPEC = {
    "toolSpec": {
        "name": "collect_digits",
        "description": "Ask the caller to type digits on the phone keypad. They arrive as the "
        "next user message '[keypad] <digits>'.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "what to say"},
                    "max_digits": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["prompt", "max_digits"],
            }
        },
    }
}
HOURS_SPEC = {  # a user tool: the schema comes from the typed function and its docstring
    "toolSpec": {
        "name": "opening_hours",
        "description": "Opening hours on one weekday.",
        "inputSchema": {
            "json": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "day": {
                        "description": "the weekday.",
                        "enum": ["mon", "tue", "wed", "thu", "fri"],
                        "type": "string",
                    }
                },
                "required": ["day"],
            }
        },
    }
}


def test_the_request_carries_prompt_history_settings_and_every_tool(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stub = bedrock
    history = [user("Hallo"), assistant("Guten Tag!")]
    stub.add_response(
        "converse",
        text_response("Bis 18 Uhr."),
        {
            "modelId": "eu.anthropic.claude-3-5-haiku-20241022-v1:0",  # cross-region profile
            "messages": [*history, user("Wie lange haben Sie offen?")],
            "system": [{"text": SYSTEM}],
            "inferenceConfig": {"maxTokens": 200, "temperature": 0.3},
            "toolConfig": {"tools": [TRANSFER_SPEC, END_SPEC, SMS_SPEC, DIGITS_SPEC, HOURS_SPEC]},
        },
    )
    agent = BedrockAgent(CONFIG, tools=[opening_hours], client=client)
    call = new_call(state={"bedrock": {"messages": history}})
    assert agent.respond(call, "Wie lange haben Sie offen?")[0].to_wire()["text"] == "Bis 18 Uhr."


def test_a_minimal_config_offers_end_call_and_digits_with_default_settings() -> None:
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM})
    model = FakeConverse({"Hi": model_turn("Hi.")}).serve(agent.client)
    agent.respond(new_call(), "Hi")
    request = model.requests[0]
    assert request["inferenceConfig"] == {"maxTokens": 300}
    assert request["toolConfig"] == {"tools": [END_SPEC, DIGITS_SPEC]}


def test_no_tools_means_no_tool_config() -> None:
    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "allow_hangup": False, "allow_digits": False}
    )
    model = FakeConverse({"Hi": model_turn("Hi.")}).serve(agent.client)
    agent.respond(new_call(), "Hi")
    assert "toolConfig" not in model.requests[0]


def test_prompt_cache_points_and_tool_errors_without_status() -> None:
    bad_day = "invalid arguments: day: Input should be 'mon', 'tue', 'wed', 'thu' or 'fri'"
    agent, model = practice(
        {
            "Sonntag?": model_turn(None, ("opening_hours", {"day": "sun"})),
            bad_day: model_turn("Sonntags ist zu."),  # no "error: ": the status is left out
        },
        transfer_targets={},
        allow_sms=False,
        allow_hangup=False,
        allow_digits=False,
        cache_prompt=True,
        tool_error_status=False,
    )
    agent.respond(new_call(), "Sonntag?")
    cache = {"cachePoint": {"type": "default"}}
    for request in model.requests:
        assert request["system"] == [{"text": SYSTEM}, cache]
        assert request["toolConfig"] == {"tools": [HOURS_SPEC, cache]}


# --- a client that fits a phone turn ---------------------------------------------------------


def test_the_client_is_made_on_first_use_with_short_timeouts_and_one_retry() -> None:
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM, "region": "eu-west-1"})
    client = agent.client
    assert client is agent.client
    assert client.meta.service_model.service_name == "bedrock-runtime"
    assert client.meta.region_name == "eu-west-1"
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.0, 10.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}


@pytest.mark.parametrize(
    ("settings", "read_timeout", "attempts"),
    [
        ({"turn_budget_s": 6}, 6.0, 2),  # the agent's own time budget
        ({"turn_budget_s": 6, "read_timeout_s": 3.5}, 3.5, 2),
        ({"max_attempts": 1}, 10.0, 1),
    ],
)
def test_the_read_timeout_follows_the_turn_budget_unless_set(
    settings: dict[str, Any], read_timeout: float, attempts: int
) -> None:
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM, **settings})
    config = agent.client.meta.config
    assert config.read_timeout == read_timeout
    assert config.retries["total_max_attempts"] == attempts


@pytest.fixture
def silent_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[socket.socket]]]:
    """An HTTP endpoint on loopback that accepts connections and never answers."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for conn in accepted:
        conn.close()


def test_a_model_that_does_not_answer_fails_the_turn_within_the_timeouts(
    silent_endpoint: tuple[str, list[socket.socket]],
) -> None:
    url, accepted = silent_endpoint
    agent = BedrockAgent(
        {"model_id": MODEL, "system_prompt": SYSTEM, "endpoint_url": url, "read_timeout_s": 0.3}
    )
    call = new_call()
    started = time.monotonic()
    with pytest.raises(AgentError) as info:
        agent.respond(call, "Hallo?")
    elapsed = time.monotonic() - started
    assert (info.value.aws_code, info.value.retryable) == ("ReadTimeoutError", True)
    assert len(accepted) == 2  # one retry, then the caller hears the fallback
    assert elapsed < 2.0  # 2 × 0.3 s and a short backoff, not botocore's 60 s
    assert call.state == {}


def test_a_server_error_is_retried_once() -> None:
    flaky = [AwsError("InternalServerException", 500), model_turn("Gern.")]
    agent, model = practice(
        {"Termin?": flaky, "Noch einmal?": [AwsError("InternalServerException", 500)] * 3}
    )
    assert agent.respond(new_call(), "Termin?")[0].to_wire()["text"] == "Gern."
    with pytest.raises(AgentError) as info:
        agent.respond(new_call(), "Noch einmal?")
    assert info.value.aws_code == "InternalServerException" and info.value.retryable
    assert model.inputs == ["Termin?", "Termin?", "Noch einmal?", "Noch einmal?"]


# --- failures become AgentError --------------------------------------------------------------


def test_throttling_raises_agent_error_and_leaves_the_state_unchanged() -> None:
    state = {
        "bedrock": {
            "messages": [user("Hallo"), assistant("Guten Tag!")],
            "digits": {"max": 3, "buffer": "1"},
        }
    }
    call = new_call(state=copy.deepcopy(state))
    agent, _ = practice({"Termin?": AwsError("ThrottlingException", 429)}, max_attempts=1)
    with pytest.raises(AgentError) as info:
        agent.respond(call, "Termin?")
    assert (info.value.code, info.value.aws_code) == ("bedrock_error", "ThrottlingException")
    assert info.value.retryable is True
    assert call.state == state


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (AwsError("AccessDeniedException", 403), False),
        (AwsError("ValidationException", 400), False),
        (AwsError("InternalServerException", 500), True),
        (EndpointConnectionError(endpoint_url="https://bedrock"), True),
        (ReadTimeoutError(endpoint_url="https://bedrock"), True),
    ],
)
def test_aws_errors_become_agent_errors(error: Any, retryable: bool) -> None:
    agent, _ = practice({"x": error}, max_attempts=1)
    with pytest.raises(AgentError) as info:
        agent.respond(new_call(), "x")
    code = error.code if isinstance(error, AwsError) else type(error).__name__
    assert (info.value.aws_code, info.value.retryable) == (code, retryable)


def test_a_bug_is_not_disguised_as_a_bedrock_error() -> None:
    agent, _ = practice({"x": KeyError("bug")}, max_attempts=1)
    with pytest.raises(KeyError):
        agent.respond(new_call(), "x")


def test_an_empty_answer_is_an_error() -> None:
    agent, _ = practice({"x": model_turn("  ")})
    call = new_call()
    with pytest.raises(AgentError) as info:
        agent.respond(call, "x")
    assert info.value.code == "empty_answer"
    assert call.state == {}


# --- logs ------------------------------------------------------------------------------------

MARKER = "Zebra7731"
NUMBER = "+4915712345678"


def test_logs_count_tokens_and_steps(caplog: pytest.LogCaptureFixture) -> None:
    agent, _ = practice(
        {
            "Freitag?": model_turn(None, ("opening_hours", {"day": "fri"}), tokens=(150, 30)),
            "8-12": model_turn("Acht bis zwölf.", tokens=(180, 9)),
        }
    )
    with caplog.at_level(logging.INFO, logger="aiflow.agents"):
        agent.respond(new_call(), "Freitag?")
    calls = [r for r in caplog.records if getattr(r, "model_id", None) == MODEL]
    assert [(r.step, r.stop_reason, r.input_tokens, r.output_tokens) for r in calls] == [  # type: ignore[attr-defined]
        (1, "tool_use", 150, 30),
        (2, "end_turn", 180, 9),
    ]
    assert all(isinstance(r.latency_ms, int) for r in calls)  # type: ignore[attr-defined]
    assert any(getattr(r, "tool", None) == "opening_hours" for r in caplog.records)


def test_no_log_line_carries_what_was_said_or_a_number(caplog: pytest.LogCaptureFixture) -> None:
    said = f"{MARKER}, meine Nummer ist {NUMBER}"

    def book(note: str) -> str:
        """Book an appointment."""
        raise ValueError(f"cannot book {note}")

    agent, _ = practice(
        {
            said: model_turn(
                f"{MARKER}: {NUMBER}.",
                ("book", {"note": said}),
                ("opening_hours", {"day": said}),
                ("send_sms", {"message": said}),
            ),
            f"error: ValueError: cannot book {said} | error: invalid arguments: day: Input "
            "should be 'mon', 'tue', 'wed', 'thu' or 'fri' | text message sent": model_turn(
                f"{MARKER}?", ("book", {"note": said})
            ),
            f"{said}!": model_turn(f"{MARKER} {NUMBER}. {MARKER}."),
            f"{said}?": AwsError("ValidationException", 400, f"bad input: {said}"),
        },
        tools=[book, opening_hours],
        max_tool_steps=2,
    )
    call = new_call(caller=NUMBER)
    with caplog.at_level(logging.DEBUG, logger="aiflow"):
        agent.respond(call, said)  # a failing tool, bad arguments, an SMS, the step limit
        list(agent.stream(call, f"{said}!"))  # a streamed answer
        with pytest.raises(AgentError) as info:
            agent.respond(call, f"{said}?")  # an AWS error quoting the input
    logged = [r for r in caplog.records if r.name.startswith("aiflow")]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in logged)
    for path in ("raised ValueError", "invalid arguments", "send_sms: success", "gave up"):
        assert path in text
    for path in ("turn done", "stop=end_turn", "call failed: ValidationException"):
        assert path in text
    assert MARKER not in text and NUMBER not in text and NUMBER[1:] not in text
    assert MARKER not in str(info.value)


# --- configuration ---------------------------------------------------------------------------


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="target_phone_number"):
        BedrockConfig.model_validate(
            {
                "model_id": MODEL,
                "system_prompt": SYSTEM,
                "transfer_targets": {
                    "x": {"number": "abc", "caller_id_name": "A", "caller_id_number": "+491"}
                },
            }
        )
    with pytest.raises(ValidationError, match="transfer target list"):
        TransferTarget.model_validate(["+4930123"])
    with pytest.raises(ValidationError, match="1-64 characters"):
        BedrockConfig.model_validate(
            {
                "model_id": MODEL,
                "system_prompt": SYSTEM,
                "transfer_targets": {" ": ["+4930123", "A", "+4930124"]},
            }
        )
    with pytest.raises(ValidationError, match="extra"):
        BedrockConfig.model_validate({"model_id": MODEL, "system_prompt": SYSTEM, "modelid": "x"})
    with pytest.raises(ValidationError):
        BedrockConfig.model_validate(
            {"model_id": MODEL, "system_prompt": SYSTEM, "max_tool_steps": 0}
        )
    target = TransferTarget.model_validate(["+49 30 123", "Support", "+4930124", 30])
    assert target.action().to_wire() == {
        "type": "transfer",
        "target_phone_number": "4930123",
        "caller_id_name": "Support",
        "caller_id_number": "4930124",
        "timeout": 30,
    }
    german = BedrockConfig(model_id="m", system_prompt="s", language="de-DE")
    assert german.text("limit").startswith("Entschuldigung")
    assert BedrockConfig(model_id="m", system_prompt="s", language="fr").text("farewell") == (
        "Goodbye!"
    )


def test_tools_are_added_with_the_decorator_after_the_call_tools() -> None:
    agent = BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM})

    @agent.tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    @agent.tool(name="rain")
    def will_it_rain() -> bool:
        """Whether it rains today."""
        return False

    assert weather("Köln") == "sunny"
    names = [s["toolSpec"]["name"] for s in agent.tool_specs()]
    assert names == ["end_call", "collect_digits", "weather", "rain"]


def test_call_tool_names_are_reserved() -> None:
    @tool(name="end_call")
    def mine() -> None:
        """Mine."""

    with pytest.raises(AssistantDefinitionError, match="reserved"):
        BedrockAgent({"model_id": MODEL, "system_prompt": SYSTEM}, tools=[mine])


def test_importing_the_agent_does_not_import_boto3() -> None:
    code = (
        "import sys, aiflow; before = 'boto3' in sys.modules; "
        "import aiflow.agents.bedrock; "
        "sys.exit(1 if 'boto3' in sys.modules and not before else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_agents_client_in_a_lambda_process_comes_from_aiflows_session() -> None:
    # A cold Lambda process has no boto3 loaded: the first model turn must not import it
    # (~14 ms) nor build a second botocore session (~25 ms for its first client).
    code = (
        "import sys\n"
        "from aiflow import awsclients\n"
        "from aiflow.agents.bedrock import BedrockAgent\n"
        f"agent = BedrockAgent({{'model_id': {MODEL!r}, 'system_prompt': 'x',"
        " 'region': 'eu-west-1'})\n"
        "client = agent.client\n"
        "assert 'boto3' not in sys.modules, 'boto3 imported'\n"
        "assert client.meta.region_name == 'eu-west-1', client.meta.region_name\n"
        "assert awsclients.session().get_component('data_loader') is client._loader\n"
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-800:]


def test_respond_async_answers_from_a_worker_thread() -> None:
    agent, _ = practice({"Hi": model_turn("Hallo.")})
    actions = asyncio.run(agent.respond_async(new_call(), "Hi"))
    assert [a.to_wire() for a in actions] == [{"type": "speak", "text": "Hallo."}]
