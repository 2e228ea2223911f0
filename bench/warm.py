"""Sections 2 and 3 of the benchmark: warm latency per event and DynamoDB requests per event,
in-process (moto's mock, bench/hello_app.py); plus the helpers other in-process sections use.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchlib import LAMBDA_ENV, REGION, TOKEN, FakeContext, call_events, http_event
from report import heading, ms, stats, table

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
EVENT_ORDER = [
    "session_start",
    "user_speak",
    "assistant_speak",
    "assistant_speech_ended",
    "dtmf_received",
    "user_input_timeout",
    "session_end",
]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send Powertools' JSON logs and EMF metrics (stdout) to a sink, as CloudWatch would."""
    sink = io.StringIO()
    real = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream in real:
                swapped.append((handler, handler.setStream(sink)))
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)


def set_aws_env() -> None:
    for key, value in LAMBDA_ENV.items():
        if key.startswith(("AWS_", "POWERTOOLS_")) and key != "AWS_LAMBDA_FUNCTION_NAME":
            os.environ.setdefault(key, value)


def make_tables(client: Any) -> tuple[str, str]:
    """The tables of template.yaml in the (mocked) DynamoDB; returns (table name, how)."""
    try:
        from aiflow.local.template import create_tables
    except ImportError:
        create_tables = None
    if create_tables is not None and TEMPLATE.exists():
        tables = create_tables(client, TEMPLATE)
        return str(tables["CallsTable"]), "template.yaml via aiflow.local.template.create_tables"
    name = f"bench-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name, "a hand-made table (aiflow.local.template not available)"


class RequestCounter:
    """Counts boto3 DynamoDB calls per operation (before-call hooks)."""

    def __init__(self, client: Any) -> None:
        self.current: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        self.current[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> Counter[str]:
        taken, self.current = self.current, Counter()
        return taken


def drive_calls(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    calls: int,
    counter: RequestCounter | None = None,
) -> tuple[dict[str, list[float]], dict[str, Counter[str]], dict[str, list[Counter[str]]]]:
    """Run ``calls`` complete calls; latency (ms) and statuses per event type."""
    latency: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    requests: dict[str, list[Counter[str]]] = defaultdict(list)
    for _ in range(calls):
        for body in call_events(str(uuid.uuid4())):
            event = http_event(body)
            context = FakeContext()
            if counter is not None:
                counter.take()
            started = time.perf_counter()
            response = handler(event, context)
            latency[body["type"]].append((time.perf_counter() - started) * 1000)
            statuses[body["type"]][str(response["statusCode"])] += 1
            if counter is not None:
                requests[body["type"]].append(counter.take())
    return latency, statuses, requests


def warm(calls: int) -> dict[str, Any]:
    heading(
        f"2. Warm latency per event, in-process ({calls} calls of {len(call_events('x'))} events)"
    )
    set_aws_env()
    import boto3
    from hello_app import assistant
    from moto import mock_aws

    from aiflow.lambda_ import Settings, lambda_handler
    from aiflow.store import MemoryStore
    from aiflow.store.dynamodb import DynamoDBStore

    settings = Settings(turn_budget_ms=2500, redact_logs=True)
    results: dict[str, Any] = {}
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        table_name, how = make_tables(client)
        counter = RequestCounter(client)
        with quiet():
            store = DynamoDBStore(table_name, client=client)
            handler = lambda_handler(assistant, store=store, token=TOKEN, settings=settings)
            drive_calls(handler, 3)  # warm-up: lazy builds, first boto3 calls
            moto_lat, statuses, requests = drive_calls(handler, calls, counter)
    with quiet():
        handler = lambda_handler(assistant, store=MemoryStore(), token=TOKEN, settings=settings)
        drive_calls(handler, 3)
        mem_lat, _, _ = drive_calls(handler, calls)
    print("  assistant: bench/hello_app.py (a handler for every event, no model)")
    print(f"  DynamoDB: moto in-process, {how}")
    print("  ms per request through the Lambda handler (routing, token, parse, load, handler,")
    print("  save, logs, EMF metrics); MemoryStore isolates our own overhead from moto's.")
    print()
    rows = []
    for kind in EVENT_ORDER:
        m, s = stats(moto_lat[kind]), stats(mem_lat[kind])
        status = "/".join(sorted(statuses[kind]))
        rows.append(
            [kind, status, ms(m["median"], 2), ms(m["p90"], 2), ms(m["p99"], 2)]
            + [ms(s["median"], 2), ms(s["p90"], 2), ms(s["p99"], 2)]
        )
    all_moto = [v for kind in EVENT_ORDER for v in moto_lat[kind]]
    all_mem = [v for kind in EVENT_ORDER for v in mem_lat[kind]]
    a, b = stats(all_moto), stats(all_mem)
    rows.append(
        ["all events", ""]
        + [ms(a["median"], 2), ms(a["p90"], 2), ms(a["p99"], 2)]
        + [ms(b["median"], 2), ms(b["p90"], 2), ms(b["p99"], 2)]
    )
    headers = ["event type", "status", "moto p50", "p90", "p99", "memory p50", "p90", "p99"]
    print(table(headers, rows))
    results["latency_ms"] = {
        "moto": {k: stats(v) for k, v in moto_lat.items()},
        "memory": {k: stats(v) for k, v in mem_lat.items()},
    }
    results["statuses"] = {k: dict(v) for k, v in statuses.items()}

    heading("3. DynamoDB requests per event (boto3 before-call hooks)")
    print(f"  over the {calls} calls above; the max per request is what counts.")
    print()
    rows = []
    worst = 0
    per_event: dict[str, dict[str, Any]] = {}
    for kind in EVENT_ORDER:
        seen = requests[kind]
        ops = sorted({op for c in seen for op in c} | {"GetItem", "PutItem"})
        totals = [sum(c.values()) for c in seen]
        worst = max(worst, max(totals))
        row: list[Any] = [kind]
        for op in ("GetItem", "PutItem"):
            row.append(max(c[op] for c in seen))
        others = [op for op in ops if op not in ("GetItem", "PutItem")]
        row += [", ".join(others) or "-", max(totals), f"{statistics.mean(totals):.2f}"]
        rows.append(row)
        per_event[kind] = {
            "GetItem": max(c["GetItem"] for c in seen),
            "PutItem": max(c["PutItem"] for c in seen),
            "other": others,
            "max": max(totals),
            "mean": statistics.mean(totals),
        }
    print(table(["event type", "GetItem", "PutItem", "other", "max total", "mean"], rows))
    results["requests"] = per_event
    results["max_requests_per_event"] = worst
    return results
