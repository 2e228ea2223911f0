"""The browser call console of ``aiflow dev``: the page at ``/`` and its JSON endpoints.

The page plays the sipgate platform: it POSTs AI Flow events to ``/webhook`` with the
``X-API-TOKEN``, exactly like ``aiflow call`` (so auth, status codes and ordering are the
real ones); nothing here runs the assistant. What this module serves (GET only)::

    /                             the page (package data: HTML, CSS, ES modules; no build step)
    /__aiflow/console/<file>      its scripts and style sheet
    /__aiflow/session             what the page needs to call: the webhook path and its token
    /__aiflow/calls               the calls of this dev session ("Past calls")
    /__aiflow/calls/<id>          one call's turns as the turn engine reported them
    /__aiflow/calls/<id>/state    the call as stored now (the DynamoDB item, document decoded)

Everything is for this machine only: requests from another address, with another ``Host``
than a loopback name (DNS rebinding), or passed on by a proxy or tunnel (``Forwarded``,
``X-Forwarded-For``) get a 403, so the token never leaves loopback. Nothing of this ships to
Lambda (``aiflow/local`` is local-only in ``functions/Makefile``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from ...store.base import StoreError
from ..gateway import GatewayResponse
from .calls import SeenCalls, stored_call

PREFIX = "/__aiflow/"
PAGE = "index.html"
# The page's files, by name (nothing else under the package is served).
STATIC_FILES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "platform.js": "text/javascript; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
    "jsontree.js": "text/javascript; charset=utf-8",
    "voice.js": "text/javascript; charset=utf-8",
}
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_SESSION_ID = 256
_CALL_PATH = re.compile(r"/__aiflow/calls/([^/]+)(/state)?")
# Same-origin only; media from data: URLs for the audio action's WAV when played aloud.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; media-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def past_calls(seen: SeenCalls, records: Any = None) -> list[dict[str, Any]]:
    """The "Past calls" list: the calls this dev server answered, and, with call records on
    (``aiflow dev --record``), the recorded calls too (kept across restarts), with their
    outcome; most recent first. Per call the page reads ``session_id``, ``first_at`` and
    ``last_at`` (Unix ms), ``turns``, ``last_event``, ``ended`` and ``outcome``.

    Args:
        seen: the calls this process answered.
        records: an :class:`aiflow.records.RecordStore` (None: records are off).
    """
    calls = {call["session_id"]: call for call in seen.listing()}
    if records is not None:
        try:
            summaries = records.list(limit=100)
        except Exception:
            summaries = []  # the list still shows what this process saw
        for summary in summaries:
            entry = calls.setdefault(
                summary.session_id,
                {
                    "session_id": summary.session_id,
                    "first_at": summary.started_at,
                    "last_at": summary.ended_at or summary.started_at,
                    "turns": summary.turns,
                    "last_event": "session_end",
                    "ended": True,
                },
            )
            entry["outcome"] = summary.outcome
    return sorted(calls.values(), key=lambda call: call["last_at"], reverse=True)


def recorded_transcript(records: Any, session_id: str) -> list[dict[str, Any]] | None:
    """The transcript lines of a recorded call (None without records or record)."""
    if records is None:
        return None
    from ...records import transcript_lines

    try:
        record = records.get(session_id)
    except Exception:
        return None
    return [line.to_dict() for line in transcript_lines(record)] if record else None


class CallConsole:
    """The console of one dev server (pass it to :class:`~aiflow.local.server.DevServer`).

    Args:
        handler: the served Lambda handler; with ``handler.engine`` (any handler of
            :func:`aiflow.lambda_.lambda_handler`) the console lists its calls and reads
            their stored state; without one, the page can still call.
        token: the webhook's ``X-API-TOKEN``, handed to the page on loopback; None: the page
            asks for it.
        caller: the caller's number the page suggests.
        called: the AI Flow number the page suggests.
    """

    def __init__(
        self,
        handler: Any,
        *,
        token: str | None,
        caller: str = "+4917612345678",
        called: str = "+4921198765400",
    ) -> None:
        self.token = token
        self.caller = caller
        self.called = called
        self.engine = getattr(handler, "engine", None)
        self.seen = SeenCalls()
        if self.engine is not None:
            self.engine.listeners.append(self.seen)

    @property
    def assistant(self) -> str | None:
        """The name of the assistant the handler serves (of the router's default)."""
        if self.engine is None:
            return None
        try:
            return str(self.engine.assistant.name)
        except (AttributeError, IndexError):
            return None

    def wants(self, target: str) -> bool:
        """Whether a request for ``target`` (path and query) is the console's."""
        path = urlsplit(target).path
        return path == "/" or path.startswith(PREFIX)

    def respond(
        self, method: str, target: str, headers: Mapping[str, str], client: str
    ) -> GatewayResponse:
        """Answer one request of the page (``client``: the peer's address)."""
        path = urlsplit(target).path
        lowered = {name.lower(): value for name, value in headers.items()}
        refusal = _refusal(path, lowered, client)
        if refusal is not None:
            return _error(403, "loopback_only", refusal)
        if method not in ("GET", "HEAD"):
            response = _error(405, "method_not_allowed", "the console's routes take GET only")
            response.headers["Allow"] = "GET, HEAD"
            return response
        try:
            return self._route(path)
        except StoreError as exc:
            return _error(503, exc.code, exc.message)

    def _route(self, path: str) -> GatewayResponse:
        if path == "/":
            return _file(PAGE, "text/html; charset=utf-8")
        if path.startswith(PREFIX + "console/"):
            name = path[len(PREFIX + "console/") :]
            if name in STATIC_FILES:
                return _file(name, STATIC_FILES[name])
            return _error(404, "not_found", "no such file of the console")
        if path == PREFIX + "session":
            return _json(200, self.session())
        if path == PREFIX + "calls":
            return _json(200, {"calls": past_calls(self.seen, self.records())})
        matched = _CALL_PATH.fullmatch(path)
        if matched is None:
            return _error(404, "not_found", f"the console has no route {path}")
        session_id = unquote(matched.group(1))
        if not session_id or len(session_id) > MAX_SESSION_ID:
            return _error(400, "bad_session_id", f"a call id has 1 to {MAX_SESSION_ID} chars")
        if matched.group(2):
            return self._state(session_id)
        turns = self.seen.turns(session_id)
        transcript = recorded_transcript(self.records(), session_id)
        if turns is None and transcript is None:
            return _error(404, "no_such_call", "this dev server answered no call with that id")
        found: dict[str, Any] = {"session_id": session_id, "turns": turns or []}
        if transcript is not None:
            found["transcript"] = transcript
        return _json(200, found)

    def records(self) -> Any:
        """The call records of the served engine (``aiflow dev --record``), or None."""
        if self.engine is None or not getattr(self.engine, "recorders", None):
            return None
        from ...records import recorder_of

        recorder = recorder_of(self.engine)
        return recorder.store if recorder is not None else None

    def session(self) -> dict[str, Any]:
        """What the page needs to hold a call against this server."""
        return {
            "webhook": "/webhook",
            "token": self.token,
            "assistant": self.assistant,
            "caller": self.caller,
            "called": self.called,
            "account_id": "local-account",
            "state": self.engine is not None,
        }

    def _state(self, session_id: str) -> GatewayResponse:
        if self.engine is None:
            return _error(
                404,
                "no_store",
                "the served handler has no turn engine (not built by lambda_handler): "
                "no call store to read",
            )
        found = stored_call(self.engine.store, session_id)
        if found is None:
            return _error(404, "no_such_call", "the call store has no call with that id")
        return _json(200, found)


def _refusal(path: str, headers: Mapping[str, str], client: str) -> str | None:
    """Why a request may not use the console, or None (headers: lower-case names)."""
    if not _is_loopback(client):
        return "the console answers requests from this machine only"
    hostname = urlsplit("//" + headers.get("host", "")).hostname
    if hostname not in LOOPBACK_NAMES:
        return "open the console by a loopback address, e.g. http://127.0.0.1:3000/"
    if "forwarded" in headers or "x-forwarded-for" in headers:
        return "the console does not answer requests passed on by a proxy or tunnel"
    # The page's own requests are same-origin; a page elsewhere gets nothing (no CORS either).
    if path != "/" and headers.get("sec-fetch-site", "same-origin") == "cross-site":
        return "the console's data is for its own page only"
    return None


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _file(name: str, content_type: str) -> GatewayResponse:
    # Read on every request: an edited page shows on reload, no restart.
    body = resources.files("aiflow.local.console").joinpath(name).read_bytes()
    return GatewayResponse(200, {"Content-Type": content_type, **_PAGE_HEADERS}, body)


def _json(status: int, payload: Any) -> GatewayResponse:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    return GatewayResponse(status, headers, body)


def _error(status: int, code: str, message: str) -> GatewayResponse:
    return _json(status, {"code": code, "message": message})
