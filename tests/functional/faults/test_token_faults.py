"""A call starting while Secrets Manager misbehaves (the token is read on the first event).

Delayed by 0.1 to 10 s, black-holed or cut off, the token read gives up after about a
second; the caller hears the greeting or the fallback within 3 s, nothing runs and nothing
is stored for a request whose token could not be checked, and the next event, with
Secrets Manager back, reads the token and the call goes on normally.
"""

from __future__ import annotations

from typing import Any

import pytest

from .checks import Fault, check_every_answer, finish_with_goodbye
from .cloud import Cloud
from .deployment import Deployment
from .practice import GREETING, MODEL_ANSWER, QUESTION

TOKEN_FAULTS = [
    Fault("secretsmanager", "delay", 0.1),
    Fault("secretsmanager", "delay", 0.5, "response"),
    Fault("secretsmanager", "delay", 10.0),
    Fault("secretsmanager", "blackhole"),
    Fault("secretsmanager", "close"),
]


@pytest.mark.slow
@pytest.mark.parametrize("fault", TOKEN_FAULTS, ids=str)
def test_a_call_starting_while_the_token_secret_misbehaves(
    deploy: Any, cloud: Cloud, fault: Fault, record_property: Any
) -> None:
    line: Deployment = deploy()  # a cold start: the token has not been read yet
    phone = line.phone()

    fault.inject(cloud)
    first = phone.start()
    cloud.heal()

    assert first.said in ([GREETING], [line.fallback]), first
    if first.said == [line.fallback]:
        assert cloud.item(phone.session_id) is None, "stored without a checked token"
    phone.play()
    assert phone.say(QUESTION).said == [MODEL_ANSWER]
    finish_with_goodbye(phone)
    check_every_answer(phone, record_property)
