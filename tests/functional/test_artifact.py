"""The Lambda artifact of functions/Makefile: small, precompiled, and nothing it needs trimmed.

The recipe is built twice with the makefile alone (`make -f functions/Makefile
build-WebhookFunction ARTIFACTS_DIR=...`, what `sam build` runs; pip downloads wheels from the
package index, so these tests are skipped when it cannot be reached):

- for Lambda (arm64, Python 3.12): at most 5 MB zipped, none of the trimmed paths, and
  bytecode for every shipped module but pydantic.v1 (when a Python 3.12 is at hand);
- for this machine (its platform and Python), so that it runs here: a subprocess with only
  the artifact, the boto3 of the Lambda runtime and the standard library on ``sys.path``
  answers a whole call through ``aiflow.lambda_.main.webhook`` (the receptionist) against
  DynamoDB and Secrets Manager on loopback (moto); and every import of a trimmed module left
  in the artifact sits inside a feature aiflow never turns on, never at module level.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiflow.local.embedded import EmbeddedDynamoDB
from aiflow.local.template import REPO_ROOT

MAKEFILE = REPO_ROOT / "functions" / "Makefile"
EVENTS = REPO_ROOT / "infra" / "events"
PROBE = Path(__file__).with_name("artifact_probe.py")
MAX_ZIP_BYTES = 5_000_000  # decimal MB, as bench/run.py reports it
SAMPLE_TOKEN = "local-dev-token-0123"  # what infra/events/*.json send
# What the Lambda Python runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six", "jmespath")

# Imports of trimmed modules that stay in the artifact: each inside a feature that aiflow's
# resolver (aiflow/lambda_/http.py) never turns on. A new one fails the test: check that it
# is as unreachable, then add it here, or stop trimming the module it needs.
FEATURE_GATED = {
    ("aiflow.outbound.dialer", "Dialer.__call__"): "the dialer function (it ships the utility)",
    (
        "pydantic._internal._generate_schema",
        "GenerateSchema._generate_schema_from_get_schema_method",
    ): "pydantic v1-style custom types (__get_validators__)",
    ("aws_lambda_powertools.event_handler.api_gateway", "Route._build_middleware_stack"): (
        "enable_validation"
    ),
    ("aws_lambda_powertools.event_handler.api_gateway", "Route.call_async"): "async routes",
    ("aws_lambda_powertools.event_handler.api_gateway", "Route.dependant"): "OpenAPI, Depends()",
    ("aws_lambda_powertools.event_handler.api_gateway", "Route.body_field"): "enable_validation",
    ("aws_lambda_powertools.event_handler.api_gateway", "Route._get_openapi_path"): "OpenAPI",
    ("aws_lambda_powertools.event_handler.api_gateway", "ApiGatewayResolver.__init__"): (
        "enable_validation"
    ),
    ("aws_lambda_powertools.event_handler.api_gateway", "ApiGatewayResolver.get_openapi_schema"): (
        "OpenAPI"
    ),
    (
        "aws_lambda_powertools.event_handler.api_gateway",
        "ApiGatewayResolver._get_openapi_servers",
    ): "OpenAPI",
    ("aws_lambda_powertools.event_handler.api_gateway", "ApiGatewayResolver.enable_swagger"): (
        "Swagger UI"
    ),
    (
        "aws_lambda_powertools.event_handler.api_gateway",
        "ApiGatewayResolver._get_fields_from_routes",
    ): "OpenAPI",
    ("aws_lambda_powertools.event_handler.openapi.compat", "is_scalar_field"): (
        "enable_validation, Depends() (its only callers are trimmed)"
    ),
    ("aws_lambda_powertools.event_handler.openapi.merge", "OpenAPIMerge.get_openapi_json_schema"): (
        "OpenAPI"
    ),
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("make"), reason="needs make"),
]


# --- building --------------------------------------------------------------------------------


def pip() -> str:
    return f"{sys.executable} -m pip"


@pytest.fixture(scope="module")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless pip can download a Lambda wheel (the recipe needs the package index)."""
    target = tmp_path_factory.mktemp("index-probe")
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        + ["--platform", "manylinux2014_aarch64", "--python-version", "3.12"]
        + ["--implementation", "cp", "--dest", str(target), "annotated-types==0.8.0"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"the package index cannot be reached: {probe.stderr.strip()[-300:]}")


def build(target: Path, **variables: str) -> str:
    """Run the webhook's makefile recipe into ``target``; returns its output."""
    command = ["make", "-f", str(MAKEFILE), "build-WebhookFunction", f"ARTIFACTS_DIR={target}"]
    command += [f"LAMBDA_PIP={pip()}", *(f"{k}={v}" for k, v in variables.items())]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def lambda_build(package_index: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    target = tmp_path_factory.mktemp("lambda") / "WebhookFunction"
    return target, build(target)


@pytest.fixture(scope="module")
def native_artifact(package_index: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if sys.platform != "linux":
        pytest.skip("the artifact for this machine needs manylinux wheels (a Linux host)")
    target = tmp_path_factory.mktemp("native") / "WebhookFunction"
    build(
        target,
        LAMBDA_PLATFORM=f"manylinux2014_{platform.machine()}",
        LAMBDA_PYTHON_VERSION=f"{sys.version_info.major}.{sys.version_info.minor}",
        BYTECODE_PYTHON=sys.executable,
    )
    return target


def trimmed_paths() -> list[str]:
    listed = subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), "trimmed-paths"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def zipped_size(root: Path, archive: Path) -> int:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(root))
    return archive.stat().st_size


# --- the Lambda artifact ---------------------------------------------------------------------


def test_the_lambda_artifact_zips_to_at_most_5_mb(
    lambda_build: tuple[Path, str], tmp_path: Path
) -> None:
    artifact, _ = lambda_build
    size = zipped_size(artifact, tmp_path / "webhook.zip")
    print(f"WebhookFunction: {size} bytes zipped", file=sys.stderr)
    assert size <= MAX_ZIP_BYTES, f"{size} bytes zipped"
    assert (artifact / "pydantic_core").is_dir() and (artifact / "aws_lambda_powertools").is_dir()


def test_the_trimmed_paths_are_gone_and_the_rest_stays(lambda_build: tuple[Path, str]) -> None:
    artifact, _ = lambda_build
    paths = trimmed_paths()
    assert "aws_lambda_powertools/utilities/idempotency" in paths
    assert "pydantic/v1" in paths
    for path in paths:
        assert not list(artifact.glob(path)), path
    for kept in (
        "aws_lambda_powertools/utilities/parameters/secrets.py",
        "aws_lambda_powertools/utilities/data_classes/api_gateway_proxy_event.py",
        "aws_lambda_powertools/event_handler/openapi/compat.py",
        "aws_lambda_powertools/metrics/provider/cloudwatch_emf/cloudwatch.py",
        "tzdata/zoneinfo/Europe/Berlin",
        "pydantic_core-2.50.4.dist-info/METADATA",
    ):
        found = list(artifact.glob(kept.replace("2.50.4", "*")))
        assert found, kept


def test_each_distribution_keeps_the_metadata_importlib_reads_without_its_description(
    lambda_build: tuple[Path, str],
) -> None:
    import importlib.metadata

    artifact, _ = lambda_build
    shipped = {
        d.metadata["Name"]: d for d in importlib.metadata.distributions(path=[str(artifact)])
    }
    assert {"pydantic", "pydantic_core", "aws_lambda_powertools", "tzdata"} <= {
        name.replace("-", "_") for name in shipped
    }
    for name, dist in shipped.items():
        assert dist.version and dist.metadata["Metadata-Version"], name
        assert dist.metadata.get_payload() == "", f"{name}: description left in METADATA"
    pydantic = shipped["pydantic"]
    assert pydantic.version == pydantic.metadata["Version"]
    assert any(r.startswith("pydantic-core==") for r in pydantic.requires or [])
    assert pydantic.metadata["Summary"] == "Data validation using Python type hints"


def test_every_shipped_module_keeps_its_bytecode(lambda_build: tuple[Path, str]) -> None:
    artifact, output = lambda_build
    if "compiling bytecode with" not in output:
        pytest.skip("no Python 3.12 here: the recipe ships without bytecode (it says so)")
    missing = []
    for source in artifact.rglob("*.py"):
        relative = source.relative_to(artifact).as_posix()
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not compiled.is_file():
            missing.append(relative)
    assert not missing, missing[:20]


# --- the artifact answers a call -------------------------------------------------------------


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """DynamoDB and Secrets Manager of a moto server on loopback, as the function's env."""
    with EmbeddedDynamoDB(prefix="artifact-") as db:
        import boto3

        secrets = boto3.client(
            "secretsmanager",
            endpoint_url=db.endpoint_url,
            region_name=db.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        secret = secrets.create_secret(Name="artifact-token", SecretString=SAMPLE_TOKEN)
        yield {
            "AWS_ENDPOINT_URL": db.endpoint_url,
            "AWS_DEFAULT_REGION": db.region,
            "AWS_REGION": db.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AIFLOW_TABLE_NAME": db.table_name(),
            "AIFLOW_TOKEN_SECRET": secret["ARN"],
        }


def lambda_runtime(target: Path) -> Path:
    """A folder with what the Lambda Python runtime ships besides the standard library."""
    import importlib

    target.mkdir()
    for name in RUNTIME_PACKAGES:
        module = importlib.import_module(name)
        origin = Path(module.__file__ or "")
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)
    return target


def test_the_trimmed_artifact_answers_a_whole_call(
    native_artifact: Path, aws: dict[str, str], tmp_path: Path
) -> None:
    runtime = lambda_runtime(tmp_path / "runtime")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "aiflow-artifact-test",
        "AIFLOW_ASSISTANT": "receptionist.app:assistant",
        "AIFLOW_API_TOKEN": "",
        "AIFLOW_TOKEN_CACHE_SECONDS": "300",
        "AIFLOW_TURN_BUDGET_MS": "2500",
        "AIFLOW_LOG_REDACT": "true",
        "POWERTOOLS_SERVICE_NAME": "aiflow",
        "POWERTOOLS_METRICS_NAMESPACE": "AiFlow",
        **aws,
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(PROBE), str(native_artifact), str(runtime), str(EVENTS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    statuses = {a["event"]: a["status"] for a in probe["answers"]}
    first = probe["answers"][0]
    assert first["event"] == "session_start" and first["status"] == 200
    assert '"speak"' in first["body"]
    assert statuses["session_end"] == 204
    assert statuses["wrong token"] == 401
    assert statuses["not JSON"] == 400
    assert statuses["other route"] == 404
    calls = [a for a in probe["answers"] if a["event"] not in ("wrong token", "not JSON")]
    assert all(a["status"] in (200, 204) for a in calls[:-1]), probe["answers"]
    assert probe["entry_points"] == {"worker": True, "websocket": True}
    assert probe["elsewhere"] == []


# --- what is left imports nothing trimmed ---------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> Iterator[tuple[str, str]]:
    """(imported module or name, where) for every import in ``path``; where is ``top``,
    ``TYPE_CHECKING`` or the qualified name of the enclosing function."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

    def walk(node: ast.AST, where: str, scope: str) -> Iterator[tuple[str, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.body:
                    yield from walk_one(sub, "TYPE_CHECKING", scope)
                for sub in child.orelse:
                    yield from walk_one(sub, where, scope)
            else:
                yield from walk_one(child, where, scope)

    def walk_one(child: ast.AST, where: str, scope: str) -> Iterator[tuple[str, str]]:
        if isinstance(child, ast.ClassDef):
            yield from walk(child, where, f"{scope}{child.name}.")
            return
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = f"{scope}{child.name}"
            yield from walk(child, where if where == "TYPE_CHECKING" else inner, inner + ".")
            return
        if isinstance(child, ast.Import):
            for alias in child.names:
                yield alias.name, where
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                up = package.split(".")[: len(package.split(".")) - child.level + 1]
                base = ".".join(up + ([base] if base else []))
            yield base, where
            for alias in child.names:
                yield f"{base}.{alias.name}", where
        yield from walk(child, where, scope)

    yield from walk(tree, "top", "")


def test_nothing_left_imports_a_trimmed_module_outside_unused_features(
    native_artifact: Path,
) -> None:
    trimmed = {
        path.removesuffix(".py").replace("/", ".")
        for path in trimmed_paths()
        if not path.startswith("*")
    }

    def is_trimmed(name: str) -> bool:
        return any(name == t or name.startswith(t + ".") for t in trimmed)

    found: dict[tuple[str, str], set[str]] = {}
    for path in native_artifact.rglob("*.py"):
        for name, where in imports_of(path, native_artifact):
            if is_trimmed(name) and where != "TYPE_CHECKING":
                found.setdefault((module_name(path, native_artifact), where), set()).add(name)
    at_module_level = {k: v for k, v in found.items() if k[1] == "top"}
    assert not at_module_level, at_module_level
    unexplained = {k: sorted(v) for k, v in found.items() if k not in FEATURE_GATED}
    assert not unexplained, unexplained
