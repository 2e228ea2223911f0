"""``aiflow calls``: the records of a call held with ``aiflow call`` against ``aiflow dev
--record`` (real processes, HTTP on loopback), and of a deployed stack (moto)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiflow.dev.calls import parse_since
from aiflow.dev.cli import main
from aiflow.dev.state import DevState, write_state
from aiflow.records.store import DynamoDBRecordStore

from ..dev.test_cli import Process, environment
from .conftest import Desk, front_desk

ROOT = Path(__file__).resolve().parents[3]


def aiflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiflow.dev.cli", *args],
        cwd=cwd,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def project_env() -> dict[str, str]:
    """The test environment, with this checkout importable (tests.examples.hello)."""
    env = environment()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "functions")])
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder of its own: its template.yaml, its .aiflow/dev.json."""
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    return tmp_path


@pytest.fixture
def recording_dev(project: Path) -> Iterator[Process]:
    process = Process(
        ["dev", "tests.examples.hello:assistant", "--port", "0", "--record"],
        env=project_env(),
        cwd=project,
    )
    try:
        process.wait_for(r"records\s+on")
        yield process
    finally:
        process.stop()


@pytest.mark.slow
def test_a_call_held_against_aiflow_dev_record_is_listed_shown_and_deleted(
    recording_dev: Process, project: Path
) -> None:
    script = project / "caller.txt"
    script.write_text("Hello there\n#1\n/silence\n/interrupt one moment\nbye\n")

    held = aiflow("call", "--script", str(script), "--caller", "+4930111222333", cwd=project)
    assert held.returncode == 0, held.stdout + held.stderr

    listed = aiflow("calls", "list", "--json", cwd=project)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["caller"] == "+49*********33"
    assert row["outcome"] == "assistant hung up"
    assert row["turns"] == 7
    table = aiflow("calls", "list", cwd=project)
    assert row["session_id"][:8] in table.stdout and "assistant hung up" in table.stdout

    shown = aiflow("calls", "show", row["session_id"][:8], cwd=project)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    out = shown.stdout
    assert f"Call {row['session_id']}" in out
    assert "Outcome: assistant hung up" in out
    for said in (
        "Hello! Say something.",
        "Hello there",
        "You said: Hello there",
        "presses 1",
        "(silent)",
        "one moment",
        "Goodbye!",
        "hangs up",
    ):
        assert said in out, said
    assert re.search(r"one moment\s+interrupts", out)
    assert re.search(r"answer \d+ ms", out)
    assert "+30111222333" not in out and "4930111222333" not in out

    record = json.loads(aiflow("calls", "show", row["session_id"], "--json", cwd=project).stdout)
    assert record["turns"][1]["caller"] == "Hello there"

    deleted = aiflow("calls", "delete", row["session_id"], cwd=project)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"deleted the record of call {row['session_id']} and its call item" in deleted.stdout
    assert json.loads(aiflow("calls", "list", "--json", cwd=project).stdout) == []
    gone = aiflow("calls", "show", row["session_id"], cwd=project)
    assert gone.returncode == 2 and "no record of call" in gone.stdout


def test_without_a_dev_server_it_says_how_to_start_one(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)

    status = main(["calls", "list"])

    assert status == 2
    out = capsys.readouterr().out
    assert "aiflow dev --record" in out and "--stack" in out


def test_a_dev_server_that_does_not_record_says_so(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    write_state(DevState("http://127.0.0.1:1/webhook", None, "t" * 20, os.getpid(), "x:y"), project)

    status = main(["calls", "show", "abc"])

    assert status == 2
    assert "restart it with `aiflow dev --record`" in capsys.readouterr().out


def test_the_records_of_a_deployed_stack_are_found_from_its_outputs(
    desk: Desk, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("COLUMNS", "200")
    call = desk.call(desk.webhook(front_desk(record_calls=True)))
    call.start()
    call.say("the operator please")
    call.hang_up()
    cloudformation = boto3.client("cloudformation")
    stack = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "CallRecordsTableName": {"Value": desk.records_table},
            "CallsTableName": {"Value": desk.calls_table},
        },
    }
    cloudformation.create_stack(StackName="front-desk", TemplateBody=json.dumps(stack))

    assert main(["calls", "list", "--stack", "front-desk"]) == 0
    listed = capsys.readouterr().out
    assert main(["calls", "show", call.session_id, "--stack", "front-desk"]) == 0
    shown = capsys.readouterr().out

    assert call.session_id[:8] in listed and "transferred to +4930123456789" in listed
    assert "Outcome: transferred to +4930123456789" in shown
    assert "transfers the call to +4930123456789" in shown
    assert "the operator please" in shown


def test_a_stack_without_call_records_says_how_to_switch_them_on(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    boto3.client("cloudformation").create_stack(
        StackName="no-records",
        TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}),
    )

    assert main(["calls", "list", "--stack", "no-records"]) == 2
    assert "EnableCallRecords=true" in capsys.readouterr().out
    assert main(["calls", "list", "--stack", "nowhere"]) == 2
    assert "cannot read stack nowhere" in capsys.readouterr().out


def test_a_short_id_must_name_one_call(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    store = DynamoDBRecordStore(desk.records_table, client=desk.reader)
    for session_id in ("abc-1", "abc-2"):
        started = int(time.time() * 1000)
        store.put({"session_id": session_id, "started_at": started}, retention_days=1)

    assert main(["calls", "show", "abc", "--table", desk.records_table]) == 2
    assert "abc is the start of 2 calls" in capsys.readouterr().out
    assert main(["calls", "show", "abc-2", "--table", desk.records_table, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_id"] == "abc-2"


def test_since_takes_durations_days_and_times() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2d", now=now) == now - timedelta(days=2)
    assert parse_since("2026-11-30", now=now) == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_since("2026-11-30T08:00:00+01:00", now=now) == datetime(
        2026, 11, 30, 7, tzinfo=UTC
    )
    with pytest.raises(Exception, match="--since"):
        parse_since("yesterday", now=now)
