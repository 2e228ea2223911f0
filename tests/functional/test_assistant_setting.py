"""The deployed assistant is one setting: template.yaml's Assistant parameter.

Every function runs ``aiflow.lambda_.main``, which builds its entry point for the assistant
``AIFLOW_ASSISTANT`` names; the build ships aiflow and that assistant's package only; and the
project's own checks pass whichever assistant is deployed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aiflow.lambda_ import main
from aiflow.lambda_.main import AssistantSettingError, build_entry_point, load_assistant
from aiflow.lambda_.websocket import WebSocketHandler
from aiflow.local.gateway import LocalGateway
from aiflow.local.template import deployed_assistant, function_environment, load_template
from tests.examples.hello import assistant as hello

ROOT = Path(__file__).resolve().parents[2]
HELLO_SOURCE = ROOT / "tests" / "examples" / "hello.py"
LOCAL_ONLY = ("aiflow/dev", "aiflow/local", "aiflow/testing")


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("AIFLOW_API_TOKEN", "setting-test-token-0123")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.delenv("AIFLOW_TABLE_NAME", raising=False)
    return monkeypatch


# --- the entry module ----------------------------------------------------------------------------


def test_every_function_runs_the_entry_module_for_the_template_assistant() -> None:
    template = load_template(ROOT / "template.yaml")
    spec = deployed_assistant(ROOT / "template.yaml")
    for logical_id in ("WebhookFunction", "WorkerFunction"):
        handler = template["Resources"][logical_id]["Properties"]["Handler"]
        assert handler.startswith("aiflow.lambda_.main.")
        assert function_environment(template, logical_id)["AIFLOW_ASSISTANT"] == spec
    nested = template["Resources"]["WebSocket"]["Properties"]["Parameters"]
    assert nested["Handler"] == "aiflow.lambda_.main.websocket"
    assert nested["Assistant"] == {"Ref": "Assistant"}
    assert spec.partition(":")[0].split(".")[0] in {p.name for p in (ROOT / "functions").iterdir()}


def test_the_entry_points_serve_the_assistant_the_setting_names(
    lambda_env: pytest.MonkeyPatch,
) -> None:
    env = {"AIFLOW_ASSISTANT": "tests.examples.hello:assistant"}

    webhook = build_entry_point("webhook", env)
    websocket = build_entry_point("websocket", env)

    reply = LocalGateway(webhook).request(
        "POST",
        "/webhook",
        {"X-API-TOKEN": "setting-test-token-0123"},
        b'{"type":"session_start","session":{"id":"s-1"}}',
    )
    assert reply.status == 200 and "Hello! Say something." in reply.text
    assert isinstance(websocket, WebSocketHandler) and websocket.assistant is hello
    assert callable(build_entry_point("worker", env))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "AIFLOW_ASSISTANT is not set"),
        ("receptionist.app", "is not module:object"),
        ("no_such_pizza.app:assistant", "no module 'no_such_pizza' in this deployment"),
        ("tests.examples.hello:assistent", "has no attribute 'assistent'"),
        ("tests.examples.hello:echo", "is a function, not an aiflow.Assistant"),
    ],
)
def test_a_bad_setting_fails_at_init_naming_the_variable_and_the_fix(
    lambda_env: pytest.MonkeyPatch, value: str | None, problem: str
) -> None:
    env = {} if value is None else {"AIFLOW_ASSISTANT": value}

    with pytest.raises(AssistantSettingError) as raised:
        build_entry_point("webhook", env)

    assert problem in raised.value.message
    assert "set the template parameter Assistant" in raised.value.message


def test_a_module_that_fails_itself_is_not_blamed_on_the_setting(tmp_path: Path) -> None:
    (tmp_path / "broken_assistant.py").write_text("import no_such_dependency\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="no_such_dependency"):
            load_assistant("broken_assistant:assistant")
    finally:
        sys.path.remove(str(tmp_path))


def test_lambda_reads_the_entry_points_as_module_attributes(lambda_env: pytest.MonkeyPatch) -> None:
    lambda_env.setenv("AIFLOW_ASSISTANT", "tests.examples.hello:assistant")
    lambda_env.delattr(main, "websocket", raising=False)

    entry = main.websocket  # what the runtime does with Handler: aiflow.lambda_.main.websocket

    assert isinstance(entry, WebSocketHandler) and entry.assistant is hello
    assert main.websocket is entry, "built once per process"
    with pytest.raises(AttributeError):
        _ = main.handler


# --- the build ------------------------------------------------------------------------------------


def functions_with(tmp_path: Path, *, hello_package: bool) -> Path:
    """A copy of functions/ (what sam build copies), optionally with a `hello` package."""
    source = tmp_path / "functions"
    shutil.copytree(
        ROOT / "functions",
        source,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "project-templates"),
    )
    if hello_package:
        (source / "hello").mkdir()
        shutil.copy(HELLO_SOURCE, source / "hello" / "__init__.py")
    return source


def build_recipe(source: Path, artifacts: Path, assistant: str | None) -> str:
    """functions/Makefile's recipe, with pip left out (LAMBDA_PIP=true): only our code."""
    env = {k: v for k, v in os.environ.items() if k != "AIFLOW_ASSISTANT"}
    if assistant is not None:
        env["AIFLOW_ASSISTANT"] = assistant
    env["CONFIG_PYTHON"] = sys.executable
    result = subprocess.run(
        ["make", "-f", str(source / "Makefile"), "build-WebhookFunction"]
        + [f"ARTIFACTS_DIR={artifacts}", "LAMBDA_PIP=true", "BYTECODE_PYTHON=false"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_build_ships_aiflow_and_the_deployed_assistant_only(tmp_path: Path) -> None:
    source = functions_with(tmp_path, hello_package=True)
    artifacts = tmp_path / "artifact"

    output = build_recipe(source, artifacts, "hello:assistant")

    assert sorted(p.name for p in artifacts.iterdir()) == ["aiflow", "hello"]
    assert "_build failed" not in output and "receptionist" not in output
    assert "shipping: aiflow hello" in output
    for absent in LOCAL_ONLY:
        assert not (artifacts / absent).exists(), absent


def test_the_receptionist_build_step_runs_only_when_it_ships(tmp_path: Path) -> None:
    source = functions_with(tmp_path, hello_package=False)
    artifacts = tmp_path / "artifact"

    output = build_recipe(source, artifacts, "receptionist.app:assistant")

    assert sorted(p.name for p in artifacts.iterdir()) == ["aiflow", "receptionist"]
    assert "compiled" in output and "_build failed" not in output
    assert (artifacts / "receptionist" / "receptionist.yaml.json").is_file()


def test_a_missing_assistant_package_fails_the_build_by_name(tmp_path: Path) -> None:
    source = functions_with(tmp_path, hello_package=False)
    result = subprocess.run(
        ["make", "-f", str(source / "Makefile"), "build-WorkerFunction"]
        + [f"ARTIFACTS_DIR={tmp_path / 'out'}", "LAMBDA_PIP=true", "AIFLOW_ASSISTANT=pizza.app:a"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "pizza is missing" in result.stderr
    assert "AIFLOW_ASSISTANT=pizza.app:a" in result.stderr


# --- another assistant deployed: the repository's checks still pass -----------------------------


@pytest.mark.slow
def test_with_another_assistant_deployed_the_template_checks_pass(tmp_path: Path) -> None:
    """Deploying another assistant is editing one line; then the template, environment and
    handler checks of tests/functional/test_template.py pass as they are."""
    project = tmp_path / "repo"
    project.mkdir()
    for name in ("template.yaml", "samconfig.toml", "pyproject.toml", "Makefile"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "infra", project / "infra")
    functions_with(project, hello_package=True)
    (project / "tests" / "functional").mkdir(parents=True)
    for name in ("tests/__init__.py", "tests/conftest.py", "tests/functional/__init__.py"):
        shutil.copy(ROOT / name, project / name)
    shutil.copy(ROOT / "tests/functional/test_template.py", project / "tests/functional")
    template = project / "template.yaml"
    text = template.read_text()
    assert text.count("Default: receptionist.app:assistant") == 1
    # The one edit: which assistant this repository deploys.
    template.write_text(text.replace("receptionist.app:assistant", "hello:assistant", 1))
    assert deployed_assistant(template) == "hello:assistant"

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFLOW_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/functional/test_template.py", "-o", "addopts="]
        + ["-m", "not slow", "-p", "no:cacheprovider", "-v"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "test_handler_exists_in_the_code[WebhookFunction] PASSED" in result.stdout
    assert " failed" not in result.stdout and " passed" in result.stdout
    output = build_recipe(project / "functions", tmp_path / "artifact", "hello:assistant")
    assert "shipping: aiflow hello" in output


def test_aiflow_dev_serves_the_deployed_assistant_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiflow.dev.run import resolve_target

    code = str(ROOT / "functions")
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry != code])
    monkeypatch.delenv("AIFLOW_ASSISTANT")

    target, template = resolve_target(None, ROOT / "template.yaml")

    assert target == deployed_assistant(ROOT / "template.yaml")
    assert template == ROOT / "template.yaml"
    assert sys.path[0] == code, "the CodeUri folder, as Lambda has it"
    assert os.environ["AIFLOW_ASSISTANT"] == target
    assert resolve_target("tests.examples.hello:assistant", template)[0].startswith("tests.")
