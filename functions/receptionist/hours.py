"""Weekly opening hours: whether the business is open now, and how to say the hours."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiflow.plain import Plain

from .texts import AND_WORD, WEEKDAY_NAMES

logger = logging.getLogger("receptionist")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Range = tuple[int, int]  # minutes since midnight, start inclusive, end exclusive


def parse_range(value: str) -> Range:
    """``"08:00-12:30"`` -> ``(480, 750)``.

    Raises:
        ValueError: not ``HH:MM-HH:MM``, or the end is not after the start.
    """
    try:
        start_text, end_text = value.split("-")
        start, end = _minutes(start_text), _minutes(end_text)
    except ValueError:
        raise ValueError(f"{value!r} is not a time range like '08:00-12:30'") from None
    if end <= start:
        raise ValueError(f"{value!r} ends before it starts (ranges past midnight: split them)")
    return start, end


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(text)
    return h * 60 + m


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Only reached when the system has no time zone database (the config check rejects
        # unknown names otherwise). An hour or two off beats not answering calls at all.
        logger.error("no time zone database for %r: opening hours are taken as UTC", name)
        return UTC


class WeeklyHours(Plain):
    """Opening hours per weekday (0 = Monday) in one time zone."""

    __slots__ = ("zone", "days")

    def __init__(self, zone: tzinfo, days: Mapping[int, Sequence[Range]]) -> None:
        self.zone = zone
        self.days = days

    @classmethod
    def from_config(cls, zone: str, days: Mapping[str, Sequence[str]]) -> WeeklyHours:
        """From the YAML form: ``{"mon": ["08:00-12:00"], ...}``."""
        parsed = {
            WEEKDAYS.index(day): [parse_range(r) for r in ranges] for day, ranges in days.items()
        }
        return cls(_zone(zone), {d: sorted(r) for d, r in parsed.items() if r})

    def is_open(self, at_ms: int) -> bool:
        """Whether ``at_ms`` (Unix ms) falls into an opening range, in local time."""
        local = datetime.fromtimestamp(at_ms / 1000, self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.days.get(local.weekday(), ()))

    def describe(self, lang: str) -> str:
        """The hours as sentences, days with the same hours grouped:
        "Montag bis Donnerstag von 8 bis 12 Uhr. Freitag von 8 bis 13 Uhr."."""
        groups: dict[tuple[Range, ...], list[int]] = {}
        for day in sorted(self.days):
            groups.setdefault(tuple(self.days[day]), []).append(day)
        sentences = [
            f"{_days(days, lang)} {_ranges(ranges, lang)}." for ranges, days in groups.items()
        ]
        intro = "Unsere Öffnungszeiten:" if lang == "de" else "Our opening hours:"
        if not sentences:
            return "Wir haben derzeit geschlossen." if lang == "de" else "We are closed."
        return " ".join([intro, *sentences])


def _days(days: list[int], lang: str) -> str:
    names = WEEKDAY_NAMES.get(lang, WEEKDAY_NAMES["en"])
    # Runs of three or more consecutive days read better as "Montag bis Freitag".
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    to_word = "bis" if lang == "de" else "to"
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{names[run[0]]} {to_word} {names[run[-1]]}")
        else:
            parts.extend(names[d] for d in run)
    return _join(parts, AND_WORD.get(lang, "and"))


def _ranges(ranges: tuple[Range, ...], lang: str) -> str:
    if lang == "de":
        parts = [f"von {_de_time(s)} bis {_de_time(e)} Uhr" for s, e in ranges]
    else:
        parts = [f"from {_en_time(s)} to {_en_time(e)}" for s, e in ranges]
    return _join(parts, AND_WORD.get(lang, "and"))


def _de_time(minutes: int) -> str:
    h, m = divmod(minutes, 60)
    return f"{h}" if not m else f"{h}:{m:02d}"


def _en_time(minutes: int) -> str:
    h, m = divmod(minutes, 60)
    suffix = "am" if h < 12 or h == 24 else "pm"
    h12 = h % 12 or 12
    return f"{h12} {suffix}" if not m else f"{h12}:{m:02d} {suffix}"


def _join(parts: list[str], and_word: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {and_word} {parts[-1]}"
