"""Project-wide pytest setup.

``*.call.yaml`` call scenarios are collected by aiflow's pytest plugin, which loads itself
(``pytest11`` entry point); only pytest's own ``pytester`` is listed here.
"""

from __future__ import annotations

import pytest

from aiflow.local.template import ASSISTANT_ENV, deployed_assistant

pytest_plugins = ["pytester"]

DEPLOYED_ASSISTANT = deployed_assistant()


@pytest.fixture(autouse=True)
def _deployed_assistant(monkeypatch: pytest.MonkeyPatch) -> None:
    """``AIFLOW_ASSISTANT`` as template.yaml sets it for every function, so importing the
    entry points of ``aiflow.lambda_.main`` works as it does in Lambda."""
    monkeypatch.setenv(ASSISTANT_ENV, DEPLOYED_ASSISTANT)
