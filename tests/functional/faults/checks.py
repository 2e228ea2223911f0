"""What every fault case checks: the answers the caller got, and the record against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiflow.history import speech_key

from .cloud import Cloud
from .phone import Line, Phone
from .practice import FAREWELL
from .proxy import Direction, Mode

ANSWER_LIMIT_S = 3.0


@dataclass(frozen=True)
class Fault:
    """One fault of one dependency."""

    dependency: str
    mode: Mode
    seconds: float = 0.0
    direction: Direction = "both"
    match: bytes | None = None
    times: int | None = None

    def inject(self, cloud: Cloud) -> None:
        cloud.proxies[self.dependency].inject(
            self.mode,
            seconds=self.seconds,
            direction=self.direction,
            match=self.match,
            times=self.times,
        )

    def __str__(self) -> str:
        parts = [self.dependency, self.mode]
        if self.seconds:
            parts.append(f"{self.seconds:g}s")
        if self.direction != "both":
            parts.append(self.direction)
        if self.match:
            parts.append(self.match.decode())
        return "-".join(parts)


PUT = b"DynamoDB_20120810.PutItem"


def check_every_answer(phone: Line, record_property: Any) -> None:
    """200/204 only, each within the limit, nothing cut off by a hangup."""
    record_property("slowest_answer_s", round(phone.slowest, 3))
    assert phone.statuses <= {200, 204}, [(a.event, a.status) for a in phone.answers]
    slow = [(a.event, round(a.seconds, 2)) for a in phone.answers if a.seconds > ANSWER_LIMIT_S]
    assert not slow, f"answered later than {ANSWER_LIMIT_S} s: {slow}"
    assert phone.cut == [], f"a hangup cut off {phone.cut}"


def check_record_agrees(cloud: Cloud, phone: Line) -> None:
    """The record holds nothing the caller did not get, except a reply whose save landed
    unconfirmed; a hangup held in it then waits for that very speech, told apart by text,
    so that the end of what the caller did hear cannot release it."""
    doc = cloud.doc(phone.session_id)
    if doc is None:
        return
    got = {speech_key(t) for t in [*phone.heard, *phone.queue, phone.playing or ""]}
    said = [t["text"] for t in doc["history"] if t["role"] == "assistant"]
    unheard = [t for t in said if speech_key(t) not in got]
    if not unheard:
        return
    assert unheard == said[-1:], f"the record says the caller heard {unheard}"
    pending = doc.get("pending") or {}
    if any(a["type"] in ("hangup", "transfer") for a in pending.get("actions", [])):
        assert pending.get("awaiting") == [speech_key(unheard[0])]
        assert not pending.get("started") and not pending.get("playing")
        assert doc.get("speech_by_text"), "a speech end would be counted, not matched"


def finish_with_goodbye(phone: Phone) -> None:
    """Play what is waiting; if the call has not ended, say goodbye again and hear it."""
    phone.play()
    if phone.ended_by is None:
        assert phone.say("Tschüss").said == [FAREWELL]
        phone.play()
    assert phone.endings == ["hangup"], phone.endings
    assert phone.heard[-1] == FAREWELL, "hung up without the farewell heard"
    phone.hang_up()
