"""Fixtures of the dev-tool tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """`aiflow invoke` sets the function's environment in os.environ, as the Lambda runtime
    would in its own process; in a test it must not leak into the next one."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
