"""A call over the WebSocket API while the Management API or DynamoDB misbehaves.

Replies reach the platform through ``PostToConnection`` (moto's Management API behind the
proxy). Delayed, its frames arrive late but once each: a ``PostToConnection`` whose answer
came too late was delivered all the same, and repeating it would make the caller hear the
sentence twice. Black-holed or cut off, a frame is given up after about a second and the
invocation ends (nothing hangs until the Lambda timeout); the call goes on with the next
event. A black-holed call table gets the caller the fallback frame within 3 s.
"""

from __future__ import annotations

from typing import Any

import pytest

from .checks import Fault, check_every_answer
from .cloud import Cloud
from .deployment import Deployment
from .practice import FAREWELL, GREETING, MODEL_ANSWER, QUESTION

# How long one turn's invocation may take when no frame can be delivered: the answer and
# no more than one retry of a frame that never left.
INVOCATION_LIMIT_S = 3.0

WS_FAULTS = [
    (Fault("execute-api", "delay", 0.1), MODEL_ANSWER),
    (Fault("execute-api", "delay", 1.5, "response"), MODEL_ANSWER),
    (Fault("execute-api", "blackhole"), None),
    (Fault("execute-api", "close"), None),
    (Fault("dynamodb", "blackhole"), "fallback"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "heard"), WS_FAULTS, ids=[str(f) for f, _ in WS_FAULTS])
def test_a_websocket_call_while_a_dependency_misbehaves(
    deploy: Any, cloud: Cloud, fault: Fault, heard: str | None, record_property: Any
) -> None:
    line: Deployment = deploy()
    phone = line.ws_phone()
    assert phone.connect() == 200
    phone.start()
    phone.play()

    fault.inject(cloud)
    answer = phone.say(QUESTION)
    cloud.heal()

    expected = {None: [], "fallback": [line.fallback]}.get(heard, [heard])
    assert answer.said == expected, "heard once, or (nothing delivered) not at all"
    assert answer.seconds <= INVOCATION_LIMIT_S
    first = phone.first_frame[-1]
    assert first is None or first <= 3.0
    phone.play()
    assert phone.say("Tschüss").said == [FAREWELL]
    phone.play()
    phone.hang_up()
    phone.disconnect()

    check_every_answer(phone, record_property)
    assert phone.endings == ["hangup"]
    assert phone.heard == [GREETING, *expected, FAREWELL]
