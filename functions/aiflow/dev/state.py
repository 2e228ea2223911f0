"""Where a running ``aiflow dev`` tells ``aiflow call`` its URL and token (and ``aiflow calls``
where its call records are).

The dev server writes ``.aiflow/dev.json`` in the project (the folder of ``template.yaml``):
its URLs, token and process id, readable by the user only (mode 0600 in a 0700 folder), and
removes it when it stops. ``aiflow call`` in the same project reads it, so the token never has
to be copied from one terminal into another (or appear in a command line, where ``ps`` shows
it to every user of the machine). A file left behind by a killed server is ignored: its
process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..local.template import find_project_template

STATE_DIR = ".aiflow"
STATE_FILE = "dev.json"


@dataclass(frozen=True)
class DevState:
    """What a running dev server shares with ``aiflow call`` and ``aiflow calls``.

    Attributes:
        dynamodb_endpoint: the DynamoDB it uses (None: AWS itself).
        region: the region of its DynamoDB clients.
        calls_table: its call table.
        records_table: its call records table; None when it does not record calls.
    """

    url: str
    ws_url: str | None
    token: str
    pid: int
    target: str
    dynamodb_endpoint: str | None = None
    region: str | None = None
    calls_table: str | None = None
    records_table: str | None = None


def project_dir(start: Path | None = None) -> Path:
    """The project: the folder of ``template.yaml`` in or above ``start``, else ``start``."""
    here = (start or Path.cwd()).resolve()
    template = find_project_template(here)
    return template.parent if template is not None else here


def state_path(project: Path | None = None) -> Path:
    """``<project>/.aiflow/dev.json``."""
    return (project or project_dir()) / STATE_DIR / STATE_FILE


def write_state(state: DevState, project: Path | None = None) -> Path:
    """Write the state for ``aiflow call``, readable by this user only; returns the path."""
    path = state_path(project)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    gitignore = path.parent / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# aiflow dev's runtime state (a token): never commit it\n*\n")
    # mkstemp creates the file 0600; the rename makes it appear complete or not at all.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".dev-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(asdict(state), stream)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def remove_state(pid: int, project: Path | None = None) -> None:
    """Remove the state file if it is still the one process ``pid`` wrote."""
    path = state_path(project)
    current = _read(path)
    if current is not None and current.pid == pid:
        with contextlib.suppress(OSError):
            path.unlink()


def read_state(start: Path | None = None) -> DevState | None:
    """The state of a dev server running for the project at ``start``, or None."""
    state = _read(state_path(project_dir(start)))
    if state is None or not _alive(state.pid):
        return None
    return state


def _read(path: Path) -> DevState | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return DevState(
            url=str(data["url"]),
            ws_url=str(data["ws_url"]) if data.get("ws_url") else None,
            token=str(data["token"]),
            pid=int(data["pid"]),
            target=str(data.get("target", "")),
            dynamodb_endpoint=_text(data.get("dynamodb_endpoint")),
            region=_text(data.get("region")),
            calls_table=_text(data.get("calls_table")),
            records_table=_text(data.get("records_table")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _text(value: object) -> str | None:
    return str(value) if value else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    except OSError:
        return False
    return True
