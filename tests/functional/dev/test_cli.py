"""`aiflow dev` and `aiflow call` end to end: real processes talking HTTP on loopback."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiflow.dev.cli import main

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "test-token-0123456789"

pytestmark = pytest.mark.slow


class Process:
    """A child process whose output lines are collected as they come."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str],
        cwd: Path = ROOT,
        command: list[str] | None = None,
        session: bool = False,
    ) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.popen = subprocess.Popen(
            command or [sys.executable, "-m", "aiflow.dev.cli", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=session,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.seen))

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.popen.returncode


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIFLOW_", "POWERTOOLS_"))}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", AIFLOW_API_TOKEN=TOKEN, **extra)
    return env


@pytest.fixture
def dev() -> Iterator[tuple[Process, str]]:
    process = Process(["dev", "tests.examples.hello:assistant", "--port", "0"], env=environment())
    try:
        url = process.wait_for(r"webhook\s+(http://127\.0\.0\.1:\d+/webhook)").group(1)
        yield process, url
    finally:
        process.stop()


def test_a_scripted_call_against_the_dev_server_ends_with_a_transcript(
    dev: tuple[Process, str], tmp_path: Path
) -> None:
    process, url = dev
    script = tmp_path / "caller.txt"
    script.write_text("// a comment\nHello there\n#12\n/silence\n/interrupt one moment\nbye\n")
    transcript = tmp_path / "call.json"

    result = subprocess.run(
        [sys.executable, "-m", "aiflow.dev.cli", "call", url, "--script", str(script)]
        + ["--transcript", str(transcript), "--caller", "+4930111222"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "assistant › You said: Hello there" in result.stdout
    assert "assistant ✆ hangs up" in result.stdout
    assert "Transcript" in result.stdout
    saved = json.loads(transcript.read_text())
    assert saved["target"] == url
    assert saved["caller"] == "+4930111222"
    assert saved["ended_by"] == "assistant"
    assert [(line["who"], line["text"]) for line in saved["conversation"]] == [
        ("caller", "(calls)"),
        ("assistant", "Hello! Say something."),
        ("caller", "Hello there"),
        ("assistant", "You said: Hello there"),
        ("caller", "(presses 12)"),
        ("caller", "(stays silent)"),
        ("caller", "one moment"),
        ("assistant", "You said: one moment"),
        ("caller", "bye"),
        ("assistant", "Goodbye!"),
        ("assistant", "(hangup)"),
    ]
    interrupt = saved["turns"][4]["exchanges"][0]["event"]
    assert interrupt == {"type": "user_speak", "text": "one moment", "barged_in": True}
    keys = [e["event"] for e in saved["turns"][2]["exchanges"]]
    assert keys == [
        {"type": "dtmf_received", "digit": "1"},
        {"type": "dtmf_received", "digit": "2"},
    ]
    # The dev server logged one line per event of the call, Powertools kept quiet.
    process.wait_for(r"session_end\s+204")
    call_id = saved["session_id"][:8]
    log = [line for line in process.seen if f"  {call_id}  " in line]
    assert len(log) == sum(len(turn["exchanges"]) for turn in saved["turns"])
    assert re.search(r"user_speak\s+200  speak\s+\d+\.\d ms$", "\n".join(log), re.MULTILINE)
    assert not [line for line in process.seen if line.startswith("{")]
    assert process.stop() == 0
    assert process.seen[-1] == "stopping"


def test_without_a_token_the_dev_server_makes_one_and_prints_a_curl(tmp_path: Path) -> None:
    env = environment()
    del env["AIFLOW_API_TOKEN"]
    process = Process(["dev", "tests.examples.hello:assistant", "--port", "0"], env=env)
    try:
        token = process.wait_for(r"^  token\s+(\S+)\s+generated").group(1)
        curl = process.wait_for(r"-H 'X-API-TOKEN: (\S+)'")
    finally:
        process.stop()

    assert curl.group(1) == token
    assert len(token) >= 24
    banner = "\n".join(process.seen)
    # aiflow call finds the token itself (.aiflow/dev.json): none on a command line.
    assert re.search(r"^    aiflow call http://127\.0\.0\.1:\d+/webhook$", banner, re.MULTILINE)
    assert f"--token {token}" not in banner
    assert "curl -sS -i http://127.0.0.1:" in banner


def test_the_readme_two_terminals_dev_then_call_without_a_token(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "template.yaml").write_text((ROOT / "template.yaml").read_text())
    env = environment(PYTHONPATH=str(ROOT))
    del env["AIFLOW_API_TOKEN"]
    dev = Process(["dev", "tests.examples.hello:assistant", "--port", "0"], env=env, cwd=project)
    state = project / ".aiflow" / "dev.json"
    try:
        dev.wait_for(r"^  token\s+\S+\s+generated")
        dev.wait_for(r"Ctrl-C stops")
        assert state.stat().st_mode & 0o777 == 0o600, "the token file is the user's only"
        assert state.parent.stat().st_mode & 0o777 == 0o700
        saved = json.loads(state.read_text())
        assert saved["target"] == "tests.examples.hello:assistant"

        # The second terminal, anywhere in the project: no URL, no token.
        call = subprocess.run(
            [sys.executable, "-m", "aiflow.dev.cli", "call", "--script", "-"],
            input="Hello there\nbye\n",
            cwd=project / "sub",
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        assert dev.stop() == 0

    assert call.returncode == 0, call.stdout + call.stderr
    assert f"Calling {saved['url']}" in call.stdout
    assert "assistant › You said: Hello there" in call.stdout
    assert not state.exists(), "the dev server removes its token file when it stops"


def test_reload_restarts_the_server_when_a_source_file_changes(tmp_path: Path) -> None:
    module = tmp_path / "reloadme.py"
    module.write_text(
        "from aiflow import Assistant\nassistant = Assistant('r')\n"
        "@assistant.on_session_start\ndef greet():\n    return 'first'\n"
    )
    env = environment(PYTHONPATH=str(tmp_path))
    process = Process(["dev", "reloadme:assistant", "--port", "0", "--reload"], env=env)
    try:
        url = process.wait_for(r"webhook\s+(http://127\.0\.0\.1:\d+/webhook)").group(1)
        assert greeting(url) == "first"
        module.write_text(module.read_text().replace("'first'", "'second'"))
        process.wait_for(r"reloadme\.py changed: restarting")
        process.wait_for(r"reloaded: serving reloadme:assistant again")
        assert greeting(url) == "second"
    finally:
        assert process.stop() == 0


def greeting(url: str) -> str:
    body = json.dumps({"type": "session_start", "session": {"id": str(time.time())}}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"X-API-TOKEN": TOKEN, "Content-Type": "application/json"}
    )
    for _ in range(50):  # the restarted server may still be importing
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return str(json.loads(response.read())["text"])
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the dev server did not come back")


def test_call_runs_in_process_against_a_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_env(monkeypatch)
    script = tmp_path / "lines.txt"
    script.write_text("hi\n/hangup\n")

    status = main(["call", "tests.examples.hello:assistant", "--script", str(script)])

    output = capsys.readouterr().out
    assert status == 0
    assert "assistant › You said: hi" in output
    assert "Call over (ended by caller)" in output


def test_call_to_another_number_reaches_the_routers_other_assistant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_env(monkeypatch)
    target = "tests.functional.dev.assistants:numbers"

    status = main(["call", target, "--to", "+49 211 98765499", "--script", os.devnull])

    output = capsys.readouterr().out
    assert status == 0
    assert "to +49 211 98765499" in output
    assert "assistant › Good night." in output


def test_call_in_process_shows_the_handlers_exception(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_env(monkeypatch)
    script = tmp_path / "lines.txt"
    script.write_text("Will it rain?\n")

    status = main(["call", "tests.functional.dev.assistants:broken", "--script", str(script)])

    output = capsys.readouterr().out
    assert status == 1
    assert "the handler raised RuntimeError: the weather service is down" in output
    assert "assistants.py:" in output


def test_a_call_that_was_put_through_ends_as_a_transfer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_env(monkeypatch)
    script = tmp_path / "lines.txt"
    script.write_text("#0\n")
    target = "tests.scenarios.assistants:receptionist_always_open"

    status = main(
        ["call", target, "--script", str(script), "--transcript", str(tmp_path / "t.json")]
    )

    output = capsys.readouterr().out
    assert status == 0
    assert "Call over (transferred to 4921198765411)" in output
    transcript = json.loads((tmp_path / "t.json").read_text())
    assert transcript["ended_by"] == "transferred to 4921198765411"


def test_call_reports_an_unreachable_url(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["call", "http://127.0.0.1:9/webhook", "--token", "x", "--script", os.devnull])

    assert status == 2
    assert "cannot reach http://127.0.0.1:9/webhook" in capsys.readouterr().out


def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin what the CLI sets in os.environ, so that monkeypatch restores it afterwards."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("AIFLOW_API_TOKEN", "in-process-token-0123")


def test_dev_with_aws_needs_a_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIFLOW_TABLE_NAME", raising=False)
    quiet_env(monkeypatch)

    status = main(["dev", "tests.examples.hello:assistant", "--dynamodb", "aws", "--port", "0"])

    assert status == 1
    assert "--dynamodb aws needs the table" in capsys.readouterr().out


def test_call_with_a_wrong_token_says_where_to_get_the_right_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aiflow.lambda_ import Settings, lambda_handler
    from aiflow.local.server import DevServer
    from aiflow.store import MemoryStore
    from tests.examples.hello import assistant

    handler = lambda_handler(
        assistant, store=MemoryStore(), token="the-right-token-1234", settings=Settings()
    )
    with DevServer(handler, port=0) as server:
        status = main(["call", server.webhook_url, "--token", "wrong", "--script", os.devnull])

    output = capsys.readouterr().out
    assert status == 1
    assert "✗ session_start: HTTP 401" in output
    assert "The webhook refused the token. Pass --token or set AIFLOW_API_TOKEN" in output


def test_dev_can_use_any_dynamodb_endpoint(tmp_path: Path) -> None:
    from aiflow.local.embedded import EmbeddedDynamoDB

    with EmbeddedDynamoDB(prefix="unused-") as db:  # stands in for DynamoDB Local
        env = environment(
            AWS_ENDPOINT_URL_DYNAMODB=db.endpoint_url,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION=db.region,
        )
        args = ["dev", "tests.examples.hello:assistant", "--port", "0", "--dynamodb", "endpoint"]
        process = Process(args, env=env)
        try:
            url = process.wait_for(r"webhook\s+(http://127\.0\.0\.1:\d+/webhook)").group(1)
            table = process.wait_for(r"dynamodb\s+endpoint \S+, table (\S+)").group(1)
            assert greeting(url) == "Hello! Say something."
        finally:
            assert process.stop() == 0
        items = db.client().scan(TableName=table)["Items"]

    assert table == "aiflow-local-CallsTable"
    assert len(items) == 1
