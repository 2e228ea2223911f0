"""``aiflow dev --reload``: a parent process that restarts the dev server when a source or
configuration file changes (Python, YAML, TOML, .env — not what a call writes, like
transcripts), keeping one port, one embedded DynamoDB and one token across restarts."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..errors import AiflowError
from ..local.embedded import DevSetupError, EmbeddedDynamoDB, find_template
from ..local.template import code_directory
from .run import (
    _CHILD_ENV,
    _NO_STATE_ENV,
    RECORD_ENV,
    DevOptions,
    _stop_on_sigterm,
    quiet_powertools,
    resolve_target,
)
from .state import DevState, project_dir, remove_state, write_state

# What --reload watches: sources and configuration, not what a call writes (transcripts).
WATCHED_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".toml", ".env"})
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


def run_reloader(argv: Sequence[str], options: DevOptions, console: Console) -> int:
    """Run ``aiflow dev`` in a child process and restart it when a source file changes.

    The token and the embedded DynamoDB live here, in the parent, so calls in progress
    keep their state across restarts.
    """
    quiet_powertools(options.verbose)
    try:
        target, template = resolve_target(options.target, options.template)
    except (AiflowError, ImportError) as exc:
        console.print(f"[bold red]aiflow dev:[/] {escape(str(exc))}")
        return 1
    env = dict(os.environ)
    env.setdefault("AIFLOW_API_TOKEN", secrets.token_urlsafe(24))
    if options.record:
        env[RECORD_ENV] = "true"
    env[_NO_STATE_ENV] = "1"  # this process shares URL and token, for every restart
    child_args = [a for a in argv if a != "--reload"]
    port = options.port
    if port == 0:  # every restart must come back on the same port
        port = _free_port(options)
        child_args = [*_without_option(child_args, "--port"), "--port", str(port)]
    with ExitStack() as stack:
        if options.dynamodb == "embedded":
            try:
                db = stack.enter_context(EmbeddedDynamoDB(options.template or find_template()))
            except DevSetupError as exc:
                console.print(f"[bold red]aiflow dev:[/] {escape(str(exc))}")
                return 1
            env.update(db.environment())
            child_args = [*_without_option(child_args, "--dynamodb"), "--dynamodb", "endpoint"]
        host = f"[{options.host}]" if ":" in options.host else options.host
        recording = env.get(RECORD_ENV, "").lower() in ("1", "true", "yes", "on")
        state = DevState(
            f"http://{host}:{port}/webhook",
            f"ws://{host}:{port}/ws",
            env["AIFLOW_API_TOKEN"],
            os.getpid(),
            target,
            dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "eu-central-1",
            calls_table=env.get("AIFLOW_TABLE_NAME") or None,
            records_table=(env.get("AIFLOW_RECORDS_TABLE") or None) if recording else None,
        )
        project = project_dir(template.parent if template is not None else None)
        with suppress(OSError):
            write_state(state, project)
            stack.callback(remove_state, state.pid, project)
        roots = _watch_roots(target, template)
        command = [sys.executable, "-m", "aiflow.dev.cli", *child_args]
        _stop_on_sigterm()
        first = True
        while True:
            child_env = env if first else {**env, _CHILD_ENV: "1"}
            child = subprocess.Popen(command, env=child_env)
            first = False
            snapshot = _mtimes(roots)
            try:
                while True:
                    time.sleep(0.5)
                    current = _mtimes(roots)
                    if current != snapshot:
                        changed = _changed(snapshot, current)
                        console.print(f"[dim]{escape(changed)} changed: restarting[/]")
                        break
            except KeyboardInterrupt:
                _terminate(child)
                return 0
            _terminate(child)


def _free_port(options: DevOptions) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET) as probe:
        probe.bind((options.host, 0))
        return int(probe.getsockname()[1])


def _without_option(args: list[str], name: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == name:
            skip = True
            continue
        if arg.startswith(name + "="):
            continue
        out.append(arg)
    return out


def _watch_roots(target: str, template: Path | None) -> list[Path]:
    """The assistant's own code, the template's CodeUri folder, and aiflow itself when it
    is a source checkout (never an installed site-packages: too big to scan, never edited)."""
    import importlib.util

    roots = [Path(__file__).resolve().parents[2]]  # functions/ of a checkout
    if template is not None:
        roots.append(template.parent)  # template.yaml, samconfig.toml, .env
        with suppress(AiflowError):
            roots.append(code_directory(template))
    module = target.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        for location in spec.submodule_search_locations or []:
            roots.append(Path(location).resolve())
        if spec.origin and spec.origin not in ("built-in", "frozen"):
            roots.append(Path(spec.origin).resolve().parent)
    installed = ("site-packages", "dist-packages")
    return sorted({root for root in roots if not set(root.parts) & set(installed)})


def watched(path: Path) -> bool:
    """Whether a change of ``path`` restarts ``aiflow dev --reload``: Python and
    configuration sources; not JSON (transcripts ``aiflow call`` writes, compiled copies)."""
    return path.suffix in WATCHED_SUFFIXES or path.name == ".env"


def _mtimes(roots: list[Path]) -> dict[Path, tuple[int, int]]:
    found: dict[Path, tuple[int, int]] = {}
    for root in roots:
        for path in _walk(root):
            if not watched(path):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            found[path] = (stat.st_mtime_ns, stat.st_size)  # size: coarse mtime clocks
    return found


def _walk(root: Path) -> Iterator[Path]:
    """Every file under ``root``, not descending into virtualenvs, caches or build output."""
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if not _skipped(name)]
        for name in files:
            yield Path(folder) / name


def _skipped(folder: str) -> bool:
    # Virtualenvs, caches, .aws-sam, .aiflow, .git: all hidden; plus bytecode and node_modules.
    return folder.startswith(".") and folder not in (".", "..") or folder in _SKIPPED_DIRS


def _changed(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]]) -> str:
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            return str(path)
    return "a file"


def _terminate(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
