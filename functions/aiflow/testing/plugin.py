"""pytest plugin: every ``*.call.yaml`` file is a test; plus an embedded DynamoDB fixture.

Enable it in a ``conftest.py``::

    pytest_plugins = ["aiflow.testing.plugin"]

Scenarios run in process against the assistant they name. ``--aiflow-url URL`` runs them
against a webhook instead (e.g. ``aiflow dev`` or a deployed stack), with
``--aiflow-token`` (default: ``$AIFLOW_API_TOKEN``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import AiflowError
from .scenario import Scenario, ScenarioError, ScenarioFailure, load_scenarios, run_scenario

if TYPE_CHECKING:
    from ..local.embedded import EmbeddedDynamoDB


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--aiflow-url`` and ``--aiflow-token``."""
    group = parser.getgroup("aiflow", "aiflow call scenarios")
    group.addoption(
        "--aiflow-url",
        default=None,
        help="run *.call.yaml scenarios against this webhook URL instead of in process",
    )
    group.addoption(
        "--aiflow-token",
        default=None,
        help="X-API-TOKEN for --aiflow-url (default: $AIFLOW_API_TOKEN)",
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect ``*.call.yaml`` files."""
    if file_path.name.endswith(".call.yaml"):
        collected: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return collected
    return None


class ScenarioFile(pytest.File):
    """A ``*.call.yaml`` file: one test per scenario in it."""

    def collect(self) -> Iterator[pytest.Item]:
        """Parse the file; a mistake in it is a collection error naming file, turn, key."""
        try:
            scenarios = load_scenarios(self.path)
        except ScenarioError as exc:
            raise self.CollectError(exc.message) from None
        for scenario in scenarios:
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    """One scenario, played as a call."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        """Play the call (in process, or against ``--aiflow-url``)."""
        url = self.config.getoption("aiflow_url")
        token = self.config.getoption("aiflow_token") or (
            os.environ.get("AIFLOW_API_TOKEN") if url else None
        )
        run_scenario(self.scenario, url=url, token=token)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        """A failed expectation prints the turn, not the framework's traceback."""
        if isinstance(excinfo.value, ScenarioFailure | AiflowError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario is, for pytest's report."""
        return self.path, self.scenario.line - 1, f"call scenario: {self.scenario.name}"


@pytest.fixture(scope="session")
def aiflow_dynamodb() -> Iterator[EmbeddedDynamoDB]:
    """moto's DynamoDB on loopback with the tables of ``template.yaml`` (one per session).

    ``aiflow_dynamodb.store()`` is a DynamoDBStore for ``CallSimulator(..., store=...)``.
    """
    from ..local.embedded import EmbeddedDynamoDB

    with EmbeddedDynamoDB(prefix=f"test-{secrets.token_hex(3)}-") as db:
        yield db
