"""YAML call scenarios: mistakes are reported with file, line, turn, expectation and the valid
keys; failures name the turn and the expectation and show the turn."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aiflow import Assistant, Call, UserSpeakEvent
from aiflow.routing import Router
from aiflow.testing import ScenarioError, load_scenarios, run_scenario
from aiflow.testing.scenario import ScenarioFailure

HELLO = "assistant: tests.examples.hello:assistant\n"


def write(tmp_path: Path, text: str, name: str = "call.call.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def hello(body: str) -> str:
    """A scenario for the hello assistant with ``body`` (indented freely)."""
    return HELLO + textwrap.dedent(body).lstrip("\n")


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as error:
        load_scenarios(path)
    return error.value.message


def test_a_scenario_reads_as_turns_with_expectations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        hello(
            """
        caller: "+49 30 123456"
        max_latency_ms: 800
        turns:
          - start:
            expect: [speak: Hello]
          - press: "1#"
          - silence
          - interrupt: stop
            max_latency_ms: 300
          - hangup
        """
        ),
    )

    (scenario,) = load_scenarios(path)

    assert scenario.name == "call"
    assert scenario.options.caller == "+49 30 123456"
    assert [(s.verb, s.value, s.max_latency_ms) for s in scenario.steps] == [
        ("start", None, 800.0),
        ("press", "1#", 800.0),
        ("silence", None, 800.0),
        ("interrupt", "stop", 300.0),
        ("hangup", None, 800.0),
    ]
    assert scenario.steps[0].expectations[0].args == {"contains": "Hello"}


def test_an_unknown_top_level_key_lists_the_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO + "turn:\n  - start\n")

    message = error_of(path)

    assert message.startswith(f"{path}:1: unknown key 'turn'. Valid keys: name, description,")
    assert "turns" in message


def test_an_unknown_turn_key_names_the_turn_and_lists_the_verbs(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO + "turns:\n  - start\n  - sag: Hallo\n")

    message = error_of(path)

    assert message == (
        f"{path}:4: turn 2: unknown key 'sag'. Valid keys: one of start, say, interrupt, press, "
        "silence, hangup, fail_transfer, send, plus expect, max_latency_ms"
    )


def test_a_turn_with_two_verbs_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO + "turns:\n  - say: Hallo\n    press: '1'\n")

    assert "turn 1: a turn needs exactly one of start, say" in error_of(path)
    assert "(found say, press)" in error_of(path)


def test_a_wrong_expectation_key_names_turn_and_expectation_and_lists_keys(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        hello(
            """
        turns:
          - start
          - say: Hallo
            expect:
              - speak: Hallo
              - speak: {contians: Hallo}
        """
        ),
    )

    assert error_of(path) == (
        f"{path}:4: turn 2 (say), expectation 2: unknown key 'contians' for `speak`. "
        "Valid keys: text, contains, regex, voice, barge_in, timeout"
    )


def test_an_unknown_expectation_lists_the_valid_expectations(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO + "turns:\n  - start:\n    expect: [sing: Hallo]\n")

    message = error_of(path)

    assert "turn 1 (start), expectation 1: unknown expectation 'sing'" in message
    assert "Valid expectations: speak, audio, hangup, transfer, barge_in, action" in message


@pytest.mark.parametrize(
    ("turn", "problem"),
    [
        ("press: '1a'", "`press` takes keys from 0-9, * and #"),
        ("say:", "`say` takes what the caller says"),
        ("silence: now", "`silence` takes nothing"),
        ("send: hello", "`send` takes a raw event object"),
    ],
)
def test_verb_values_are_checked(tmp_path: Path, turn: str, problem: str) -> None:
    path = write(tmp_path, HELLO + f"turns:\n  - {turn}\n")

    assert problem in error_of(path)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "turns: [start\n")

    assert error_of(path).startswith(f"{path}: not valid YAML")


def test_several_documents_are_several_scenarios(tmp_path: Path) -> None:
    path = write(
        tmp_path, HELLO + "turns: [start]\n---\n" + HELLO + "name: second\nturns: [start]\n"
    )

    assert [s.name for s in load_scenarios(path)] == ["call[1]", "second"]


def test_a_failed_expectation_names_file_turn_and_expectation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        hello(
            """
        turns:
          - start
          - say: bye
            expect:
              - speak: Goodbye
              - transfer: "+49 211 1"
        """
        ),
    )
    (scenario,) = load_scenarios(path)

    with pytest.raises(ScenarioFailure) as failure:
        run_scenario(scenario)

    lines = str(failure.value).splitlines()
    assert lines[0] == (
        f"{path}:4: turn 2 (say 'bye'), expectation 2 (transfer: '+49 211 1') failed"
    )
    assert lines[1] == "turn 2 (caller says 'bye'): expected transfer to +49 211 1, heard hangup"
    assert ">>>       2. hangup" in lines


def test_a_turn_over_its_latency_budget_fails(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO + "turns:\n  - start:\n    max_latency_ms: 0.0001\n")
    (scenario,) = load_scenarios(path)

    with pytest.raises(ScenarioFailure, match="turn 1 \\(calls\\): the answer took"):
        run_scenario(scenario)


def test_a_caller_verb_the_call_cannot_do_is_a_failure_of_that_turn(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO + "turns: [start, fail_transfer]\n")
    (scenario,) = load_scenarios(path)

    with pytest.raises(ScenarioFailure) as failure:
        run_scenario(scenario)

    assert str(failure.value) == (
        f"{path}:1: turn 2 (fail_transfer): fail_transfer() needs a transfer in progress"
    )


def test_a_scenario_without_an_assistant_needs_a_url(tmp_path: Path) -> None:
    (scenario,) = load_scenarios(write(tmp_path, "turns: [start]\n"))

    with pytest.raises(ScenarioError, match="names no `assistant`"):
        run_scenario(scenario)


# --- assistants the scenarios below call ---------------------------------------------------

broken = Assistant("broken-scenario")
broken.on_session_start(lambda: "Hello.")


@broken.on_user_speak
def _answer(event: UserSpeakEvent) -> str:
    raise ValueError(f"cannot answer {event.text!r}")


day, night = Assistant("scenario-day"), Assistant("scenario-night")
day.on_session_start(lambda: "Good day.")
night.on_session_start(lambda: "Good night.")
numbers = Router({"+49 211 98765400": day, "+49 211 98765499": night})

reminder = Assistant("scenario-reminder")


@reminder.on_session_start
def _remind(call: Call) -> str:
    data = call.outbound.data if call.outbound else {}
    return f"Calling {call.direction} about {data.get('when', 'nothing')}."


def test_a_handler_that_raises_fails_the_scenario_with_its_exception(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"assistant: {__name__}:broken\nturns:\n  - start\n  - say: Hallo\n",
    )
    (scenario,) = load_scenarios(path)

    with pytest.raises(ScenarioFailure) as failure:
        run_scenario(scenario)

    message = str(failure.value)
    assert message.startswith(
        f"{path}:4: turn 2 (say 'Hallo'): the handler raised ValueError: cannot answer 'Hallo'"
    )
    assert "test_scenario.py:" in message and "in _answer" in message


def test_the_called_number_picks_the_assistant_of_a_router(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"assistant: {__name__}:numbers\n"
        'called: "+49 211 98765499"\n'
        "turns:\n  - start:\n    expect: [speak: Good night]\n",
    )

    (scenario,) = load_scenarios(path)
    run_scenario(scenario)

    assert scenario.options.called == "+49 211 98765499"


def test_an_outbound_scenario_carries_its_data(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"assistant: {__name__}:reminder\n"
        "direction: outbound\n"
        'caller: "+4915790000687"\n'
        "outbound_data: {when: Monday}\n"
        "turns:\n  - start:\n    expect: [speak: Calling outbound about Monday]\n",
    )

    (scenario,) = load_scenarios(path)
    run_scenario(scenario)


def test_outbound_data_on_an_inbound_call_is_a_mistake(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO + "outbound_data: {when: Monday}\nturns: [start]\n")

    assert "`outbound_data` takes a mapping, on an outbound call" in error_of(path)
