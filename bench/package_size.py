"""Section 4 of the benchmark: the deployment package of every function under .aws-sam/build/,
with its size per top-level package (zipped and unzipped)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from report import heading, kb, mb, table

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / ".aws-sam" / "build"
FORBIDDEN_IN_PACKAGE = ("boto3", "botocore", "aws_xray_sdk", "s3transfer")


ZIP_TARGET_BYTES = 5_000_000  # 5 MB (decimal; stricter than 5 MiB)
WEBHOOK = "WebhookFunction"


def package(build: bool) -> dict[str, Any]:
    heading("4. Deployment package")
    if build:
        print("  running `make build` ...")
        proc = subprocess.run(["make", "build"], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  make build failed ({proc.returncode}):")
            print("\n".join("    " + line for line in proc.stderr.strip().splitlines()[-15:]))
    functions = sorted(p for p in BUILD_DIR.glob("*") if p.is_dir()) if BUILD_DIR.exists() else []
    with tempfile.TemporaryDirectory(prefix="aiflow-bench-build-") as scratch:
        if functions:
            print(f"  sam build output: {BUILD_DIR.relative_to(ROOT)}/ (rebuild: --build)")
        else:
            recipe = _build_recipe(Path(scratch) / WEBHOOK)
            if recipe is None:
                return {"built": False}
            functions = [recipe]
        return _measure(functions)


def _build_recipe(target: Path) -> Path | None:
    """No sam build output: build the webhook with functions/Makefile alone (what `sam
    build` runs for it; pip downloads the Lambda platform's wheels)."""
    command = [
        "make",
        "-s",
        "-f",
        "functions/Makefile",
        f"build-{WEBHOOK}",
        f"ARTIFACTS_DIR={target}",
        f"LAMBDA_PIP={sys.executable} -m pip",
    ]
    print(f"  no {BUILD_DIR.relative_to(ROOT)}/: building with the makefile recipe alone:")
    print(f"    {' '.join(command[:5])} ARTIFACTS_DIR=<tmp>")
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  the recipe failed ({proc.returncode}); run `make build` or pass --build:")
        print("\n".join("    " + line for line in proc.stderr.strip().splitlines()[-10:]))
        return None
    return target


def package_name(path: str) -> str:
    """The top-level package a file of the artifact belongs to."""
    first = path.split("/", 1)[0]
    if first.endswith(".dist-info"):
        return "*.dist-info (metadata)"
    if first == "__pycache__":  # bytecode of a top-level module, e.g. typing_extensions
        first = path.split("/")[1]
    return first.split(".", 1)[0]


def zip_sizes(root: Path) -> tuple[int, dict[str, list[int]]]:
    """The archive size with deflate (as sam zips) and, per top-level package, its files'
    unzipped bytes and their share of the archive (compressed data plus zip headers)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    per_package: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "artifact.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, p.relative_to(root))
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                entry = per_package.setdefault(package_name(info.filename), [0, 0])
                entry[0] += info.file_size
                # local header (30) + central directory entry (46), each with the name
                entry[1] += info.compress_size + 76 + 2 * len(info.filename.encode())
        return archive.stat().st_size, per_package


def _measure(functions: list[Path]) -> dict[str, Any]:
    results: dict[str, Any] = {"built": True, "functions": {}}
    rows = []
    for fn in functions:
        files = [p for p in fn.rglob("*") if p.is_file()]
        unzipped = sum(p.stat().st_size for p in files)
        zipped, per_package = zip_sizes(fn)
        top = {p.relative_to(fn).parts[0] for p in files}
        forbidden = sorted(
            name for name in top if name.split("-")[0].lower() in FORBIDDEN_IN_PACKAGE
        )
        pyc = sum(1 for p in files if p.suffix == ".pyc")
        listed = ", ".join(forbidden) or "none"
        rows.append([fn.name, len(files), pyc, mb(unzipped), mb(zipped), listed])
        results["functions"][fn.name] = {
            "files": len(files),
            "pyc": pyc,
            "unzipped_bytes": unzipped,
            "zipped_bytes": zipped,
            "forbidden": forbidden,
            "packages": {
                name: {"unzipped_bytes": u, "zipped_bytes": z}
                for name, (u, z) in per_package.items()
            },
        }
    headers = ["function", "files", ".pyc", "unzipped", "zipped (deflate)", "boto3/botocore/xray"]
    print(table(headers, rows))
    webhook = results["functions"].get(WEBHOOK) or next(iter(results["functions"].values()))
    packages = sorted(webhook["packages"].items(), key=lambda kv: -kv[1]["zipped_bytes"])
    rows = [
        [name, kb(sizes["unzipped_bytes"]), kb(sizes["zipped_bytes"])] for name, sizes in packages
    ]
    rows.append(["total", kb(webhook["unzipped_bytes"]), kb(webhook["zipped_bytes"])])
    print()
    print(f"  {WEBHOOK} per top-level package (kB; zipped = its share of the archive):")
    print(table(["package", "unzipped", "zipped"], rows))
    return results
