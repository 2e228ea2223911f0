"""A question while Bedrock misbehaves: the model's answer, a filler, or the fallback, in time.

Bedrock's Converse API (a fake model on loopback behind the proxy) is delayed by 0.1 to
10 s, black-holed or cut off while the caller asks a question. Without a worker the caller
hears the answer or, once the 2.5 s turn budget is over, the fallback; with one, a filler,
and on its end what the worker got: here the fallback too, since the model is still down.
"""

from __future__ import annotations

from typing import Any

import pytest

from .checks import Fault, check_every_answer, finish_with_goodbye
from .cloud import Cloud
from .deployment import Deployment
from .practice import GREETING, MODEL_ANSWER, QUESTION

# Each fault, and whether the caller hears the model's answer (True) or the fallback.
MODEL_FAULTS = [
    (Fault("bedrock", "delay", 0.1), True),
    (Fault("bedrock", "delay", 1.0), True),  # the request and the answer: 2 s
    (Fault("bedrock", "delay", 10.0), False),
    (Fault("bedrock", "blackhole"), False),
    (Fault("bedrock", "close"), False),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "answered"), MODEL_FAULTS, ids=[str(f) for f, _ in MODEL_FAULTS])
def test_a_question_while_the_model_misbehaves(
    deploy: Any, cloud: Cloud, fault: Fault, answered: bool, record_property: Any
) -> None:
    line: Deployment = deploy(worker=False)
    phone = line.phone()
    phone.start()
    phone.play()

    fault.inject(cloud)
    answer = phone.say(QUESTION)
    cloud.heal()

    assert answer.said == ([MODEL_ANSWER] if answered else [line.fallback])
    phone.play()
    finish_with_goodbye(phone)
    check_every_answer(phone, record_property)
    assert phone.heard[0] == GREETING


@pytest.mark.slow
def test_with_a_worker_a_model_that_never_answers_ends_in_the_fallback_after_a_filler(
    deploy: Any, cloud: Cloud, record_property: Any
) -> None:
    line: Deployment = deploy()
    phone = line.phone()
    phone.start()
    phone.play()

    cloud.proxies["bedrock"].inject("blackhole")
    filler = line.assistant.fillers[0]
    assert phone.say(QUESTION).said == [filler]
    cloud.join_workers()  # the worker's model call gives up after its read timeout
    cloud.heal()
    phone.play()

    assert phone.heard[-2:] == [filler, line.fallback]
    assert cloud.doc(phone.session_id)["slow_turn"] is None  # type: ignore[index]
    finish_with_goodbye(phone)
    check_every_answer(phone, record_property)
