"""The receptionist on a simulated phone line, so its tests read like call transcripts.

Each call goes through :class:`aiflow.testing.CallSimulator`: the receptionist's real Lambda
handler on an in-memory store, the platform's part played (speech started and ended, the
hangup or transfer released after the speech). Time is a fake clock that both the receptionist
(opening hours) and the framework (barge-in estimates) read, and that playback advances by the
length of each speech. A handler's exception fails the test with that exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aiflow import FakeClock
from aiflow.testing import CallOptions, CallSimulator
from receptionist.app import build_assistant
from receptionist.config import ReceptionistConfig, load_config
from receptionist.engine import Responder

SESSION_ID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
CALLER = "+4917612345678"
PRACTICE = "+4921198765400"
# Tuesday 6 January 2026, 10:00 in Berlin: the practice is open.
TUESDAY_10_AM = 1767690000000
# The same day, 20:00: closed.
TUESDAY_8_PM = 1767726000000
LINE = CallOptions(caller=CALLER, called=PRACTICE, account_id="acc-7731", session_id=SESSION_ID)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_10_AM)


@pytest.fixture(scope="session")
def config() -> ReceptionistConfig:
    return load_config()


@pytest.fixture
def make_call(
    config: ReceptionistConfig, clock: FakeClock
) -> Iterator[Callable[..., CallSimulator]]:
    """``make_call(config, responder=...)``: a call to a receptionist built from the shipped
    YAML (or ``config``), optionally with another engine for free questions."""
    calls: list[CallSimulator] = []

    def make(config_: ReceptionistConfig | None = None, **kwargs: Any) -> CallSimulator:
        responder: Responder | None = kwargs.pop("responder", None)
        assistant = build_assistant(config_ or config, responder=responder, clock=clock.now_ms)
        call = CallSimulator(assistant, clock=clock, options=LINE, **kwargs)
        calls.append(call)
        return call

    yield make
    for call in calls:
        call.close()


@pytest.fixture
def call(make_call: Callable[..., CallSimulator]) -> CallSimulator:
    """A call to the shipped receptionist (German by default), at a time it is open."""
    return make_call()
