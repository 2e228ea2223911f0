"""A slow answer while the worker Lambda cannot be started (or its start is unconfirmed).

The model needs 3.5 s, more than the 2.5 s turn budget, so the webhook starts the worker
(``Invoke``, ``InvocationType=Event``) and the caller hears a filler; the worker's answer
follows on the filler's end. When the ``Invoke`` is delayed, black-holed or cut off, the
caller hears the fallback within 3 s instead, and the record carries no slow-turn marker
that would keep the call waiting for a worker that never runs (an ``Invoke`` that reached
Lambda but was confirmed too late starts a worker that finds no marker and gives up).
"""

from __future__ import annotations

from typing import Any

import pytest

from .checks import Fault, check_every_answer, finish_with_goodbye
from .cloud import Cloud
from .deployment import Deployment
from .practice import GREETING, MODEL_ANSWER, QUESTION

# Each fault, and whether the worker is started (the caller hears a filler) or not.
WORKER_FAULTS = [
    (Fault("lambda", "delay", 0.1), True),
    (Fault("lambda", "delay", 1.0, "response"), False),  # started, but confirmed too late
    (Fault("lambda", "delay", 10.0), False),
    (Fault("lambda", "blackhole"), False),
    (Fault("lambda", "close"), False),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "started"), WORKER_FAULTS, ids=[str(f) for f, _ in WORKER_FAULTS]
)
def test_a_slow_answer_while_the_worker_start_misbehaves(
    deploy: Any, cloud: Cloud, fault: Fault, started: bool, record_property: Any
) -> None:
    line: Deployment = deploy()
    phone = line.phone()
    phone.start()
    phone.play()

    cloud.proxies["bedrock"].inject("delay", seconds=3.5)  # the model: over the budget
    fault.inject(cloud)
    slow = phone.say(QUESTION)
    cloud.heal()

    doc = cloud.doc(phone.session_id)
    assert doc is not None
    filler = line.assistant.fillers[0]
    assert slow.said == ([filler] if started else [line.fallback])
    if started:
        assert doc["slow_turn"] is not None
        cloud.join_workers()  # the worker Lambda answered meanwhile
        phone.play()
        assert phone.heard[-2:] == [filler, MODEL_ANSWER]
    else:
        assert doc["slow_turn"] is None, "a marker for a worker that was never started"
        phone.play()
        assert phone.say(QUESTION).said == [MODEL_ANSWER]  # the model is fast again
    finish_with_goodbye(phone)
    check_every_answer(phone, record_property)
    assert phone.heard[0] == GREETING
