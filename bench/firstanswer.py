"""Section 1a of the benchmark: the first answer of a cold Lambda, ours next to hand-written
webhooks on the same stack (bench/README.md).

A moto server in its own process (started once) plays DynamoDB and Secrets Manager on
loopback with the table of ``template.yaml`` and the token secret. Every run is a fresh
interpreter (``firstanswer_child.py``) with the webhook function's environment, answering
one ``session_start`` as in ``infra/events/session_start.json``.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchlib import REGION, TOKEN, TOKEN_SECRET, child_env, http_event, session
from report import heading, ms, table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
SAMPLE_EVENT = ROOT / "infra" / "events" / "session_start.json"
TEMPLATE = ROOT / "template.yaml"
FIRST_ANSWER_TARGET = 1.05  # CPU, ours/lean, the middle of three block medians

# name -> (module:attribute of the handler, environment changes, label). "ours" holds the
# garbage collector during init as deployed (aiflow.lambda_.gchold: the runtime's _HANDLER is
# aiflow's entry point); "lean+gc" is the lean webhook with the same hold written by hand
# (bench/lean_gc_app.py); "ours-gc" is ours with the collector running throughout, as for a
# handler module of your own (another _HANDLER), next to "lean" as written.
VARIANTS: dict[str, tuple[str, dict[str, str], str]] = {
    "ours": ("aiflow.lambda_.main:webhook", {}, "ours: aiflow.lambda_.main:webhook"),
    "lean+gc": ("lean_gc_app:handler", {}, "lean+gc: bench/lean_gc_app.py"),
    "ours-gc": (
        "aiflow.lambda_.main:webhook",
        {"_HANDLER": "lambda_function.handler"},
        "ours-gc: the same, collector running",
    ),
    "lean": ("lean_app:handler", {}, "lean: bench/lean_app.py"),
    "plain": ("plain_app:handler", {}, "plain: bench/plain_app.py"),
}
# The ratios printed (numerator, denominator); the first is the headline: both sides hold
# the collector during init, so neither gets a trick the other lacks.
RATIOS = (("ours", "lean+gc"), ("ours-gc", "lean"), ("ours", "lean"), ("plain", "lean"))
# Whose module bodies count as handler construction in the per-phase table.
CONSTRUCTION = {"lean_gc_app": "lean_gc_app,lean_app"}


# --- the moto server --------------------------------------------------------------------------


@contextlib.contextmanager
def moto_server() -> Iterator[dict[str, str]]:
    """moto's server in a child process on a free loopback port, with the table of
    template.yaml and the token secret; yields the environment that points boto3 at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [PY, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        table_name = _provision(endpoint)
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AIFLOW_TABLE_NAME": table_name,
            "BENCH_MOTO_ENDPOINT": endpoint,
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def _provision(endpoint: str) -> str:
    import boto3

    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    client = boto3.client("dynamodb", **options)
    try:
        from aiflow.local.template import create_tables

        table_name = str(create_tables(client, TEMPLATE)["CallsTable"])
    except ImportError:  # the benchmark of an older tree: the same key schema by hand
        table_name = "aiflow-bench-calls"
        client.create_table(
            TableName=table_name,
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    boto3.client("secretsmanager", **options).create_secret(Name=TOKEN_SECRET, SecretString=TOKEN)
    return table_name


# --- one run ----------------------------------------------------------------------------------


def session_start_event() -> dict[str, Any]:
    """``infra/events/session_start.json`` for a new call, with the secret's token."""
    if not SAMPLE_EVENT.exists():
        return http_event({"type": "session_start", "session": session()})
    event = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    body = json.loads(event["body"])
    body["session"]["id"] = str(uuid.uuid4())
    event["body"] = json.dumps(body, separators=(",", ":"))
    headers = event["headers"]
    headers["x-api-token"] = TOKEN
    headers["content-length"] = str(len(event["body"].encode()))
    now = time.time()
    event["requestContext"]["requestId"] = uuid.uuid4().hex[:16]
    event["requestContext"]["timeEpoch"] = int(now * 1000)
    return event


def run_once(variant: str, env: dict[str, str], workdir: Path, phases: bool) -> dict[str, Any]:
    """One fresh interpreter answering one session_start: wall time from the spawn to the
    answer written, the child's CPU time until then (ms)."""
    event_file = workdir / f"event-{uuid.uuid4().hex}.json"
    event_file.write_text(json.dumps(session_start_event()), encoding="utf-8")
    spec, extra_env, _ = VARIANTS[variant]
    args = [PY, "firstanswer_child.py", spec, str(event_file)]
    if phases:
        args.append("--phases")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned = time.monotonic_ns()
    proc = subprocess.run(
        args,
        cwd=BENCH,
        env={
            **env,
            **extra_env,
            "BENCH_SPAWN_NS": str(spawned),
            "BENCH_CONSTRUCTION": CONSTRUCTION.get(spec.partition(":")[0], ""),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    wall = (time.monotonic_ns() - spawned) / 1e6
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    event_file.unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    # The child's own clocks when the answer was out; the process's total (its teardown
    # included, which a Lambda cold start never pays) is kept for reference.
    result: dict[str, Any] = {"wall_with_exit": wall, "cpu_with_exit": cpu}
    for line in proc.stdout.splitlines():
        marker, _, payload = line.partition(" ")
        if marker == "BENCH_ANSWER":
            answer = json.loads(payload)
            result["status"] = answer.get("statusCode")
            result["speaks"] = '"speak"' in (answer.get("body") or "")
        elif marker == "BENCH_ANSWERED":
            answered = json.loads(payload)
            result["wall"] = (answered["answered_ns"] - spawned) / 1e6
            result["cpu"] = answered["answered_cpu_ns"] / 1e6
        elif marker == "BENCH_PHASES":
            result.update(json.loads(payload))
    if result.get("status") != 200 or not result.get("speaks"):
        raise RuntimeError(f"{variant} did not greet: {proc.stdout[-2000:]}")
    return result


# --- the section ------------------------------------------------------------------------------


def first_answer(ours: str, runs: int, blocks: int, phase_runs: int) -> dict[str, Any]:
    """Section 1a: ``blocks`` x ``runs`` interleaved first answers per app, then
    ``phase_runs`` probed ones of the headline pair for the per-phase table."""
    for name in ("ours", "ours-gc"):
        _, extra_env, label = VARIANTS[name]
        VARIANTS[name] = (ours, extra_env, label.replace("aiflow.lambda_.main:webhook", ours))
    heading(
        f"1a. First answer: a cold start up to the greeting ({blocks} blocks x {runs}"
        " fresh interpreters per app, interleaved)"
    )
    names = list(VARIANTS)
    with moto_server() as moto_env, tempfile.TemporaryDirectory(prefix="aiflow-bench-") as tmp:
        env = {**child_env(), **moto_env}
        workdir = Path(tmp)
        print(f"  python: {PY}")
        endpoint = moto_env["BENCH_MOTO_ENDPOINT"]
        print(f"  DynamoDB + Secrets Manager: a moto server in its own process at {endpoint}")
        print("  (table from template.yaml, the token in a secret, as deployed); env: the webhook")
        print("  function's variables of template.yaml + the Lambda runtime's; event: a")
        print("  session_start as in infra/events/session_start.json (API Gateway HTTP API v2).")
        print("  ours and lean+gc hold the garbage collector during init (aiflow does in Lambda,")
        print("  lean_gc_app.py by hand); ours-gc and lean let it run throughout.")
        for name in names:  # warm-up round, discarded: .pyc files, page cache, moto's models
            run_once(name, env, workdir, phases=False)
        block_data: list[dict[str, dict[str, list[float]]]] = []
        for _ in range(blocks):
            data: dict[str, dict[str, list[float]]] = {n: defaultdict(list) for n in names}
            for i in range(runs):
                shift = i % len(names)
                for name in names[shift:] + names[:shift]:
                    result = run_once(name, env, workdir, phases=False)
                    data[name]["cpu"].append(result["cpu"])
                    data[name]["wall"].append(result["wall"])
            block_data.append(data)
        mine, theirs = RATIOS[0]
        phase_data: dict[str, list[dict[str, Any]]] = {mine: [], theirs: []}
        for i in range(phase_runs):
            for name in [mine, theirs] if i % 2 == 0 else [theirs, mine]:
                phase_data[name].append(run_once(name, env, workdir, phases=True))

    results = _totals(block_data, names)
    results["phases"] = _phase_table(phase_data, mine, theirs)
    results.update({"runs_per_block": runs, "blocks": blocks, "phase_runs": phase_runs})
    return results


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _totals(blocks: list[dict[str, dict[str, list[float]]]], names: list[str]) -> dict[str, Any]:
    pooled = {n: {k: [v for b in blocks for v in b[n][k]] for k in ("cpu", "wall")} for n in names}
    spread = {n: {k: _spread(v) for k, v in d.items()} for n, d in pooled.items()}
    rows: list[list[Any]] = []
    for name in names:
        s = spread[name]
        rows.append(
            [VARIANTS[name][2]]
            + [ms(s["cpu"][q]) for q in ("min", "median", "max")]
            + [ms(s["wall"][q]) for q in ("min", "median", "max")]
        )
    ratios: dict[str, dict[str, dict[str, float]]] = {}
    for top, bottom in RATIOS:
        r = ratios[f"{top}/{bottom}"] = {
            k: {q: spread[top][k][q] / spread[bottom][k][q] for q in ("min", "median", "max")}
            for k in ("cpu", "wall")
        }
        rows.append(
            [f"ratio {top}/{bottom}"]
            + [f"{r['cpu'][q]:.3f}" for q in ("min", "median", "max")]
            + [f"{r['wall'][q]:.3f}" for q in ("min", "median", "max")]
        )
    print()
    n = len(blocks) * len(blocks[0]["ours"]["cpu"])
    print(f"  ms, the whole child (interpreter start to answer written), {n} runs per app:")
    headers = ["", "cpu min", "median", "max", "wall min", "median", "max"]
    print(table(headers, rows))

    keys = [f"{top}/{bottom}" for top, bottom in RATIOS]
    per_block: list[dict[str, float]] = []
    for b in blocks:
        med = {n: {k: statistics.median(b[n][k]) for k in ("cpu", "wall")} for n in names}
        block: dict[str, float] = {}
        for (top, bottom), key in zip(RATIOS, keys, strict=True):
            block[key] = med[top]["cpu"] / med[bottom]["cpu"]
            block[f"{key} wall"] = med[top]["wall"] / med[bottom]["wall"]
        per_block.append(block)
    middle = {k: statistics.median(b[k] for b in per_block) for k in per_block[0]}
    middle_label = "middle of three medians" if len(blocks) == 3 else "median of the medians"
    rows = [
        [f"block {i + 1}", *(f"{b[k]:.3f}" for k in keys), f"{b[keys[0] + ' wall']:.3f}"]
        for i, b in enumerate(per_block)
    ]
    rows.append(
        [middle_label, *(f"{middle[k]:.3f}" for k in keys), f"{middle[keys[0] + ' wall']:.3f}"]
    )
    print()
    print("  ratio of the medians, CPU (and wall time of the headline):")
    print(table(["", *keys, f"{keys[0]} wall"], rows))
    headline = middle[keys[0]]
    ok = headline <= FIRST_ANSWER_TARGET
    print(
        f"  headline: {keys[0]} CPU {headline:.3f} (target <= {FIRST_ANSWER_TARGET}:"
        f" {'PASS' if ok else 'FAIL'}), wall {middle[keys[0] + ' wall']:.3f};"
        f" {keys[1]} CPU {middle[keys[1]]:.3f}, {keys[2]} CPU {middle[keys[2]]:.3f}"
    )
    cpu_lean = spread["lean"]["cpu"]["median"]
    if spread["lean"]["wall"]["median"] > 1.15 * cpu_lean + 10:
        print("  WARNING: wall time well above CPU time: the machine was busy; trust CPU ratios.")
    return {
        "ms": spread,
        "runs_ms": pooled,
        "ratios": ratios,
        "block_ratios": per_block,
        "headline": keys[0],
        "headline_cpu": headline,
        "headline_wall": middle[keys[0] + " wall"],
        "middle_ratios": {k: middle[k] for k in keys},
        "target_cpu": FIRST_ANSWER_TARGET,
    }


_REQUEST_ROWS = [
    ("parse", "first request: parse (routing, body, event model)"),
    ("validators", "first request: validators (lazy pydantic builds)"),
    ("token", "first request: token (Secrets Manager)"),
    ("store", "first request: store (DynamoDB)"),
    ("request-import", "first request: imports on first use"),
    ("reply", "first request: reply (handler, answer, logs, metrics)"),
    ("write answer", "answer written to stdout"),
]


def _phase_table(data: dict[str, list[dict[str, Any]]], mine: str, theirs: str) -> dict[str, Any]:
    """Median wall and CPU per phase; imports grouped by top-level package."""
    runs = len(data[mine])
    if not runs:
        return {}
    stdlib = set(sys.stdlib_module_names) | {"_frozen_importlib", "encodings"}

    def group(category: str) -> str:
        kind, _, package = category.partition(":")
        if kind == "import":
            return "import:stdlib" if package in stdlib else category
        if kind == "request-import":
            return "request-import"
        if kind == "aws":
            return "store"  # another AWS call: none in these apps; keep it visible in store
        return category

    grouped: dict[str, list[dict[str, list[float]]]] = {}
    for name, results in data.items():
        grouped[name] = []
        for result in results:
            sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            for category, (wall, cpu) in result["phases"].items():
                key = group(category)
                sums[key][0] += wall
                sums[key][1] += cpu
            grouped[name].append(dict(sums))

    def median(name: str, key: str, index: int) -> float:
        return statistics.median(r.get(key, [0.0, 0.0])[index] for r in grouped[name])

    packages = sorted(
        {k for rs in grouped.values() for r in rs for k in r if k.startswith("import:")},
        key=lambda k: -max(median(n, k, 1) for n in grouped),
    )
    shown = [k for k in packages if max(median(n, k, 1) for n in grouped) >= 1.0]
    other = [k for k in packages if k not in shown]
    rows_spec: list[tuple[str, list[str]]] = [("interpreter start-up", ["interpreter start-up"])]
    rows_spec += [(f"imports: {k.split(':', 1)[1]}", [k]) for k in shown]
    if other:
        rows_spec.append((f"imports: {len(other)} other packages", other))
    rows_spec.append(("handler construction (app module body, handler)", ["construction"]))
    rows_spec.append(("garbage collection (all phases)", ["gc"]))
    rows_spec += [(label, [key]) for key, label in _REQUEST_ROWS]
    rows_spec.append(("benchmark child (reads the event; not in Lambda)", ["bench child"]))

    out: dict[str, Any] = {}
    rows: list[list[Any]] = []
    totals = {n: [0.0, 0.0] for n in grouped}
    for label, keys in rows_spec:
        row: list[Any] = [label]
        cells: dict[str, list[float]] = {}
        for name in grouped:
            wall = sum(median(name, k, 0) for k in keys)
            cpu = sum(median(name, k, 1) for k in keys)
            cells[name] = [wall, cpu]
            totals[name][0] += wall
            totals[name][1] += cpu
            row += [ms(cpu), ms(wall)]
        row.append(f"{cells[mine][1] - cells[theirs][1]:+.1f}")
        rows.append(row)
        out[label] = cells
    rows.append(
        ["sum of the medians"]
        + [ms(v) for n in grouped for v in (totals[n][1], totals[n][0])]
        + [f"{totals[mine][1] - totals[theirs][1]:+.1f}"]
    )
    measured = {
        n: [statistics.median(r[k] for r in data[n]) for k in ("wall", "cpu")] for n in data
    }
    rows.append(
        ["whole child until the answer (median)"]
        + [ms(v) for n in grouped for v in (measured[n][1], measured[n][0])]
        + [f"{measured[mine][1] - measured[theirs][1]:+.1f}"]
    )
    print()
    print(f"  Per phase, ms (medians of {runs} further runs each with probes, see phaseprobe.py;")
    print("  exclusive time: an import inside construction counts as the import):")
    headers = ["phase", f"{mine} cpu", "wall", f"{theirs} cpu", "wall", f"cpu {mine}-{theirs}"]
    print(table(headers, rows))
    modules = {n: statistics.median(r["modules"] for r in data[n]) for n in data}
    print(
        f"  modules loaded at the answer: {mine} {modules[mine]:.0f},"
        f" {theirs} {modules[theirs]:.0f}"
    )
    lazy = _request_imports(data[mine])
    if lazy:
        print(f"  {mine} imports on the first request: {lazy}")
    return {"ms": out, "measured": measured, "modules": modules, "runs": runs}


def _request_imports(results: list[dict[str, Any]]) -> str:
    per_package: dict[str, list[float]] = defaultdict(list)
    for result in results:
        for category, (_, cpu) in result["phases"].items():
            if category.startswith("request-import:"):
                per_package[category.split(":", 1)[1]].append(cpu)
    missing = len(results)
    parts = sorted(
        ((statistics.median(v + [0.0] * (missing - len(v))), k) for k, v in per_package.items()),
        reverse=True,
    )
    return ", ".join(f"{k} {v:.1f} ms" for v, k in parts if v >= 0.1)
