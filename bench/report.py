"""Plain-text output helpers of the benchmark (stdlib only)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchlib import percentile


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    cells = [row + [""] * (len(headers) - len(row)) for row in cells]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return (indent + "  ".join(parts)).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def heading(title: str) -> None:
    print()
    print(title)
    print("=" * len(title))


def ms(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def kb(size: int) -> str:
    return f"{size / 1e3:.1f}"


def stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values) if values else float("nan"),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values) if values else float("nan"),
        "n": len(values),
    }
