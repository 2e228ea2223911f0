"""A real dev server on loopback with the browser console: the receptionist behind the real
Lambda handler, DynamoDB embedded (moto, the tables of template.yaml)."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.console import CallConsole
from aiflow.local.embedded import EmbeddedDynamoDB
from aiflow.local.server import DevServer
from receptionist.app import build_assistant
from receptionist.config import load_config

# Tuesday 6 January 2026, 10:00 in Berlin: the practice is open, so key 0 puts callers
# through whenever the tests run (the receptionist reads its clock for the opening hours).
PRACTICE_OPEN_MS = 1767690000000


@dataclass
class Served:
    server: DevServer
    db: EmbeddedDynamoDB
    console: CallConsole
    token: str

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    token = secrets.token_urlsafe(18)
    started = time.monotonic()

    def practice_clock() -> int:
        return PRACTICE_OPEN_MS + int((time.monotonic() - started) * 1000)

    receptionist = build_assistant(load_config(), clock=practice_clock)
    with EmbeddedDynamoDB(prefix=f"console-{secrets.token_hex(3)}-") as db:
        handler = lambda_handler(receptionist, store=db.store(), token=token, settings=Settings())
        console = CallConsole(handler, token=token)
        with DevServer(handler, port=0, console=console) as server:
            yield Served(server, db, console, token)


def request(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on loopback: status, headers, body (errors included)."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()
