"""A call record as a readable transcript: who said what, when, how fast, and how it ended.

Plain data, no formatting library: ``aiflow calls show`` prints it with rich, a browser
console can render the same lines.

    for line in transcript_lines(record):
        print(f"{format_offset(line.offset_ms):>8}  {line.who:<9} {line.text}  {line.note}")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .store import outcome_text

_EVENTS = {
    "session_start": "call starts",
    "session_end": "call ends",
    "sms_failed": "an SMS failed",
}
# What the assistant did on these needs no line of its own: the reply says it all.
_SILENT_EVENTS = frozenset({"assistant_speech_ended"})


@dataclass(frozen=True)
class TranscriptLine:
    """One line of a transcript.

    Attributes:
        offset_ms: time since the call started.
        who: ``caller``, ``assistant`` or ``call`` (what happened to the call itself).
        text: what was said or done.
        note: timings and remarks (``handler 12 ms · answer 40 ms``, ``heard: "We are"``).
        kind: ``speech``, ``keys``, ``silence``, ``action``, ``event`` or ``cut``.
    """

    offset_ms: int
    who: str
    text: str
    note: str = ""
    kind: str = "event"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def transcript_lines(record: dict[str, Any]) -> list[TranscriptLine]:
    """The transcript of a record, in order."""
    start = int(record.get("started_at") or 0)
    lines: list[TranscriptLine] = []
    turns = record.get("turns") or []
    cut = record.get("cut") or {}
    for position, entry in enumerate(turns):
        if position == 1 and cut:
            lines.append(_cut_line(cut, start))
        lines.extend(_entry_lines(entry, int(entry.get("at", start)) - start))
    if len(turns) <= 1 and cut:
        lines.append(_cut_line(cut, start))
    ended = record.get("ended_at")
    if ended is not None:
        lines.append(
            TranscriptLine(int(ended) - start, "call", f"call ends: {outcome_text(record)}")
        )
    return lines


def header(record: dict[str, Any]) -> dict[str, str]:
    """The facts above a transcript: id, start, duration, direction, numbers, outcome."""
    started = int(record.get("started_at") or 0)
    ended = record.get("ended_at")
    facts = {
        "call": str(record.get("session_id", "")),
        "started": format_time(started),
        "duration": format_duration(int(ended) - started) if ended is not None else "not ended",
        "direction": str(record.get("direction") or "unknown"),
        "from": str(record.get("caller") or "withheld"),
        "to": str(record.get("called") or "unknown"),
        "assistant": str(record.get("assistant") or ""),
        "outcome": outcome_text(record),
    }
    cut = record.get("cut")
    if cut:
        facts["cut"] = _cut_text(cut)
    return facts


def format_time(ms: int) -> str:
    """``2026-12-01 10:15:02 UTC``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(ms: int) -> str:
    """``1m 12s`` (``4.2s`` under a minute)."""
    seconds = max(0, ms) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m {rest:02d}s"


def format_offset(ms: int) -> str:
    """``+1:04.2``: minutes and seconds since the call started."""
    minutes, rest = divmod(max(0, ms) / 1000, 60)
    return f"+{int(minutes)}:{rest:04.1f}"


def _entry_lines(entry: dict[str, Any], offset: int) -> list[TranscriptLine]:
    event = str(entry.get("event", ""))
    lines: list[TranscriptLine] = []
    timing = _timing(entry)
    if event in ("user_speak", "user_barge_in"):
        text = str(entry.get("caller", ""))
        note = "interrupts" if entry.get("barged_in") else ""
        lines.append(TranscriptLine(offset, "caller", text, note, "speech"))
    elif event == "dtmf_received":
        lines.append(TranscriptLine(offset, "caller", f"presses {entry.get('keys')}", "", "keys"))
    elif event == "user_input_timeout":
        lines.append(TranscriptLine(offset, "caller", "(silent)", "", "silence"))
    elif event == "store_trouble":
        failures = int(entry.get("failures", 0))
        text = f"{failures} turn{'' if failures == 1 else 's'} failed to reach the call store"
        if entry.get("outage"):
            text += "; the call was ended for the outage"
        lines.append(TranscriptLine(offset, "call", text, "", "event"))
    elif event == "session_start" and entry.get("resumed"):
        failed = entry.get("transfer_failed")
        text = f"transfer to {failed} failed: the caller is back" if failed else "call resumed"
        lines.append(TranscriptLine(offset, "call", text, "", "event"))
    elif event not in _SILENT_EVENTS:
        lines.append(TranscriptLine(offset, "call", _EVENTS.get(event, event), "", "event"))
    reply = entry.get("reply") or []
    if event in _SILENT_EVENTS:
        timing = " · ".join(part for part in ("after the speech ended", timing) if part)
    for index, item in enumerate(reply):
        notes = []
        if "say" in item:
            text, kind = str(item["say"]), "speech"
            if "heard" in item:
                heard = str(item["heard"])
                notes.append(f'heard: "{heard}"' if heard else "heard: nothing")
        else:
            text, kind = _action_text(item), "action"
        if index == 0 and timing:
            notes.append(timing)
        lines.append(TranscriptLine(offset, "assistant", text, " · ".join(notes), kind))
    extra = _remarks(entry)
    if not reply and extra:
        remark = " · ".join(part for part in (extra, timing) if part)
        lines.append(TranscriptLine(offset, "assistant", "(no answer)", remark, "event"))
    elif extra:
        last = lines[-1]
        note = " · ".join(part for part in (last.note, extra) if part)
        lines[-1] = TranscriptLine(last.offset_ms, last.who, last.text, note, last.kind)
    if entry.get("more"):
        lines.append(
            TranscriptLine(offset, "assistant", f"(and {entry['more']} more actions)", "", "cut")
        )
    return lines


def _timing(entry: dict[str, Any]) -> str:
    parts = []
    if "handler_ms" in entry:
        parts.append(f"handler {entry['handler_ms']:.0f} ms")
    if "answer_ms" in entry:
        parts.append(f"answer {entry['answer_ms']:.0f} ms")
    return " · ".join(parts)


def _remarks(entry: dict[str, Any]) -> str:
    parts = []
    if entry.get("fallback"):
        error = f": {entry['error']}" if entry.get("error") else ""
        parts.append(f"fallback ({entry['fallback']}{error})")
    elif entry.get("error"):
        parts.append(f"error {entry['error']}")
    slow = entry.get("slow")
    if slow == "waiting":
        parts.append("slow: the answer follows from the worker")
    elif slow == "ready":
        parts.append(f"slow: the worker answered in {entry.get('worker_ms', 0):.0f} ms")
    if entry.get("fillers"):
        parts.append(f"{entry['fillers']} filler(s)")
    if entry.get("interrupted"):
        parts.append("stopped: the caller started talking")
    return " · ".join(parts)


def _action_text(item: dict[str, Any]) -> str:
    kind = item.get("do")
    if kind == "transfer":
        return f"transfers the call to {item.get('to')}"
    if kind == "hangup":
        return "hangs up"
    if kind == "send_sms":
        return f"sends an SMS to {item.get('to')}"
    if kind == "barge_in":
        return "stops the speech playing (barge-in)"
    return f"({kind})"


def _cut_line(cut: dict[str, Any], start: int) -> TranscriptLine:
    offset = int(cut.get("from", start)) - start
    return TranscriptLine(offset, "call", f"… {_cut_text(cut)} …", "", "cut")


def _cut_text(cut: dict[str, Any]) -> str:
    turns = int(cut.get("turns", 0))
    kb = int(cut.get("bytes", 0)) / 1000
    return (
        f"{turns} turn{'' if turns == 1 else 's'} ({kb:.1f} KB) cut to keep the record "
        f"within its size limit"
    )
