"""`aiflow dev` serves ws://.../ws and `aiflow call --ws` drives a call over it: real processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.dev.test_cli import ROOT, Process, environment

pytestmark = pytest.mark.slow


@pytest.fixture
def dev() -> Iterator[tuple[Process, str]]:
    process = Process(["dev", "tests.examples.hello:assistant", "--port", "0"], env=environment())
    try:
        url = process.wait_for(r"websocket\s+(ws://127\.0\.0\.1:\d+/ws)").group(1)
        process.wait_for(r"aiflow call ws://")
        yield process, url
    finally:
        process.stop()


def call(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiflow.dev.cli", "call", *args],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_scripted_call_over_the_websocket(dev: tuple[Process, str], tmp_path: Path) -> None:
    process, url = dev
    script = tmp_path / "caller.txt"
    script.write_text("Hello there\nbye\n")
    transcript = tmp_path / "call.json"

    result = call(url, "--script", str(script), "--transcript", str(transcript))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "assistant › You said: Hello there" in result.stdout
    assert "assistant ✆ hangs up" in result.stdout
    assert "frame after" in result.stdout
    saved = json.loads(transcript.read_text())
    assert saved["target"] == url
    assert [(line["who"], line["text"]) for line in saved["conversation"]] == [
        ("caller", "(calls)"),
        ("assistant", "Hello! Say something."),
        ("caller", "Hello there"),
        ("assistant", "You said: Hello there"),
        ("caller", "bye"),
        ("assistant", "Goodbye!"),
        ("assistant", "(hangup)"),
    ]
    # The dev server logged the WebSocket events like webhook requests.
    process.wait_for(r"session_end\s+204")
    call_id = saved["session_id"][:8]
    log = "\n".join(line for line in process.seen if f"  {call_id}  " in line)
    assert "user_speak" in log and "speak" in log


def test_ws_flag_and_a_wrong_token(dev: tuple[Process, str]) -> None:
    _, url = dev
    result = call(url, "--token", "wrong", "--script", "-")
    assert result.returncode == 2
    assert "401" in result.stdout and "refused" in result.stdout


def test_call_ws_without_a_server_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = call("--ws", f"ws://127.0.0.1:{port}/ws", "--script", "-")
    assert result.returncode == 2
    assert "cannot reach" in result.stdout


def test_ws_defaults_to_the_dev_server() -> None:
    from aiflow.dev import cli

    assert cli.DEV_WS_URL == "ws://127.0.0.1:3000/ws"
