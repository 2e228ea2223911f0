"""What a call record costs, measured on a typical call: requests, write units and bytes, with
records off and on. Run with ``-s`` to see the table (the README quotes it).

Write units are DynamoDB's rule applied to the items actually sent: one per started KB of a
``PutItem``'s item (attribute names and values), plus one for the keys-only index entry of a
finished record. The call item grows by the record (compressed with the call document), so a
recorded call costs more write units, never more requests, until its end: then one PutItem.
"""

from __future__ import annotations

import math
from typing import Any

from .conftest import Desk, front_desk

# A call of two and a half minutes at a front desk: ten caller turns, keys, a silence.
SCRIPT = [
    "Hello, I would like to know when you are open on Saturday",
    "And is there parking close to the entrance, or do I have to walk far",
    "Can I bring my dog along, she is very calm",
    "What does a first appointment cost roughly",
    "Do you take cards or only cash",
    "Could you send me the address by text message later",
    "Is the practice on the ground floor, my mother uses a wheelchair",
    "Thank you, and how long does a first appointment take",
    "Alright, I think that is all for now",
]
# Ten times as long (over twenty minutes): the history and the record reach their bounds.
LONG_SCRIPT = [f"{text} (question {n})" for n in range(10) for text in SCRIPT]


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: names plus values (numbers about one byte per two digits)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), *_ = value.items()
        if kind == "S":
            size += len(raw.encode())
        elif kind == "N":
            size += (len(raw.lstrip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
        elif kind == "B":
            size += len(raw)
        else:
            size += 1
    return size


def measure(desk: Desk, record_calls: Any, script: list[str] = SCRIPT) -> dict[str, Any]:
    assert desk.requests is not None
    start = len(desk.requests.made), len(desk.requests.items)
    call = desk.call(desk.webhook(front_desk(record_calls=record_calls)))
    call.start()
    for number, text in enumerate(script):
        call.say(text)
        if number == 3:
            call.press("2")
        if number == 5:
            call.stay_silent()
    call.say("bye")
    made = desk.requests.made[start[0] :]
    puts = desk.requests.items[start[1] :]
    call_puts = [item for table, item in puts if table == desk.calls_table]
    record_puts = [item for table, item in puts if table == desk.records_table]
    units = sum(math.ceil(item_bytes(item) / 1024) for item in call_puts)
    record_units = sum(math.ceil(item_bytes(item) / 1024) + 1 for item in record_puts)  # + index
    return {
        "events": sum(len(turn.exchanges) for turn in call.turns),
        "requests": len(made),
        "reads": sum(1 for op, _ in made if op == "GetItem"),
        "writes": sum(1 for op, _ in made if op == "PutItem"),
        "call_item_max_bytes": max(item_bytes(item) for item in call_puts),
        "write_units": units + record_units,
        "record_item_bytes": [item_bytes(item) for item in record_puts],
    }


def test_a_recorded_call_costs_one_request_more_and_a_few_write_units(desk: Desk) -> None:
    off = measure(desk, None)
    on = measure(desk, True)
    long_off = measure(desk, None, LONG_SCRIPT)
    long_on = measure(desk, True, LONG_SCRIPT)
    columns = {"off": off, "on": on, "long, off": long_off, "long, on": long_on}

    print()
    print(f"{'':22}" + "".join(f"{name:>12}" for name in columns))
    for key in ("events", "requests", "reads", "writes", "call_item_max_bytes", "write_units"):
        print(f"{key:22}" + "".join(f"{c[key]:>12}" for c in columns.values()))
    sizes = [
        str(c["record_item_bytes"][0]) if c["record_item_bytes"] else "-" for c in columns.values()
    ]
    print(f"{'record_item_bytes':22}" + "".join(f"{size:>12}" for size in sizes))

    assert on["events"] == off["events"]
    assert on["reads"] == off["reads"]
    assert on["writes"] == off["writes"] + 1  # the finished record, nothing else
    assert on["requests"] == off["requests"] + 1
    assert len(on["record_item_bytes"]) == 1 and on["record_item_bytes"][0] < 4096
    # Compressed with the call document, the growing record adds little per save.
    assert on["write_units"] <= off["write_units"] * 2
    # A long call: the record stays within its bound (32 KB of JSON, compressed in the item).
    assert long_on["writes"] == long_off["writes"] + 1
    assert long_on["call_item_max_bytes"] - long_off["call_item_max_bytes"] < 16_000
    assert long_on["record_item_bytes"][0] < 16_000
