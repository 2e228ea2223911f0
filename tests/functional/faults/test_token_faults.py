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

# Each fault, and whether the caller hears the greeting (True) or the fallback.
TOKEN_FAULTS = [
    (Fault("secretsmanager", "delay", 0.1), True),
    (Fault("secretsmanager", "delay", 0.5, "response"), True),
    (Fault("secretsmanager", "delay", 10.0), False),
    (Fault("secretsmanager", "blackhole"), False),
    (Fault("secretsmanager", "close"), False),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "greeted"), TOKEN_FAULTS, ids=[str(f) for f, _ in TOKEN_FAULTS])
def test_a_call_starting_while_the_token_secret_misbehaves(
    deploy: Any, cloud: Cloud, fault: Fault, greeted: bool, record_property: Any
) -> None:
    line: Deployment = deploy()  # a cold start: the token has not been read yet
    phone = line.phone()

    fault.inject(cloud)
    first = phone.start()
    cloud.heal()

    assert first.said == ([GREETING] if greeted else [line.fallback])
    if not greeted:
        assert cloud.item(phone.session_id) is None, "stored without a checked token"
    phone.play()
    assert phone.say(QUESTION).said == [MODEL_ANSWER]
    finish_with_goodbye(phone)
    check_every_answer(phone, record_property)
