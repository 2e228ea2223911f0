"""A goodbye while DynamoDB misbehaves: answered within 3 s, and the record agrees.

The caller says goodbye while the call table is delayed by 0.1 to 10 s, black-holed or cut
off, or while only the farewell's write is held up after it landed. They hear the farewell
or the fallback within 3 s. With DynamoDB back (late writes landed), the record holds
nothing the caller did not get except that farewell, whose hangup then waits for the
farewell itself: the end of the fallback releases nothing, the call goes on, and the next
goodbye ends it after the farewell, with one hangup.
"""

from __future__ import annotations

from typing import Any

import pytest

from .checks import PUT, Fault, check_every_answer, check_record_agrees, finish_with_goodbye
from .cloud import Cloud
from .deployment import Deployment
from .practice import FAREWELL, GREETING, HANDOFF, MODEL_ANSWER, QUESTION

# Each fault, whether there is time to settle an unknown write (the engine waits for a write
# until SETTLE_RESERVE_S before the deadline when it can), and whether the caller hears the
# farewell (True) or the fallback.
STORE_FAULTS = [
    (Fault("dynamodb", "delay", 0.1), True, True),
    (Fault("dynamodb", "delay", 1.0, "request"), True, True),  # a read and a write: 2 s
    (Fault("dynamodb", "delay", 10.0), True, False),
    (Fault("dynamodb", "blackhole"), True, False),
    (Fault("dynamodb", "close"), True, False),
    # The farewell's write lands; its answer comes too late or never: settled by reading the
    # record back, it landed, and the caller hears the farewell.
    (Fault("dynamodb", "delay", 3.0, "response", PUT, times=1), True, True),
    (Fault("dynamodb", "blackhole", direction="response", match=PUT, times=1), True, True),
    # The same with no time left to settle (a handler that used its whole budget): the
    # caller hears the fallback, the record holds the farewell and its hangup, held for the
    # farewell's own speech only.
    (Fault("dynamodb", "delay", 3.0, "response", PUT, times=1), False, False),
    (Fault("dynamodb", "blackhole", direction="response", match=PUT, times=1), False, False),
    # Its connection closes instead of the answer: settled by reading back, it landed.
    (Fault("dynamodb", "close", direction="response", match=PUT, times=1), True, True),
    # It is cut off before reaching DynamoDB: settled as not landed, and saved again.
    (Fault("dynamodb", "close", match=PUT, times=1), True, True),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "settle", "farewell"),
    STORE_FAULTS,
    ids=[f"{f}{'' if settle else '-no-time-to-settle'}" for f, settle, _ in STORE_FAULTS],
)
def test_a_goodbye_while_the_store_misbehaves(
    deploy: Any,
    cloud: Cloud,
    fault: Fault,
    settle: bool,
    farewell: bool,
    record_property: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not settle:
        monkeypatch.setattr("aiflow.persistence.SETTLE_RESERVE_S", 0.0)
    line: Deployment = deploy()
    phone = line.phone()
    phone.start()
    phone.play()
    phone.say(QUESTION)
    phone.play()

    fault.inject(cloud)
    goodbye = phone.say("Tschüss")
    cloud.heal()  # DynamoDB is back; a write held on the way lands now

    assert goodbye.said == ([FAREWELL] if farewell else [line.fallback])
    check_record_agrees(cloud, phone)
    finish_with_goodbye(phone)
    check_every_answer(phone, record_property)
    assert phone.heard[:2] == [GREETING, MODEL_ANSWER]
    doc = cloud.doc(phone.session_id)
    assert doc is not None and doc["status"] == "ended" and doc["pending"] is None


@pytest.mark.slow
def test_after_an_unconfirmed_farewell_the_caller_can_still_be_put_through(
    deploy: Any, cloud: Cloud, record_property: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The farewell's save landed but was never confirmed (no time was left to settle it), so
    the caller heard the fallback; when they then ask for the reception, they are
    transferred, not hung up on."""
    monkeypatch.setattr("aiflow.persistence.SETTLE_RESERVE_S", 0.0)
    line: Deployment = deploy()
    phone = line.phone()
    phone.start()
    phone.play()
    Fault("dynamodb", "blackhole", direction="response", match=PUT, times=1).inject(cloud)
    assert phone.say("Tschüss").said == [line.fallback]
    cloud.heal()
    phone.play()

    assert phone.say("Bitte verbinden Sie mich mit dem Empfang").said == [HANDOFF]
    phone.play()

    check_every_answer(phone, record_property)
    assert phone.endings == ["transfer"], "the farewell's hangup outlived the fallback"
    assert phone.heard[-1] == HANDOFF
