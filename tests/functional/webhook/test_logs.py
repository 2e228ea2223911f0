"""What CloudWatch would receive: JSON log lines without the caller's number or words,
each tagged with the call and the event type, and EMF metrics.

Powertools writes both log lines and EMF metric lines to stdout; capsys reads them per
event. The handler is built inside each test, after capsys took over stdout.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from aiflow.lambda_ import Settings
from aiflow.local.gateway import LocalContext
from aiflow.testing import CallSimulator

from .conftest import CALLER, MAGIC_WORD, Line, build_receptionist

SECRET_WORDS = "my PIN is 4711 and I live at Musterweg 12"
BUG_WORDS = f"{MAGIC_WORD}, call me back on 0176 12345678"


@dataclass
class Output:
    """The stdout and stderr of one Lambda invocation, split into logs and metrics."""

    text: str
    logs: list[dict[str, Any]]
    metrics: list[dict[str, Any]]

    def metric_names(self) -> set[str]:
        names: set[str] = set()
        for emf in self.metrics:
            for directive in emf["_aws"]["CloudWatchMetrics"]:
                names |= {m["Name"] for m in directive["Metrics"]}
        return names


def read(capsys: pytest.CaptureFixture[str]) -> Output:
    out, err = capsys.readouterr()
    logs, metrics = [], []
    for raw in out.splitlines():
        if not raw.strip():
            continue
        record = json.loads(raw)  # every stdout line is JSON: nothing unstructured
        (metrics if "_aws" in record else logs).append(record)
    return Output(out + err, logs, metrics)


CALL: list[tuple[str, dict[str, Any]]] = [
    ("session_start", {}),
    ("user_speak", {"text": SECRET_WORDS}),
    ("assistant_speak", {"text": f"You said: {SECRET_WORDS}", "duration_ms": 1500}),
    ("assistant_speech_ended", {}),
    ("user_speak", {"text": BUG_WORDS}),
    ("dtmf_received", {"digit": "4"}),
    ("session_end", {}),
]


def logged_call(line: Line) -> CallSimulator:
    """A call whose handler bug is heard as the fallback, with the logs as Lambda writes them
    (not routed to pytest's log capture)."""
    return line.call(caller=CALLER, raise_errors=False, quiet_logs=False)


def place_call(
    line: Line, capsys: pytest.CaptureFixture[str], call: CallSimulator | None = None
) -> list[tuple[str, Output]]:
    call = call or logged_call(line)
    read(capsys)  # forget what building the handler printed
    outputs = []
    for kind, fields in CALL:
        call.deliver(kind, **fields)
        outputs.append((kind, read(capsys)))
    return outputs


def test_logs_carry_neither_the_callers_number_nor_their_words(
    line: Line, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")  # even debug lines must be clean
    line.rebuild(settings=Settings(), receptionist=build_receptionist())

    outputs = place_call(line, capsys)

    everything = "".join(output.text for _, output in outputs)
    assert everything, "nothing was logged"
    for secret in (CALLER, CALLER.lstrip("+"), "017612345678", "0176 12345678"):
        assert secret not in everything
    for words in (SECRET_WORDS, "Musterweg", BUG_WORDS, "call me back"):
        assert words not in everything
    # Not inside a longer number (a request id or a timestamp may contain 4711 by chance).
    assert not re.search(r"(?<![0-9a-f])4711(?![0-9a-f])", everything)
    assert "Traceback" not in everything


def test_a_handler_exception_is_logged_by_type_and_frames_only(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    line.rebuild(settings=Settings(), receptionist=build_receptionist())

    outputs = dict(place_call(line, capsys)[4:5])

    (failure,) = [r for r in outputs["user_speak"].logs if r.get("exception_type")]
    assert failure["exception_type"] == "RuntimeError"
    assert failure["level"] == "ERROR"
    assert any("test_logs" in frame or "conftest" in frame for frame in failure["frames"])
    assert "exception" not in failure  # no message, no traceback text


def test_every_log_line_of_an_event_names_the_call_and_the_event_type(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    line.rebuild(settings=Settings(), receptionist=build_receptionist())
    call = logged_call(line)

    outputs = place_call(line, capsys, call)

    for kind, output in outputs:
        assert output.logs, f"no log line for {kind}"
        for record in output.logs:
            assert record["correlation_id"] == call.session_id, (kind, record)
            assert record["event_type"] == kind, (kind, record)
    assert {r["message"] for _, o in outputs for r in o.logs} >= {"request answered"}


def test_the_request_log_line_says_how_each_event_was_answered(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    line.rebuild(settings=Settings(), receptionist=build_receptionist())

    outputs = dict(place_call(line, capsys)[:5])

    answered = {
        kind: next(r for r in output.logs if r["message"] == "request answered")
        for kind, output in outputs.items()
    }
    assert answered["session_start"]["status"] == 200
    assert answered["session_start"]["actions"] == ["speak"]
    assert answered["session_start"]["store_requests"] == 2
    assert answered["assistant_speak"]["status"] == 204
    assert answered["assistant_speak"]["store_requests"] == 2  # playback is stored
    assert answered["user_speak"]["fallback"] is True
    assert answered["user_speak"]["level"] == "WARNING"


def test_metrics_count_events_fallbacks_and_auth_failures(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    line.rebuild(settings=Settings(), receptionist=build_receptionist())
    outputs = place_call(line, capsys)
    intruder = line.call(token="guess", quiet_logs=False)
    intruder.deliver("session_start", context=LocalContext(aws_request_id="req-intruder"))
    refused = read(capsys)

    for kind, output in outputs:
        (emf,) = output.metrics
        assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AiFlow"
        assert emf["EventType"] == kind
        assert "Events" in output.metric_names()
        assert "AuthFailures" not in output.metric_names()
    fallbacks = [kind for kind, o in outputs if "Fallbacks" in o.metric_names()]
    assert fallbacks == ["user_speak"]  # the turn with the handler bug, and only that
    assert {"AuthFailures", "Requests"} <= refused.metric_names()
    assert "Events" not in refused.metric_names()
    (answered,) = refused.logs
    assert answered["status"] == 401
    assert answered["correlation_id"] == "req-intruder"  # no call: the Lambda request id
    assert "event_type" not in answered


def test_with_redaction_off_the_reply_and_the_exception_are_logged_for_debugging(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    line.rebuild(settings=Settings(redact_logs=False), receptionist=build_receptionist())

    outputs = dict(place_call(line, capsys))

    answered = next(r for r in outputs["session_start"].logs if r["message"] == "request answered")
    assert "Hello, this is the test line" in answered["body"]
    failure = next(r for r in outputs["user_speak"].logs if r["level"] == "ERROR")
    assert "RuntimeError" in failure["exception"]
    assert failure["correlation_id"] == answered["correlation_id"]
