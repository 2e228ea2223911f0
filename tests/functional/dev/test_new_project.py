"""`aiflow new`: a project of your own, from package data, with its own template and tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aiflow.dev.cli import main
from aiflow.dev.scaffold import (
    TEMPLATES,
    ScaffoldError,
    create_project,
    framework_version,
    package_name,
    stale_copies,
)
from aiflow.local.template import code_directory, deployed_assistant, load_template

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"__(PROJECT|PACKAGE|ASSISTANT|AIFLOW_VERSION)__")


def test_the_copies_of_this_repository_are_fresh() -> None:
    """template.yaml, infra/, functions/Makefile and the receptionist are copied into the
    project templates; after changing one of them, run `make project-templates`."""
    assert stale_copies(ROOT) == [], "run `make project-templates`"


@pytest.mark.parametrize(
    ("name", "package"),
    [("pizza", "pizza"), ("my-shop", "my_shop"), ("Praxis.Weber", "praxis_weber")],
)
def test_the_package_is_named_after_the_project(name: str, package: str) -> None:
    assert package_name(name) == package


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("2fast", "cannot name a Python package"),
        ("class", "cannot name a Python package"),
        ("pizzä", "cannot name a Python package"),
        ("aiflow", "would shadow the module 'aiflow'"),
        ("tests", "would shadow"),
        ("json", "would shadow the module 'json'"),
    ],
)
def test_a_name_that_cannot_be_a_package_is_refused(name: str, problem: str) -> None:
    with pytest.raises(ScaffoldError, match=problem):
        package_name(name)


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_a_project_is_complete_and_deploys_its_own_package(tmp_path: Path, template: str) -> None:
    folder = create_project(tmp_path / "pizza-shop", template=template)

    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {
        ".gitignore",
        "Makefile",
        "README.md",
        "pyproject.toml",
        "samconfig.toml",
        "template.yaml",
        "infra/websocket.yaml",
        "infra/env/local.json",
        "infra/events/session_start.json",
        "functions/Makefile",
        "functions/pizza_shop/__init__.py",
        "functions/pizza_shop/app.py",
        "tests/test_pizza_shop.py",
    } <= files
    assert any(name.endswith(".call.yaml") for name in files)
    for name in files:
        text = (folder / name).read_text(encoding="utf-8")
        assert not PLACEHOLDER.search(text), f"{name}: {PLACEHOLDER.search(text)}"
    template_path = folder / "template.yaml"
    assert deployed_assistant(template_path) == "pizza_shop.app:assistant"
    assert code_directory(template_path) == (folder / "functions").resolve()
    assert load_template(template_path)["Resources"]["WebhookFunction"]["Properties"][
        "Handler"
    ] == ("aiflow.lambda_.main.webhook")
    pyproject = (folder / "pyproject.toml").read_text()
    assert f'"aiflow-serverless[local]=={framework_version()}"' in pyproject
    assert "STACK_NAME ?= pizza-shop" in (folder / "Makefile").read_text()
    functions = [p.name for p in (folder / "functions").iterdir()]
    assert sorted(functions) == ["Makefile", "pizza_shop"], "only the user's code"


def test_the_minimal_project_has_no_receptionist(tmp_path: Path) -> None:
    folder = create_project(tmp_path / "pizza", template="minimal")

    code = "\n".join(p.read_text() for p in (folder / "functions" / "pizza").rglob("*.py"))
    assert "receptionist" not in code.lower()
    assert not list(folder.rglob("receptionist.yaml"))


def test_the_receptionist_project_owns_its_copy(tmp_path: Path) -> None:
    folder = create_project(tmp_path / "praxis", template="receptionist")

    package = folder / "functions" / "praxis"
    assert (package / "receptionist.yaml").is_file() and (package / "_build.py").is_file()
    assert "from .config import" in (package / "app.py").read_text()
    scenarios = (folder / "tests" / "greeting_and_goodbye.call.yaml").read_text()
    assert "assistant: praxis.app:assistant" in scenarios


def test_the_bedrock_project_enables_bedrock_when_deployed(tmp_path: Path) -> None:
    folder = create_project(tmp_path / "shop", template="bedrock")

    samconfig = (folder / "samconfig.toml").read_text()
    assert 'parameter_overrides = "EnableBedrock=true BedrockModelId=' in samconfig
    assert "BedrockAgent" in (folder / "functions" / "shop" / "app.py").read_text()


def test_an_existing_folder_with_files_is_not_touched(tmp_path: Path) -> None:
    folder = tmp_path / "pizza"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")

    with pytest.raises(ScaffoldError, match="exists and is not empty"):
        create_project(folder)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_the_command_says_what_to_do_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    status = main(["new", "pizza", "--template", "minimal"])

    out = capsys.readouterr().out
    assert status == 0
    assert "your assistant is functions/pizza/app.py, deployed as pizza.app:assistant" in out
    assert "cd pizza" in out and "make run" in out and "make call" in out
    assert main(["new", "pizza"]) == 1
    assert "exists and is not empty" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_a_new_projects_own_tests_pass(tmp_path: Path, template: str) -> None:
    """Its tests and scenarios run with its pyproject's pytest settings (the aiflow installed
    here; the end-to-end test does the same from a wheel, with make)."""
    folder = create_project(tmp_path / "pizza", template=template)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIFLOW_", "PYTHONPATH"))}

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
    assert "skipped" not in result.stdout and "failed" not in result.stdout


def test_aiflow_invoke_runs_a_new_projects_assistant(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    restore_environ: None,
) -> None:
    folder = create_project(tmp_path / "invoked_pizza", template="minimal")
    monkeypatch.chdir(folder)
    for name in ("AIFLOW_API_TOKEN", "AIFLOW_TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.syspath_prepend(str(folder / "functions"))

    status = main(["invoke", "infra/events/session_start.json"])

    out = capsys.readouterr().out
    assert status == 0, out
    assert "AIFLOW_ASSISTANT=invoked_pizza.app:assistant" in out and "HTTP 200" in out
    body = json.loads(out[out.index("{") :])
    assert body["text"].startswith("Hello, this is invoked_pizza.")
