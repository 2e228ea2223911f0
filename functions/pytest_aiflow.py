"""The pytest plugin of aiflow-serverless, loaded by its ``pytest11`` entry point (no
``conftest.py`` needed): every ``*.call.yaml`` file is a test, and the ``aiflow_dynamodb``
fixture is an embedded DynamoDB with the template's tables.

Options: ``--aiflow-url URL`` plays the scenarios against a webhook (``aiflow dev`` or a
deployed stack) instead of in process, with ``--aiflow-token`` (default
``$AIFLOW_API_TOKEN``); only the scenarios of the assistant served there run
(``--aiflow-assistant``, default: ``template.yaml``'s ``Assistant``), the others are skipped.

This module imports ``aiflow`` only inside its hooks: pytest loads entry points before
coverage starts, and the framework's modules must be imported under coverage.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from aiflow.local.embedded import EmbeddedDynamoDB


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--aiflow-url``, ``--aiflow-token`` and ``--aiflow-assistant``."""
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
    group.addoption(
        "--aiflow-assistant",
        default=None,
        metavar="MODULE:OBJECT",
        help="the assistant --aiflow-url serves; scenarios naming another one are skipped "
        "(default: the Assistant parameter of template.yaml; 'any' runs every scenario)",
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect ``*.call.yaml`` files."""
    if not file_path.name.endswith(".call.yaml"):
        return None
    from aiflow.testing.plugin import ScenarioFile

    collected: pytest.Collector = ScenarioFile.from_parent(parent, path=file_path)
    return collected


@pytest.fixture(scope="session")
def aiflow_dynamodb() -> Iterator[EmbeddedDynamoDB]:
    """moto's DynamoDB on loopback with the tables of ``template.yaml`` (one per session).

    ``aiflow_dynamodb.store()`` is a DynamoDBStore for ``CallSimulator(..., store=...)``.
    """
    from aiflow.local.embedded import EmbeddedDynamoDB

    with EmbeddedDynamoDB(prefix=f"test-{secrets.token_hex(3)}-") as db:
        yield db
