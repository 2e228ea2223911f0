"""A new user's first steps, outside this repository: a wheel built from it, a fresh virtualenv,
`aiflow new pizza`, then the project's own `make test`, `make run` + `aiflow call`, and
`make build` (SAM CLI in the project's own virtualenv, no Docker), which ships aiflow and
pizza and nothing of the receptionist.

Slow (a few minutes: wheels from the package index, SAM CLI); set AIFLOW_TEST_E2E_SKIP_BUILD=1
to leave out `make build` (its recipe is then run directly, without downloads).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_cli import Process

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.monotonic() - started
    print(f"{' '.join(args)}: {seconds:.1f} s", file=sys.stderr)
    assert result.returncode == 0, f"{args}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def user_environment(dist: Path) -> dict[str, str]:
    """The user's shell: nothing of this repository or its virtualenv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIFLOW_", "POWERTOOLS_", "VIRTUAL_ENV", "PYTHONPATH", "PYTEST_"))
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    # pip finds aiflow-serverless in dist/, everything else where it always does.
    env["PIP_FIND_LINKS"] = " ".join(filter(None, [str(dist), os.environ.get("PIP_FIND_LINKS")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    return env


def test_a_new_project_outside_the_repository_tests_runs_and_builds(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(dist), "--no-deps", "-q"],
        cwd=tmp_path,
        env=dict(os.environ),
    )
    (wheel,) = dist.glob("aiflow_serverless-*.whl")
    env = user_environment(dist)
    python = shutil.which("python3", path=env["PATH"]) or "python3"
    run([python, "-m", "venv", "venv"], cwd=tmp_path, env=env)
    venv = tmp_path / "venv" / "bin"
    run([str(venv / "pip"), "install", "-q", str(wheel)], cwd=tmp_path, env=env)
    env["PATH"] = f"{venv}{os.pathsep}{env['PATH']}"

    created = run(["aiflow", "new", "pizza"], cwd=tmp_path, env=env)
    project = tmp_path / "pizza"
    assert "your assistant is functions/pizza/app.py" in created

    tested = run(["make", "test"], cwd=project, env=env)
    assert re.search(r"\b[1-9]\d* passed\b", tested) and "failed" not in tested

    server = MakeRun(project, env)
    try:
        url = server.wait_for(r"webhook\s+(http://127\.0\.0\.1:\d+/webhook)", timeout=120).group(1)
        server.wait_for(r"Ctrl-C stops")
        called = _call(project, env)
    finally:
        server.stop()
    assert f"Calling {url}" in called
    assert "assistant › You said: Do you deliver?" in called
    assert "Call over (ended by assistant)" in called

    if os.environ.get("AIFLOW_TEST_E2E_SKIP_BUILD") == "1":
        artifact = tmp_path / "artifact"
        run(
            [
                "make",
                "-f",
                "functions/Makefile",
                "build-WebhookFunction",
                f"ARTIFACTS_DIR={artifact}",
            ]
            + ["LAMBDA_PIP=true", "AIFLOW_ASSISTANT=pizza.app:assistant"]
            + ["AIFLOW_REQUIREMENT=aiflow-serverless"],
            cwd=project,
            env=env,
        )
        artifacts = [artifact]
        framework = False
    else:
        built = run(["make", "build"], cwd=project, env=env, timeout=1800)
        assert "Build Succeeded" in built
        build = project / ".aws-sam" / "build"
        artifacts = [build / "WebhookFunction", build / "WorkerFunction"]
        framework = True
    for artifact in artifacts:
        shipped = {p.name for p in artifact.iterdir()}
        assert "pizza" in shipped
        assert not {"receptionist", "pytest_aiflow.py", "tests", "boto3", "botocore"} & shipped
        assert not list(artifact.rglob("receptionist*"))
        if framework:
            assert (artifact / "aiflow" / "lambda_" / "main.py").is_file()
            assert {"pydantic_core", "aws_lambda_powertools"} <= shipped
            for local_only in ("dev", "local", "testing"):
                assert not (artifact / "aiflow" / local_only).exists(), local_only


class MakeRun(Process):
    """`make run` on a free port (3000 may be taken on a shared machine), in its own process
    group so that stopping it stops the dev server under make too."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        super().__init__(
            [], env=env, cwd=project, command=["make", "run", "DEV_ARGS=--port 0"], session=True
        )

    def stop(self) -> int:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
        return super().stop()


def _call(project: Path, env: dict[str, str]) -> str:
    """The README's second terminal: `aiflow call` in the project, no URL, no token."""
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "aiflow"), "call", "--script", "-"],
        input="Do you deliver?\nbye\n",
        cwd=project / "functions",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
