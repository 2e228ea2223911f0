"""Fault tests: the deployed functions on a loopback AWS whose dependencies misbehave.

One moto server for the package (``cloud``), a fault proxy in front of each dependency, and
per test a *deployment* (``deploy``): the webhook, worker and WebSocket Lambda handlers of an
assistant, wired as ``template.yaml`` wires them (call table, token secret, worker function)
and built with ``Settings(in_lambda=True)``, so the clients are the ones Lambda gets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from .cloud import Cloud, running_cloud
from .deployment import Deployer, Deployment


@pytest.fixture(scope="package")
def cloud() -> Iterator[Cloud]:
    with running_cloud() as running:
        yield running


@pytest.fixture
def aiflow_logging() -> Iterator[None]:
    """The Lambda observer configures process-wide logging; leave it as it was."""
    aiflow_logger = logging.getLogger("aiflow")
    saved = (list(aiflow_logger.handlers), aiflow_logger.propagate, aiflow_logger.level)
    try:
        yield
    finally:
        aiflow_logger.handlers[:] = saved[0]
        aiflow_logger.propagate = saved[1]
        aiflow_logger.setLevel(saved[2])


@pytest.fixture
def deploy(cloud: Cloud, aiflow_logging: None) -> Iterator[Callable[..., Deployment]]:
    """``deploy(assistant=None, worker=True, **settings)``: the functions of an assistant
    (default :func:`praxis`). Afterwards every dependency is healed and workers joined."""
    deployer = Deployer(cloud)
    try:
        yield deployer
    finally:
        cloud.heal()
        try:
            cloud.join_workers()
        finally:
            cloud.workers.clear()
            deployer.close()
