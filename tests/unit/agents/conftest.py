from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from .bedrock_fakes import aws_env, stubbed_client


@pytest.fixture(autouse=True)
def _dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    aws_env(monkeypatch)


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    """A real ``bedrock-runtime`` client with botocore's Stubber active; every queued
    response must have been used by the end of the test."""
    client, stub = stubbed_client()
    with stub:
        yield client, stub
        stub.assert_no_pending_responses()
