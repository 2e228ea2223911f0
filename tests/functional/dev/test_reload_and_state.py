"""What `aiflow dev --reload` watches, and the file through which `aiflow call` finds the
running dev server of its project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiflow.dev.reloader import watched
from aiflow.dev.state import DevState, read_state, remove_state, state_path, write_state


@pytest.mark.parametrize(
    ("name", "restarts"),
    [
        ("app.py", True),
        ("receptionist.yaml", True),
        ("scenario.call.yml", True),
        ("pyproject.toml", True),
        ("local.env", True),
        (".env", True),
        ("call.json", False),  # what `aiflow call --transcript` writes
        ("receptionist.yaml.json", False),
        ("notes.md", False),
        ("app.pyc", False),
    ],
)
def test_reload_watches_sources_and_configuration_only(name: str, restarts: bool) -> None:
    assert watched(Path("/project/functions") / name) is restarts


def project(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    (tmp_path / "functions" / "pizza").mkdir(parents=True)
    return tmp_path


def test_the_state_is_found_from_anywhere_in_the_project_and_is_the_users_only(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    state = DevState("http://127.0.0.1:3001/webhook", None, "s3cret", os.getpid(), "pizza:a")

    path = write_state(state, root)

    assert path == root / ".aiflow" / "dev.json" == state_path(root)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (root / ".aiflow" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert read_state(root / "functions" / "pizza") == state


def test_a_state_left_by_a_killed_server_is_ignored(tmp_path: Path) -> None:
    root = project(tmp_path)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    write_state(DevState("http://x/webhook", None, "t", int(gone.stdout), "a:b"), root)

    assert read_state(root) is None


def test_a_server_removes_only_its_own_state(tmp_path: Path) -> None:
    root = project(tmp_path)
    write_state(DevState("http://x/webhook", None, "t", os.getpid(), "a:b"), root)

    remove_state(os.getpid() + 1, root)  # another server stopping
    assert json.loads(state_path(root).read_text())["token"] == "t"
    remove_state(os.getpid(), root)
    assert not state_path(root).exists()
