"""Fixtures shared by the functional tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from aiflow.local.template import create_tables
from aiflow.store.dynamodb import DynamoDBStore

TEMPLATE = Path(__file__).parents[2] / "template.yaml"


@pytest.fixture
def moto_calls_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBStore]:
    """A ``DynamoDBStore`` on the calls table of ``template.yaml`` in moto's in-process
    DynamoDB (fresh for each test)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-central-1")
        tables = create_tables(client, TEMPLATE)
        yield DynamoDBStore(tables["CallsTable"], client=client)
