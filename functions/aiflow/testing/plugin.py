"""The test items of the pytest plugin: a ``*.call.yaml`` file and each scenario in it.

The plugin itself (hooks, options, fixture) is the top-level module ``pytest_aiflow``, which
pytest loads through the ``pytest11`` entry point; it builds these items. Scenarios run in
process against the assistant they name, or with ``--aiflow-url`` against a webhook: then
only those of the assistant served there (``--aiflow-assistant``, default the template's
``Assistant``) run, and scenarios of other assistants are skipped with a message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..errors import AiflowError
from .scenario import Scenario, ScenarioError, ScenarioFailure, load_scenarios, run_scenario

ANY_ASSISTANT = "any"
_SERVED = pytest.StashKey[str | None]()


class ScenarioFile(pytest.File):
    """A ``*.call.yaml`` file: one test per scenario in it."""

    def collect(self) -> Iterator[pytest.Item]:
        """Parse the file; a mistake in it is a collection error naming file, turn, key."""
        try:
            scenarios = load_scenarios(self.path)
        except ScenarioError as exc:
            raise self.CollectError(exc.message) from None
        served = served_assistant(self.config) if self.config.getoption("aiflow_url") else None
        for scenario in scenarios:
            item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
            if served and scenario.assistant and scenario.assistant != served:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"scenario of {scenario.assistant}; --aiflow-url serves {served} "
                        "(--aiflow-assistant)"
                    )
                )
            yield item


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


def served_assistant(config: pytest.Config) -> str | None:
    """The assistant behind ``--aiflow-url``: ``--aiflow-assistant``, else the ``Assistant``
    parameter of the ``template.yaml`` in or above the root directory; None: any."""
    if _SERVED in config.stash:
        return config.stash[_SERVED]
    chosen: str | None = config.getoption("aiflow_assistant")
    if chosen is None:
        from ..local.template import TemplateError, deployed_assistant, find_project_template

        template = find_project_template(Path(config.rootpath))
        try:
            chosen = deployed_assistant(template) if template is not None else None
        except TemplateError:
            chosen = None
    if chosen == ANY_ASSISTANT:
        chosen = None
    config.stash[_SERVED] = chosen
    return chosen
