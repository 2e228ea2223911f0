"""The pytest plugin loads itself (pytest11 entry point): no conftest needed, never twice,
and against a URL only the scenarios of the assistant served there run."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.server import DevServer
from aiflow.store import MemoryStore
from tests.examples.hello import assistant as hello

HELLO = """
name: hello
assistant: tests.examples.hello:assistant
turns:
  - start:
    expect: [speak: Hello]
"""
RECEPTIONIST = """
name: receptionist greeting
assistant: receptionist.app:assistant
turns:
  - start:
    expect: [speak: Praxis]
"""
TEMPLATE = """Parameters:
  Assistant:
    Type: String
    Default: tests.examples.hello:assistant
Resources: {}
"""


def test_call_files_are_collected_without_any_conftest(pytester: pytest.Pytester) -> None:
    pytester.makefile(".call.yaml", greeting=HELLO)

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-v")

    result.assert_outcomes(passed=1)
    assert "greeting.call.yaml::hello PASSED" in result.stdout.str()


def test_a_conftest_that_still_lists_the_plugin_does_not_collect_twice(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ["aiflow.testing.plugin"]\n')
    pytester.makefile(".call.yaml", greeting=HELLO)

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)


def test_loading_the_plugin_imports_nothing_of_aiflow() -> None:
    """pytest loads entry points before coverage starts: aiflow must be imported later."""
    probe = "import sys, pytest_aiflow; print(sorted(m for m in sys.modules if 'aiflow' in m))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "['pytest_aiflow']"


@pytest.fixture
def hello_server() -> Iterator[tuple[str, str]]:
    token = secrets.token_urlsafe(12)
    handler = lambda_handler(hello, store=MemoryStore(), token=token, settings=Settings())
    with DevServer(handler, port=0) as server:
        yield server.webhook_url, token


@pytest.mark.slow
def test_against_a_url_only_the_deployed_assistants_scenarios_run(
    pytester: pytest.Pytester, hello_server: tuple[str, str]
) -> None:
    url, token = hello_server
    pytester.makefile(".call.yaml", greeting=HELLO, praxis=RECEPTIONIST)
    pytester.makefile(".yaml", template=TEMPLATE)
    options = ["-p", "no:cacheprovider", "-rs", "--aiflow-url", url, "--aiflow-token", token]

    deployed = pytester.runpytest_inprocess(*options)
    named = pytester.runpytest_inprocess(
        *options, "--aiflow-assistant", "receptionist.app:assistant"
    )
    every = pytester.runpytest_inprocess(*options, "--aiflow-assistant", "any")

    deployed.assert_outcomes(passed=1, skipped=1)
    deployed.stdout.fnmatch_lines(
        [
            "*scenario of receptionist.app:assistant; --aiflow-url serves "
            "tests.examples.hello:assistant (--aiflow-assistant)*"
        ]
    )
    # Naming another assistant than the one served: its scenario runs and meets hello.
    named.assert_outcomes(failed=1, skipped=1)
    every.assert_outcomes(passed=1, failed=1)
