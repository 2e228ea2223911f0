"""The pytest plugin collects *.call.yaml files as tests, in process or against a URL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.server import DevServer
from aiflow.store import MemoryStore
from tests.examples.hello import assistant as hello

CONFTEST = 'pytest_plugins = ["aiflow.testing.plugin"]\n'
PASSING = """
name: hello
assistant: tests.examples.hello:assistant
turns:
  - start:
    expect: [speak: Hello]
  - say: bye
    expect: [speak: Goodbye, hangup, no_more_actions]
"""
FAILING = """
name: wrong farewell
assistant: tests.examples.hello:assistant
turns:
  - start
  - say: bye
    expect: [speak: Wiederhören]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    return pytester


def test_call_files_are_collected_and_run_as_tests(project: pytest.Pytester) -> None:
    project.makefile(".call.yaml", greeting=PASSING, farewell=FAILING)

    result = project.runpytest_inprocess("-p", "no:cacheprovider", "-v")

    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "greeting.call.yaml::hello PASSED" in output
    assert "farewell.call.yaml:5: turn 2 (say 'bye'), expectation 1" in output
    assert '>>>       1. speak "Goodbye!"' in output
    assert "- expected: … Wiederhören …" in output
    report = output.split("call scenario: wrong farewell")[1].split("Captured")[0]
    assert "Traceback" not in report and "aiflow/testing/" not in report  # just the turn


def test_a_broken_scenario_is_a_collection_error_naming_the_key(project: pytest.Pytester) -> None:
    project.makefile(".call.yaml", broken="assistant: a:b\nturns:\n  - start:\n    expct: []\n")

    result = project.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*broken.call.yaml:3: turn 1: unknown key 'expct'. Valid keys: one of start, say*"]
    )


@pytest.fixture
def dev_server() -> Iterator[tuple[str, str]]:
    token = secrets.token_urlsafe(12)
    handler = lambda_handler(hello, store=MemoryStore(), token=token, settings=Settings())
    with DevServer(handler, port=0) as server:
        yield server.webhook_url, token


@pytest.mark.slow
def test_with_aiflow_url_scenarios_call_that_webhook(
    project: pytest.Pytester, dev_server: tuple[str, str]
) -> None:
    url, token = dev_server
    project.makefile(".call.yaml", greeting=PASSING.replace("assistant: ", "# assistant: "))

    passed = project.runpytest_inprocess(
        "-p", "no:cacheprovider", "--aiflow-url", url, "--aiflow-token", token
    )
    refused = project.runpytest_inprocess(
        "-p", "no:cacheprovider", "--aiflow-url", url, "--aiflow-token", "wrong"
    )

    passed.assert_outcomes(passed=1)
    refused.assert_outcomes(failed=1)
    assert "-> 401 in" in refused.stdout.str()
    assert "the X-API-TOKEN header is wrong" in refused.stdout.str()
