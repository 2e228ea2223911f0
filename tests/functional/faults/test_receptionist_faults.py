"""The deployed receptionist when its farewell's save lands unconfirmed.

The caller says goodbye; DynamoDB applies the save but its answer never comes and there is
no time left to read the record back, so the caller hears the fallback while the record holds
the farewell and its hangup. The receptionist
must not take that held hangup for a farewell being played (and ignore the caller): their
next goodbye is answered, the farewell is heard, and the call ends with one hangup.
"""

from __future__ import annotations

from typing import Any

import pytest

from receptionist.app import build_assistant
from receptionist.config import load_config

from .checks import PUT, Fault, check_every_answer, check_record_agrees
from .cloud import Cloud
from .deployment import Deployment


@pytest.mark.slow
def test_the_receptionist_answers_a_goodbye_after_its_farewell_went_unconfirmed(
    deploy: Any, cloud: Cloud, record_property: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("aiflow.persistence.SETTLE_RESERVE_S", 0.0)  # no time to settle
    line: Deployment = deploy(build_assistant(load_config()))
    phone = line.phone()
    phone.start()
    phone.play()
    Fault("dynamodb", "blackhole", direction="response", match=PUT, times=1).inject(cloud)
    assert phone.say("Tschüss").said == [line.fallback]
    cloud.heal()
    check_record_agrees(cloud, phone)
    phone.play()

    again = phone.say("Tschüss, auf Wiederhören")
    assert again.status == 200 and len(again.said) == 1, "the caller was ignored"
    phone.play()

    check_every_answer(phone, record_property)
    assert phone.endings == ["hangup"]
    assert phone.heard[-1] == again.said[0]
