"""The shared token: a pasted newline or spaces do no harm; a short one is refused, loudly.

A token with a trailing newline or spaces (in ``AIFLOW_API_TOKEN`` or the Secrets Manager
secret, or in the request header) is trimmed and works. A configured token shorter than
16 characters is a configuration mistake: it is refused with a log line saying so, every
request is refused as unauthenticated, yet a valid event still gets the fallback speech
(a caller may be waiting), nothing runs, nothing is stored, and nothing is answered 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from aiflow import Assistant

from ..faults.cloud import TOKEN
from .conftest import Table, call, unique

SHORT = "fifteen-chars-x"  # 15 characters


def greeter(ran: list[str]) -> Assistant:
    assistant = Assistant(unique("token"))

    @assistant.on_session_start
    def greet() -> str:
        ran.append("session_start")
        return "Hello."

    return assistant


def secret(value: str) -> str:
    client = boto3.client("secretsmanager")
    return str(client.create_secret(Name=unique("token"), SecretString=value)["ARN"])


@pytest.mark.parametrize("padding", ["\n", "  ", " \r\n", "\t\n"])
@pytest.mark.parametrize("where", ["environment", "secret"])
def test_a_token_with_a_trailing_newline_or_spaces_works(
    webhook: Any, table: Table, where: str, padding: str
) -> None:
    configured = TOKEN + padding
    settings = (
        {"api_token": configured}
        if where == "environment"
        else {
            "api_token": None,
            "token_secret": secret(configured),
        }
    )
    ran: list[str] = []
    handler = webhook(greeter(ran), **settings)

    plain = call(handler).start()
    padded = call(handler, token=TOKEN + "  ").start()

    assert (plain.status, padded.status) == (200, 200)
    assert plain.said == ["Hello."] and ran == ["session_start", "session_start"]


@pytest.mark.parametrize("where", ["environment", "secret"])
def test_a_token_shorter_than_16_characters_is_refused_with_a_clear_log_line(
    webhook: Any, table: Table, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = (
        {"api_token": SHORT}
        if where == "environment"
        else {
            "api_token": None,
            "token_secret": secret(SHORT),
        }
    )
    ran: list[str] = []
    assistant = greeter(ran)
    handler = webhook(assistant, **settings)
    capsys.readouterr()

    phone = call(handler, token=SHORT)
    started = phone.start()
    ended = phone.hang_up()
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]

    assert started.status == 200 and started.said == [assistant.fallback]
    assert ended.status == 204
    assert ran == [] and table.item(phone.session_id) is None
    refused = [line for line in logs if "token is refused" in line.get("message", "")]
    assert refused and refused[0]["level"] == "ERROR"
    assert "15 characters; at least 16 are required" in refused[0]["message"]
    assert SHORT not in json.dumps(logs)
