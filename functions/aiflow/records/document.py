"""The call record as a JSON document: its entries, its size bound, its outcome, its merge.

A record lives in the call document under ``record`` while the call runs (see
:mod:`aiflow.records.recorder`) and, once the call is over, as an item of its own (see
:mod:`aiflow.records.store`). Its form (``v`` 1)::

    {"v": 1, "session_id": "...", "started_at": 1764583200123, "ended_at": 1764583272480,
     "direction": "inbound", "caller": "+49*********78", "called": "+4921198765400",
     "masked": true, "assistant": "receptionist",
     "turns": [
       {"i": "k3f9", "at": 1764583200150, "event": "session_start",
        "reply": [{"say": "Hello, how can I help?"}], "handler_ms": 2.1, "answer_ms": 14.0},
       {"i": "9x0a", "at": 1764583204411, "event": "user_speak", "caller": "the opening hours",
        "barged_in": true, "reply": [{"say": "We are open ...", "heard": "We are"},
        {"do": "transfer", "to": "+4930123456789"}], "handler_ms": 840.3, "answer_ms": 861.9,
        "fallback": "handler_error", "error": "RuntimeError"},
       {"i": "0b1c", "at": ..., "event": "dtmf_received", "keys": "3"},
       {"i": "77de", "at": ..., "event": "user_input_timeout"}],
     "cut": {"turns": 37, "bytes": 18211, "from": ..., "to": ...},
     "outcome": {"ended_by": "transfer", "transferred_to": "+4930123456789",
                 "transfers_failed": [], "fallbacks": 1, "errors": 1, "store_failures": 0,
                 "outage": false}}

``heard`` is what the caller heard of a sentence they talked over (the framework's own
barge-in estimate, :func:`aiflow.history.trim_interrupted`; ``""``: nothing); a sentence
without ``heard`` was heard whole. ``answer_ms`` is the time from the event's arrival to the
answer, without the save that follows it; ``handler_ms`` the assistant's own share.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from ..history import Playback, Turn, speech_key, strip_tags, trim_interrupted
from ..merge import MERGERS
from ..protocol.actions import (
    Action,
    SendSmsAction,
    SpeakAction,
    TransferAction,
)
from ..protocol.phone import to_e164
from ..redact import mask_number

RECORD_KEY = "record"
"""The key of the record in the call document (``call.extras``)."""
VERSION = 1
_CUT_MARK = " …"
_LOOK_BACK = 12  # entries searched for the sentence an assistant_speak names
# Folded into "cut" when entries are cut, so the outcome still counts them.
_COUNTED = ("fallbacks", "errors", "store_failures")


def new_record(
    *,
    session_id: str,
    started_at: int,
    direction: str | None,
    caller: str | None,
    called: str | None,
    assistant: str | None,
    mask: bool,
) -> dict[str, Any]:
    """An empty record; the other party's number masked when ``mask``."""
    if mask:
        if direction == "outbound":
            called = mask_number(called) if called else called
        else:
            caller = mask_number(caller) if caller else caller
    return {
        "v": VERSION,
        "session_id": session_id,
        "started_at": started_at,
        "direction": direction,
        "caller": caller,
        "called": called,
        "masked": mask,
        "assistant": assistant,
        "turns": [],
    }


def new_entry(event: str, at: int) -> dict[str, Any]:
    """An entry for ``event`` at ``at`` (Unix ms), with an id for merging."""
    return {"i": secrets.token_hex(3), "at": at, "event": event}


def cut_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, a mark showing the cut."""
    return text if len(text) <= limit else text[: limit - len(_CUT_MARK)] + _CUT_MARK


def reply_items(
    actions: Iterable[Action], *, max_text_chars: int, mask: bool
) -> list[dict[str, Any]]:
    """What the assistant did, in order: ``{"say": text}`` per speak, ``{"do": type}`` for
    everything else (with ``to`` for a transfer or an SMS)."""
    items: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, SpeakAction):
            text = action.text if action.text is not None else strip_tags(action.ssml or "")
            items.append({"say": cut_text(text, max_text_chars)})
        elif isinstance(action, TransferAction):
            items.append({"do": "transfer", "to": to_e164(action.target_phone_number)})
        elif isinstance(action, SendSmsAction):
            to = to_e164(action.phone_number) or action.phone_number
            to = mask_number(to) if mask else to
            items.append({"do": "send_sms", "to": to})
        else:
            items.append({"do": action.type})
    return items


# --- barge-in -----------------------------------------------------------------------------


def mark_playing(doc: dict[str, Any], text: str | None, playback: Playback) -> None:
    """``assistant_speak``: remember which recorded sentence plays now, and from when."""
    found = _sentence(doc, text)
    if found is None:
        doc.pop("playing", None)
        return
    entry_id, index = found
    doc["playing"] = {
        "i": entry_id,
        "k": index,
        "started_at": playback.started_at,
        "duration_ms": playback.duration_ms,
    }


def note_caller_started(doc: dict[str, Any], at: int | None) -> None:
    """``user_speech_started``: when the caller started talking (the best barge-in time)."""
    if at is not None:
        doc["caller_started_at"] = at


def note_interruption(doc: dict[str, Any], *, now: int) -> None:
    """The caller talked over the playing sentence: keep what they heard of it.

    The framework's own estimate (:func:`aiflow.history.trim_interrupted`) on the recorded
    text, from the playback start and length and when the caller started talking.
    """
    playing = doc.pop("playing", None)
    started = doc.pop("caller_started_at", None)
    if not isinstance(playing, dict):
        return
    item = _item(doc, str(playing.get("i")), int(playing.get("k", -1)))
    if item is None or "say" not in item:
        return
    scratch = [Turn(role="assistant", text=str(item["say"]))]
    playback = Playback(
        started_at=int(playing["started_at"]), duration_ms=float(playing["duration_ms"])
    )
    trimmed = trim_interrupted(scratch, playback, caller_started_at=started, now=now)
    if trimmed is not None:
        item["heard"] = trimmed.text
    elif not scratch:
        item["heard"] = ""  # interrupted before a whole word was heard
    # else: the sentence had ended when the caller spoke; it was heard whole


def forget_playback(doc: dict[str, Any]) -> None:
    """The caller spoke without interrupting: nothing plays any more."""
    doc.pop("playing", None)
    doc.pop("caller_started_at", None)


def _sentence(doc: Mapping[str, Any], text: str | None) -> tuple[str, int] | None:
    latest: tuple[str, int] | None = None
    wanted = speech_key(text) if text else None
    for entry in reversed(doc.get("turns", [])[-_LOOK_BACK:]):
        reply = entry.get("reply") or []
        for index in range(len(reply) - 1, -1, -1):
            said = reply[index].get("say")
            if said is None:
                continue
            if latest is None:
                latest = (entry["i"], index)
            if wanted is not None and speech_key(said) == wanted:
                return entry["i"], index
    return latest  # SSML or a cut text: the latest sentence is the best guess


def _item(doc: Mapping[str, Any], entry_id: str, index: int) -> dict[str, Any] | None:
    for entry in reversed(doc.get("turns", [])):
        if entry.get("i") == entry_id:
            reply = entry.get("reply") or []
            found = reply[index] if 0 <= index < len(reply) else None
            return found if isinstance(found, dict) else None
    return None


# --- size -------------------------------------------------------------------------------


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def bound(doc: dict[str, Any], max_bytes: int) -> int:
    """Cut the oldest entries after the first until the record fits ``max_bytes``; the
    ``cut`` section says how many, how large, from when to when, and keeps their counts.
    Returns how many were cut now."""
    size = json_size(doc)
    turns: list[dict[str, Any]] = doc.get("turns", [])
    cut_now = 0
    while size > max_bytes and len(turns) > 2:
        entry = turns.pop(1)  # the call's opening stays: it says how the call began
        entry_bytes = json_size(entry) + 1
        size -= entry_bytes
        cut = doc.setdefault("cut", {"turns": 0, "bytes": 0, "from": entry["at"]})
        cut["turns"] += 1
        cut["bytes"] += entry_bytes
        cut["to"] = entry["at"]
        for name, value in _counts(entry).items():
            if value:
                cut[name] = cut.get(name, 0) + value
        failed = entry.get("transfer_failed")
        if failed is not None:
            cut.setdefault("transfers_failed", []).append(failed)
        if entry.get("outage"):
            cut["outage"] = True
        cut_now += 1
    return cut_now


# --- outcome ------------------------------------------------------------------------------


def outcome(doc: Mapping[str, Any]) -> dict[str, Any]:
    """How the call ended and what went wrong on the way, from the entries (and what was cut).

    ``ended_by``: ``transfer`` (a transfer was sent and the caller did not come back),
    ``assistant`` (it hung up), ``outage`` (the store failed and the call was ended),
    else ``caller`` (inbound) or ``callee`` (outbound): the other party hung up.
    """
    cut = doc.get("cut") or {}
    totals = {name: int(cut.get(name, 0)) for name in _COUNTED}
    failed: list[str] = list(cut.get("transfers_failed", []))
    outage = bool(cut.get("outage"))
    transferred_to: str | None = None
    hung_up = False
    for entry in doc.get("turns", []):
        if entry.get("resumed"):
            transferred_to = None  # the transfer failed: the caller is back
        if entry.get("transfer_failed") is not None:
            failed.append(entry["transfer_failed"])
        for name, value in _counts(entry).items():
            totals[name] += value
        outage = outage or bool(entry.get("outage"))
        for item in entry.get("reply") or []:
            if item.get("do") == "transfer":
                transferred_to = item.get("to")
            elif item.get("do") == "hangup":
                hung_up = True
    if transferred_to is not None:
        ended_by = "transfer"
    elif hung_up:
        ended_by = "assistant"
    elif outage:
        ended_by = "outage"
    else:
        ended_by = "callee" if doc.get("direction") == "outbound" else "caller"
    return {
        "ended_by": ended_by,
        "transferred_to": transferred_to,
        "transfers_failed": failed,
        **totals,
        "outage": outage,
    }


def _counts(entry: Mapping[str, Any]) -> dict[str, int]:
    return {
        "fallbacks": 1 if entry.get("fallback") else 0,
        "errors": 1 if entry.get("error") else 0,
        "store_failures": int(entry.get("failures", 0)),
    }


# --- merge --------------------------------------------------------------------------------


def merge_record(loaded: Any, ours: Any, fresh: Any) -> dict[str, Any] | None:
    """Three-way merge of two events' records (see :data:`aiflow.merge.MERGERS`): the
    entries are a union by id (ours where we changed one, theirs otherwise; what either
    cut stays cut), every other field takes the side that changed it, ours if both did."""
    if not (isinstance(ours, dict) and isinstance(fresh, dict)):
        return None
    old = loaded if isinstance(loaded, dict) else {}
    merged = dict(fresh)
    for name in (set(ours) | set(old)) - {"turns", "cut"}:
        if ours.get(name) != old.get(name):
            if name in ours:
                merged[name] = ours[name]
            else:
                merged.pop(name, None)
    old_entries = {e["i"]: e for e in old.get("turns", [])}
    our_entries = {e["i"]: e for e in ours.get("turns", [])}
    their_ids = {e["i"] for e in fresh.get("turns", [])}
    cut_by_us = set(old_entries) - set(our_entries)
    entries = []
    for entry in fresh.get("turns", []):
        if entry["i"] in cut_by_us:
            continue
        mine = our_entries.get(entry["i"])
        changed = mine is not None and mine != old_entries.get(entry["i"])
        entries.append(mine if mine is not None and changed else entry)
    entries += [e for i, e in our_entries.items() if i not in old_entries and i not in their_ids]
    entries.sort(key=lambda e: int(e.get("at", 0)))  # stable: equal times keep their order
    merged["turns"] = entries
    cuts = [c for c in (ours.get("cut"), fresh.get("cut")) if isinstance(c, dict)]
    if cuts:
        merged["cut"] = max(cuts, key=lambda c: int(c.get("turns", 0)))
    return merged


# Two events' records merge instead of making one of them run its handler again; registered
# wherever records are written (the recorder imports this module).
MERGERS[RECORD_KEY] = merge_record
