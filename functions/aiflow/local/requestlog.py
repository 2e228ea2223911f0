"""One line per request or frame, as the dev server prints it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestLog:
    """What the dev server logs about one request (one line each)."""

    at: float
    method: str
    path: str
    status: int
    latency_ms: float
    event_type: str | None = None
    session_id: str | None = None
    actions: list[str] = field(default_factory=list)

    def line(self) -> str:
        """``23:48:45.712  3f2b9c1e  user_speak  200  speak,hangup  12.3 ms``."""
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        millis = int((self.at % 1) * 1000)
        call = (self.session_id or "-")[:8]
        what = self.event_type or f"{self.method} {self.path}"
        actions = ",".join(self.actions) or "-"
        return (
            f"{clock}.{millis:03d}  {call:<8}  {what:<24} {self.status}  {actions:<22} "
            f"{self.latency_ms:7.1f} ms"
        )


def peek_event(body: bytes) -> tuple[str | None, str | None]:
    """The event type and call id of a webhook body, if it has them (for the log line)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    kind = data.get("type")
    session = data.get("session")
    session_id = session.get("id") if isinstance(session, dict) else None
    return (
        kind if isinstance(kind, str) else None,
        session_id if isinstance(session_id, str) else None,
    )


def action_types(body: bytes) -> list[str]:
    """The action types of a reply body (for the log line)."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    return [str(item.get("type")) for item in items if isinstance(item, dict)]
