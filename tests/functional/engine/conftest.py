"""Engine-level tests: whole calls through the webhook Lambda handler on a moto table.

Every AWS request is answered in process by ``moto.mock_aws`` (one mock for the package; the
call table is created from ``template.yaml``). The handlers are built with
``Settings(in_lambda=True)``, so the DynamoDB client is the one Lambda gets. Calls are placed
with the platform model of the fault tests (:class:`tests.functional.faults.phone.Phone`):
events in, speeches played with ``assistant_speak`` and ``assistant_speech_ended``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from aiflow import Assistant
from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.template import create_tables
from aiflow.store.dynamodb import item_doc

from ..faults.cloud import CLEARED_ENV, FAKE_ENV, TOKEN
from ..faults.phone import Phone

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


@dataclass
class Table:
    """The call table, read directly."""

    client: Any
    name: str

    def item(self, session_id: str) -> dict[str, Any] | None:
        found = self.client.get_item(
            TableName=self.name, Key={"session_id": {"S": session_id}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = found.get("Item")
        return item

    def doc(self, session_id: str) -> dict[str, Any]:
        item = self.item(session_id)
        assert item is not None, f"no call record for {session_id}"
        return item_doc(item)

    def stored_bytes(self, session_id: str) -> int:
        """What the item weighs in DynamoDB (attribute names and values, roughly)."""
        item = self.item(session_id)
        assert item is not None
        return len(json.dumps(item, default=lambda b: "x" * len(bytes(b))).encode())


@dataclass
class Lines:
    """Builds webhook Lambda handlers for a test (and closes their engines afterwards)."""

    table: Table
    built: list[Any] = field(default_factory=list)

    def __call__(self, assistant: Assistant, **overrides: Any) -> Any:
        """The webhook of ``assistant``; ``overrides`` are :class:`Settings` fields."""
        options: dict[str, Any] = {
            "table_name": self.table.name,
            "api_token": TOKEN,
            "in_lambda": True,
            **overrides,
        }
        handler = lambda_handler(assistant, settings=Settings(**options))
        self.built.append(handler)
        return handler


@pytest.fixture(scope="package")
def table() -> Iterator[Table]:
    with pytest.MonkeyPatch.context() as env:
        for name in CLEARED_ENV:
            env.delenv(name, raising=False)
        env.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        env.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
        for name, value in FAKE_ENV.items():
            env.setenv(name, value)
        with mock_aws():
            client = boto3.client("dynamodb")
            yield Table(client, create_tables(client, TEMPLATE)["CallsTable"])


@pytest.fixture
def webhook(table: Table) -> Iterator[Callable[..., Any]]:
    """``webhook(assistant, **settings)``: the Lambda handler of ``assistant`` on the table."""
    aiflow_logger = logging.getLogger("aiflow")
    saved = (list(aiflow_logger.handlers), aiflow_logger.propagate, aiflow_logger.level)
    parameters.clear_caches()
    lines = Lines(table)
    try:
        yield lines
    finally:
        for handler in lines.built:
            handler.engine.close()
        parameters.clear_caches()
        aiflow_logger.handlers[:] = saved[0]
        aiflow_logger.propagate = saved[1]
        aiflow_logger.setLevel(saved[2])


def unique(name: str) -> str:
    """A service name of its own: Powertools binds a logger per service name to the stdout
    of the moment it is created (capsys replaces stdout per test)."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def call(handler: Any, **kwargs: Any) -> Phone:
    return Phone(handler, **kwargs)
