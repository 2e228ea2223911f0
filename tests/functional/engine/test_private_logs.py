"""No caller number and no word the caller said reaches any log line, whatever raises.

The receptionist's responder (its LLM hook) raises with the transcript and the caller's
number in the message; a handler raises with both on ``user_speak``; another on
``session_start`` with the number. Everything the Lambda function logs (Powertools JSON on
stdout, and whatever other loggers emit: ours at DEBUG, libraries at INFO) is searched for
the number in every spelling and for the caller's words: the failures are logged by
exception type and frames.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from aiflow import Assistant, Call, UserSpeakEvent
from receptionist.app import build_assistant
from receptionist.config import load_config

from ..faults.phone import CALLER
from .conftest import Table, call, unique

WORDS = "Meine Versichertennummer ist K220446688 und ich wohne in der Lindenallee 7"
NUMBER_SPELLINGS = (CALLER, CALLER.lstrip("+"), "017612345678", "0176 12345678", "12345678")
PRIVATE_WORDS = ("Versichertennummer", "K220446688", "Lindenallee", WORDS)


class FailingModel:
    """An LLM hook that fails the way SDKs do: quoting the request in its message."""

    def respond(self, text: str, call: Call) -> Any:
        raise RuntimeError(f"model call failed for caller {call.caller}: prompt was {text!r}")


def receptionist() -> Assistant:
    return build_assistant(load_config(), responder=FailingModel())


def raising_handlers() -> Assistant:
    assistant = Assistant(unique("raising"))

    @assistant.on_session_start
    def greet(call: Call) -> str:
        raise LookupError(f"no customer record for {call.caller}")

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent, call: Call) -> str:
        raise ValueError(f"cannot parse {event.text!r} from {call.caller}")

    return assistant


@pytest.mark.parametrize("build", [receptionist, raising_handlers], ids=lambda b: b.__name__)
def test_no_caller_number_or_word_reaches_any_log_line(
    webhook: Any,
    table: Table,
    build: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.INFO)  # every library at INFO (botocore's DEBUG dumps requests)
    for ours in ("aiflow", "receptionist"):
        caplog.set_level(logging.DEBUG, logger=ours)
    assistant = build()
    phone = call(webhook(assistant, service=unique("private")), caller=CALLER)
    phone.start()
    phone.play()
    phone.say(WORDS)
    phone.play()
    phone.send("dtmf_received", digit="7")
    phone.hang_up()

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]  # all JSON
    records = [" ".join(f"{k}={v!r}" for k, v in vars(record).items()) for record in caplog.records]
    everything = "\n".join([out, err, *records])
    failures = [line for line in lines if line.get("exception_type")] + [
        r for r in caplog.records if getattr(r, "exception_type", None)
    ]
    assert failures, "the failure was not logged at all"
    assert phone.statuses <= {200, 204}
    for secret in (*NUMBER_SPELLINGS, *PRIVATE_WORDS):
        assert secret not in everything, f"{secret!r} was logged"
    assert "Traceback" not in everything
