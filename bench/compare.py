"""The first answer of the deployed webhook from two trees of ``functions/``, interleaved: how
many ms of CPU a change saves (bench/README.md, "What each saved millisecond came from").

    python bench/compare.py BEFORE AFTER [--runs N] [--env NAME=VALUE ...] [--env-after ...]

BEFORE and AFTER are git revisions (their ``functions/`` is exported with ``git archive``) or
directories holding an ``aiflow`` package. Each run is a fresh interpreter with the webhook
function's environment answering one ``session_start`` against the moto server of section
1a, exactly as ``firstanswer_child.py`` does for section 1a; the receptionist's YAML is
compiled by each tree's own code, as its build would. ``--env`` sets a variable for both
sides, ``--env-after`` for AFTER only (e.g. ``_HANDLER=lambda_function.handler`` runs the
same tree with the garbage collector running throughout). Prints the CPU medians (ms) and
AFTER - BEFORE with a 95% interval of the difference of medians (bootstrap).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from benchlib import DEPLOYED_ENTRY, child_env  # noqa: E402
from firstanswer import moto_server, session_start_event  # noqa: E402


def tree(spec: str, workdir: Path) -> Path:
    """A directory with the ``functions/`` of ``spec`` (a directory, or a git revision)."""
    path = Path(spec)
    if (path / "aiflow").is_dir():
        return path.resolve()
    target = workdir / spec.replace("/", "_")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", spec, "functions"],
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryFile() as raw:
        raw.write(archive)
        raw.seek(0)
        with tarfile.open(fileobj=raw) as tar:
            tar.extractall(target, filter="data")
    return target / "functions"


def compiled_config(functions: Path, workdir: Path) -> dict[str, str]:
    """``RECEPTIONIST_CONFIG`` for a copy of the tree's YAML compiled by the tree's code."""
    source = functions / "receptionist" / "receptionist.yaml"
    if not source.exists():
        return {}
    target = Path(tempfile.mkdtemp(dir=workdir)) / "receptionist.yaml"
    shutil.copy(source, target)
    code = "import sys; from receptionist.config import compile_config; compile_config(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", code, str(target)],
        env={**child_env(), "PYTHONPATH": str(functions)},
        check=True,
        capture_output=True,
    )
    return {"RECEPTIONIST_CONFIG": str(target)}


def answer(env: dict[str, str], workdir: Path) -> float:
    """CPU ms of one fresh interpreter up to the answer written (firstanswer_child.py)."""
    event_file = workdir / "event.json"
    event_file.write_text(json.dumps(session_start_event()), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "firstanswer_child.py", DEPLOYED_ENTRY, str(event_file)],
        cwd=BENCH,
        env={**env, "BENCH_SPAWN_NS": str(time.monotonic_ns())},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or '"statusCode": 200' not in proc.stdout:
        raise RuntimeError(f"no answer:\n{proc.stderr[-3000:]}\n{proc.stdout[-1000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_ANSWERED "):
            return float(json.loads(line.split(" ", 1)[1])["answered_cpu_ns"]) / 1e6
    raise RuntimeError("the child did not report its CPU time")


def interval(before: list[float], after: list[float], rounds: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of median(after) - median(before)."""
    rng = random.Random(1)
    diffs = sorted(
        statistics.median(rng.choices(after, k=len(after)))
        - statistics.median(rng.choices(before, k=len(before)))
        for _ in range(rounds)
    )
    return diffs[int(rounds * 0.025)], diffs[int(rounds * 0.975)]


def parse_env(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="git revision or directory with aiflow/")
    parser.add_argument("after", help="git revision or directory with aiflow/")
    parser.add_argument("--runs", type=int, default=31, help="answers per side (default 31)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--env-after", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiflow-compare-") as tmp, moto_server() as moto:
        workdir = Path(tmp)
        sides = {}
        for name, spec in (("before", args.before), ("after", args.after)):
            functions = tree(spec, workdir)
            env = {**child_env(), **moto, **compiled_config(functions, workdir)}
            env.update({"PYTHONPATH": str(functions), **parse_env(args.env)})
            if name == "after":
                env.update(parse_env(args.env_after))
            sides[name] = env
        for env in sides.values():  # warm-up, discarded: .pyc files, page cache
            answer(env, workdir)
        cpu: dict[str, list[float]] = {"before": [], "after": []}
        for i in range(args.runs):
            for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
                cpu[name].append(answer(sides[name], workdir))
    before, after = statistics.median(cpu["before"]), statistics.median(cpu["after"])
    low, high = interval(cpu["before"], cpu["after"])
    print(f"first answer, CPU ms (median of {args.runs} each, interleaved):")
    print(f"  before {args.before}: {before:.1f}")
    print(f"  after  {args.after}: {after:.1f}")
    print(f"  after - before: {after - before:+.1f} ms (95% interval {low:+.1f} .. {high:+.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
