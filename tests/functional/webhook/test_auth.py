"""The shared token: only the right one passes; on 401 nothing runs and nothing is stored."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from aiflow.lambda_ import Settings

from .conftest import CALLER, TOKEN, Line

HEADERS = {
    "no token header": ({}, 401),
    "wrong token": ({"x-api-token": "not-the-token"}, 401),
    "empty token": ({"x-api-token": ""}, 401),
    "a prefix of the token": ({"x-api-token": TOKEN[:-1]}, 401),
    "the token plus one character": ({"x-api-token": TOKEN + "x"}, 401),
    "the token in upper case": ({"x-api-token": TOKEN.upper()}, 401),
    "the token in another header": ({"authorization": f"Bearer {TOKEN}"}, 401),
    "the key alias with a wrong value": ({"x-api-key": "nope"}, 401),
    "X-API-TOKEN": ({"X-API-TOKEN": TOKEN}, 200),
    "x-api-token": ({"x-api-token": TOKEN}, 200),
    "X-Api-Token": ({"X-Api-Token": TOKEN}, 200),
    "X-API-Key alias": ({"X-API-Key": TOKEN}, 200),
    "x-api-key alias": ({"x-api-key": TOKEN}, 200),
}


def new_secret(value: str) -> str:
    """A Secrets Manager secret holding ``value`` (a raw string, as the stack's); its ARN."""
    secrets = boto3.client("secretsmanager")
    name = f"aiflow/webhook-token-{uuid.uuid4().hex[:8]}"
    return secrets.create_secret(Name=name, SecretString=value)["ARN"]


@pytest.mark.parametrize(("headers", "status"), HEADERS.values(), ids=HEADERS.keys())
def test_only_the_right_token_in_either_header_gets_through(
    line: Line, headers: dict[str, str], status: int
) -> None:
    call = line.call(caller=CALLER)
    body = json.dumps(call.event("user_speak", text="let me in"))

    reply = call.post(body, headers={"content-type": "application/json", **headers})

    assert reply.status == status
    if status == 401:
        assert reply.json["code"] == "unauthorized"
        assert "X-API-TOKEN" in reply.json["message"]
        assert line.ran == []
        assert line.table.items() == []
        assert line.requests.operations == []
    else:
        assert reply.said == ["You said: let me in"]
        assert len(line.table.items()) == 1


def test_a_webhook_without_a_configured_token_refuses_even_an_empty_token(line: Line) -> None:
    line.rebuild(token=None, settings=Settings())

    for token in (None, "", TOKEN):
        reply = line.call(token=token).deliver("session_start")
        assert reply.status == 401
        assert reply.json["code"] == "unauthorized"
    assert line.ran == []
    assert line.table.items() == []


def test_the_token_from_aiflow_api_token_is_the_one_expected(
    line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFLOW_API_TOKEN", "token-from-the-environment")
    line.rebuild(token=None)  # no token, no settings: Settings.from_env() as in Lambda

    assert line.call(token=TOKEN).deliver("session_start").status == 401
    assert line.call(token="token-from-the-environment").deliver("session_start").status == 200
    assert Settings.from_env().api_token == "token-from-the-environment"


def test_aiflow_api_token_wins_over_the_secret(line: Line, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = new_secret("token-in-the-secret")
    monkeypatch.setenv("AIFLOW_API_TOKEN", "token-from-the-environment")
    monkeypatch.setenv("AIFLOW_TOKEN_SECRET", arn)
    line.rebuild(token=None)

    assert line.call(token="token-in-the-secret").deliver("session_start").status == 401
    assert line.call(token="token-from-the-environment").deliver("session_start").status == 200


def test_the_token_is_read_from_secrets_manager(line: Line) -> None:
    arn = new_secret("token-in-the-secret")
    line.rebuild(token=None, settings=Settings(token_secret=arn))

    assert line.call(token=TOKEN).deliver("session_start").status == 401
    assert line.call(token="token-in-the-secret").deliver("session_start").status == 200


@pytest.mark.slow  # waits for the one-second token cache to expire
def test_a_rotated_secret_is_used_once_the_cached_token_is_older_than_its_max_age(
    line: Line,
) -> None:
    arn = new_secret("old-token-0123456789")
    line.rebuild(token=None, settings=Settings(token_secret=arn, token_cache_seconds=1))
    assert line.call(token="old-token-0123456789").deliver("session_start").status == 200
    cached_at = time.monotonic()

    boto3.client("secretsmanager").put_secret_value(
        SecretId=arn, SecretString="new-token-0123456789"
    )

    # Within the cache age the old token still works and the new one does not yet.
    assert line.call(token="old-token-0123456789").deliver("session_start").status == 200
    assert line.call(token="new-token-0123456789").deliver("session_start").status == 401
    assert time.monotonic() - cached_at < 1.0, "too slow to observe the cache"

    time.sleep(max(0.0, 1.05 - (time.monotonic() - cached_at)))

    assert line.call(token="new-token-0123456789").deliver("session_start").status == 200
    assert line.call(token="old-token-0123456789").deliver("session_start").status == 401


def test_when_the_secret_cannot_be_read_the_caller_hears_the_fallback_and_nothing_runs(
    line: Line,
) -> None:
    missing = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:aiflow/missing-AbCdEf"
    line.rebuild(token=None, settings=Settings(token_secret=missing))
    call = line.call(caller=CALLER)

    spoken = call.deliver("user_speak", text="hello?")
    bad = call.post("not json")

    assert spoken.status == 200
    assert spoken.said == [line.assistant.fallback]
    assert bad.status == 400  # never a 503: a body that is no event is still a 400
    assert bad.json["code"] == "not_json"
    assert line.ran == []
    assert line.table.items() == []
