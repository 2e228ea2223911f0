"""Section 3b of the benchmark: DynamoDB capacity units per event of the reference call.

The deployed receptionist (``receptionist.app.assistant``) answers the reference call of
bench/reference_call.py through the Lambda handler, with the call store on moto's DynamoDB
(in-process, the table of template.yaml). A botocore event hook on the store's client adds
``ReturnConsumedCapacity="TOTAL"`` to every request and reads ``ConsumedCapacity`` from
the answer, without touching aiflow. moto answers with a constant per request (1.0 for
writes, 0.5 or 1.0 for reads) whatever the item size, so the units printed are computed
from the item sizes with DynamoDB's documented rules (see :func:`item_size`):

- a write (PutItem, UpdateItem, DeleteItem) costs 1 write unit per started KB (1,024 bytes)
  of the larger of the item before and after it (DeleteItem: the deleted item), at least 1;
- a strongly consistent read (GetItem) costs 1 read unit per started 4 KB of the whole
  item (a projection does not reduce it), at least 1; an eventually consistent read half.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from benchlib import REGION, TOKEN, FakeContext, http_event
from reference_call import (
    QUESTIONS,
    assistant_speak,
    assistant_speech_ended,
    other_events,
    session,
    spoken_text,
    user_speak,
)
from report import heading, table
from warm import make_tables, quiet, set_aws_env

TURNS = (1, 10, 100)
WCU_TARGET = 4  # write units per event at turn 100
WRITE_OPS = ("PutItem", "UpdateItem", "DeleteItem")
TURN_EVENTS = ("user_speak", "assistant_speak", "assistant_speech_ended")
PROBED = ("dtmf_received", "user_input_timeout", "session_end")


# --- DynamoDB's sizing rules ----------------------------------------------------------------


def number_size(text: str) -> int:
    """Bytes of a number: 1 per two significant digits, plus 1."""
    digits = format(abs(Decimal(text)).normalize(), "f").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one typed attribute value (``{"S": "..."}``, ``{"M": {...}}``, ...)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(x.encode()) for x in v)
    if kind == "NS":
        return sum(number_size(x) for x in v)
    if kind == "BS":
        return sum(len(x) for x in v)
    if kind == "L":  # 3 bytes, plus 1 per element
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(x) for k, x in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Bytes of an item as DynamoDB counts them: attribute names plus values."""
    return sum(len(name.encode()) + value_size(v) for name, v in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# --- the meter ----------------------------------------------------------------------------


class CapacityMeter:
    """Sees every DynamoDB request of one client through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.*", self._ask_for_capacity)
        events.register("after-call.dynamodb.*", self._record)
        self._pending: dict[str, Any] = {}

    def _ask_for_capacity(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "TOTAL"
        self._pending = params

    def _record(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or {}
        self.calls.append(
            {
                "op": model.name,
                "params": self._pending,
                "reported": consumed.get("CapacityUnits"),
            }
        )

    def take(self) -> list[dict[str, Any]]:
        taken, self.calls = self.calls, []
        return taken


def units(calls: list[dict[str, Any]], before: int, after: int) -> tuple[int, float]:
    """Write and read units of one event's requests, from the item sizes around it."""
    wcu, rcu = 0, 0.0
    size = before
    for call in calls:
        op = call["op"]
        if op == "GetItem":
            rcu += read_units(size, bool(call["params"].get("ConsistentRead")))
        elif op == "PutItem":
            new = item_size(call["params"].get("Item"))
            wcu += write_units(max(size, new))
            size = new
        elif op == "UpdateItem":
            wcu += write_units(max(size, after))
            size = after
        elif op == "DeleteItem":
            wcu += write_units(size)
            size = 0
    return wcu, rcu


# --- the section --------------------------------------------------------------------------


def capacity(turns: tuple[int, ...] = TURNS) -> dict[str, Any]:
    heading(f"3b. DynamoDB capacity per event: the reference call, {max(turns)} turns")
    set_aws_env()
    import boto3
    from moto import mock_aws

    from aiflow.lambda_ import Settings, lambda_handler
    from aiflow.store.dynamodb import DynamoDBStore

    with quiet():
        from receptionist.app import assistant

    measured: dict[int, dict[str, dict[str, Any]]] = {t: {} for t in turns}
    reported: set[Any] = set()
    answers: list[int] = []
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        raw = boto3.client("dynamodb", region_name=REGION)  # the benchmark's own reads
        table_name, _ = make_tables(client)
        meter = CapacityMeter(client)
        store = DynamoDBStore(table_name, client=client)
        settings = Settings(turn_budget_ms=2500, redact_logs=True)
        session_id = str(uuid.uuid4())
        key = {"session_id": {"S": session_id}}

        def current() -> dict[str, Any] | None:
            item = raw.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item")
            return dict(item) if item else None

        with quiet():
            handler = lambda_handler(assistant, store=store, token=TOKEN, settings=settings)

            def post(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
                before = item_size(current())
                meter.take()
                response = handler(http_event(body), FakeContext())
                calls = meter.take()
                after = item_size(current())
                wcu, rcu = units(calls, before, after)
                reported.update(c["reported"] for c in calls)
                reply = json.loads(response["body"]) if response.get("body") else None
                ops = ", ".join(c["op"] for c in calls) or "-"
                return reply, {"wcu": wcu, "rcu": rcu, "item_bytes": after, "ops": ops}

            def probe(body: dict[str, Any]) -> dict[str, Any]:
                """An event measured at this point of the call, then undone."""
                saved = current()
                _, cost = post(body)
                if saved is not None:
                    raw.put_item(TableName=table_name, Item=saved)
                return cost

            _, cost = post({"type": "session_start", "session": session(session_id)})
            measured[turns[0]]["session_start"] = cost
            for turn in range(1, max(turns) + 1):
                costs: dict[str, dict[str, Any]] = {}
                reply, costs["user_speak"] = post(user_speak(turn, session_id))
                answer = spoken_text(reply)
                answers.append(len(answer))
                if answer:
                    _, costs["assistant_speak"] = post(assistant_speak(answer, session_id))
                    _, costs["assistant_speech_ended"] = post(assistant_speech_ended(session_id))
                if turn in measured:
                    measured[turn].update(costs)
                    for kind, body in other_events(session_id).items():
                        measured[turn][kind] = probe(body)
    return _report(measured, turns, answers, reported)


def _report(
    measured: dict[int, dict[str, dict[str, Any]]],
    turns: tuple[int, ...],
    answers: list[int],
    reported: set[Any],
) -> dict[str, Any]:
    caller = [len(q) for q in QUESTIONS]
    print(
        "  the deployed receptionist answers one question per turn (bench/reference_call.py):"
        f"\n  caller sentences {min(caller)}-{max(caller)} characters, answers"
        f" {min(answers)}-{max(answers)} (mean {sum(answers) / len(answers):.0f}); each turn is"
        "\n  user_speak, assistant_speak, assistant_speech_ended. dtmf_received,"
        " user_input_timeout and\n  session_end are probed at the measured turns (sent, measured,"
        " then the item is restored)."
    )
    print(
        f"  moto reports a constant ConsumedCapacity per request ({_reported(reported)}),"
        " whatever the\n  item size, so the units are computed from the item sizes by"
        " DynamoDB's rules (capacity.py)."
    )
    print()
    order = ("session_start", *TURN_EVENTS, *PROBED)
    headers = ["event type at turn"]
    for t in turns:
        headers += [f"{t}: WCU", "RCU", "bytes"]
    rows = []
    for kind in order:
        row: list[Any] = [kind + (" (probe)" if kind in PROBED else "")]
        for t in turns:
            cost = measured[t].get(kind)
            row += [cost["wcu"], f"{cost['rcu']:g}", cost["item_bytes"]] if cost else ["", "", ""]
        rows.append(row)
    print(table(headers, rows))
    print("  bytes: the item's size after the event (DynamoDB's count: names and values).")
    last = max(turns)
    worst_kind, worst = max(measured[last].items(), key=lambda kv: kv[1]["wcu"])
    ok = worst["wcu"] <= WCU_TARGET
    print(
        f"  [{'PASS' if ok else 'FAIL'}] write units per event at turn {last}: max {worst['wcu']}"
        f" ({worst_kind}) <= {WCU_TARGET}"
    )
    return {
        "turns": {str(t): measured[t] for t in turns},
        "last_turn": last,
        "max_wcu_last_turn": {"event": worst_kind, **worst},
        "target_wcu": WCU_TARGET,
        "units_computed_from_item_sizes": True,
        "moto_reported_units": sorted(str(r) for r in reported),
        "answer_chars": {"min": min(answers), "max": max(answers)},
    }


def _reported(values: set[Any]) -> str:
    shown = sorted(str(v) for v in values if v is not None)
    return ", ".join(shown) or "none"
