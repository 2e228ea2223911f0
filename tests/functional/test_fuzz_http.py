"""Fuzzing the webhook over HTTP: no input ever gets a 5xx (issue 10).

Thousands of structure-aware bodies (:mod:`tests.fuzzing`) and header variants go through
the real Lambda handler behind the local API Gateway stand-in, for an assistant with a
handler for every event. Every answer must be a 4xx with a JSON ``{code, message}`` and no
traceback, or a 2xx whose body is valid actions (``parse_reply`` and the committed JSON
Schema) addressed to the event's session. Derandomized, so CI sees the same cases each run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from jsonschema import Draft202012Validator

from aiflow import (
    Assistant,
    BargeInPolicy,
    BaseEvent,
    Call,
    DtmfReceivedEvent,
    UserSpeakEvent,
    azure,
    hangup,
    parse_event,
    speak,
)
from aiflow.errors import EventParseError
from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.gateway import GatewayResponse, LocalGateway
from aiflow.protocol import jsonschema as generator
from aiflow.protocol import parse_reply
from aiflow.store.memory import MemoryStore

from ..fuzzing import MARKER, bodies, weighted

TOKEN = "a-test-token-of-24-chars"
REPLIES = Draft202012Validator(
    json.loads(
        (Path(generator.__file__).parent / "schema" / "actions.schema.json").read_text("utf-8")
    )
)

fuzzed = Assistant(
    "fuzzed",
    voice=azure(language="de-DE"),
    barge_in=BargeInPolicy(allow_after_ms=200),
    user_input_timeout=5,
)


@fuzzed.on_session_start
def greet(call: Call) -> Any:
    call.state["turns"] = 0
    return "Hallo, wie kann ich helfen?"


@fuzzed.on_user_speak
def answer(event: UserSpeakEvent, call: Call) -> Any:
    call.state["turns"] = int(call.state.get("turns", 0)) + 1
    call.state["last"] = event.text  # stored: it must be storable
    if "tschüss" in event.text.lower():
        return ["Auf Wiederhören!", hangup()]
    return f"Sie sagten: {event.text}"


@fuzzed.on_user_speech_started
def listening() -> Any:
    return None


@fuzzed.on_assistant_speak
def speaking(call: Call) -> Any:
    call.state["spoke"] = True


@fuzzed.on_assistant_speech_ended
def spoken() -> Any:
    return None


@fuzzed.on_user_input_timeout
def silence() -> Any:
    return speak("Sind Sie noch da?")


@fuzzed.on_dtmf
def key(event: DtmfReceivedEvent, call: Call) -> Any:
    call.state["keys"] = str(call.state.get("keys", "")) + event.digit
    return f"Taste {event.digit}"


@fuzzed.on_session_end
def bye(call: Call) -> Any:
    call.state["ended"] = True


@fuzzed.on_sms_failed
def sms_failed() -> Any:
    return None


@fuzzed.on_event
def anything_else(event: BaseEvent, call: Call) -> Any:
    call.state["other"] = event.type  # an unknown type: stored, then ignored


@pytest.fixture(scope="module")
def gateway() -> LocalGateway:
    handler = lambda_handler(fuzzed, store=MemoryStore(), token=TOKEN, settings=Settings())
    return LocalGateway(handler)


# --- requests ------------------------------------------------------------------------------

GOOD_HEADERS = st.sampled_from(
    [
        {"X-API-TOKEN": TOKEN},
        {"x-api-token": TOKEN},
        {"X-Api-Key": TOKEN},
        {"X-API-TOKEN": TOKEN, "X-Forwarded-For": "203.0.113.9"},
    ]
)
BAD_HEADERS = st.one_of(
    st.just({}),
    st.sampled_from(
        [
            {"X-API-TOKEN": ""},
            {"X-API-TOKEN": TOKEN + " "},
            {"X-API-TOKEN": TOKEN.upper()},
            {"X-API-TOKEN": "tökén-ü"},
            {"X-API-TOKEN": "a\nb"},
            {"Authorization": f"Bearer {TOKEN}"},
        ]
    ),
    # Any other token, short of a lone surrogate (those are test_a_lone_surrogate_token_...).
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40).map(
        lambda token: {"X-API-TOKEN": token}
    ),
)
HEADERS = weighted((4, GOOD_HEADERS), (1, BAD_HEADERS))


def post(gateway: LocalGateway, headers: dict[str, str], body: bytes | str) -> GatewayResponse:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    try:
        raw.decode("utf-8")
        content_type = "application/json"
    except UnicodeDecodeError:
        # API Gateway passes a body that is not text base64-encoded; the local stand-in
        # does so for a binary content type only.
        content_type = "application/octet-stream"
    return gateway.request("POST", "/webhook", {"Content-Type": content_type, **headers}, raw)


def session_of(body: bytes | str) -> str | None:
    try:
        return parse_event(body).session.id
    except EventParseError:
        return None


def note(label: str) -> None:
    """Count the kind of answer in hypothesis' statistics (inside a hypothesis test only)."""
    if currently_in_test_context():
        event(label)


def check(response: GatewayResponse, body: bytes | str) -> None:
    """The contract for every answer, whatever the request."""
    assert response.status < 500, response.text
    if 400 <= response.status < 500:
        error = json.loads(response.body)
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
        assert "Traceback" not in response.text and 'File "' not in response.text
        assert MARKER not in response.text
        note(f"{response.status} {error['code']}")
        return
    note(str(response.status))
    if response.status == 204:
        assert response.body == b""
        return
    assert response.status == 200
    actions = parse_reply(response.body)
    assert actions, "a 200 carries at least one action"
    assert REPLIES.is_valid(json.loads(response.body))
    assert {a.session_id for a in actions} == {session_of(body)}


@settings(
    max_examples=2_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(headers=HEADERS, body=bodies())
def test_no_request_gets_a_5xx_and_every_answer_keeps_the_contract(
    gateway: LocalGateway, headers: dict[str, str], body: bytes | str
) -> None:
    check(post(gateway, headers, body), body)


# A lone surrogate in the token header cannot be encoded: it is a wrong token (401), never a
# 500 before authentication.
SURROGATE_TOKENS = ["\ud800", TOKEN + "\udfff", "\udc00" + TOKEN[1:]]
VALID_BODY = json.dumps({"type": "session_start", "session": {"id": "fuzz-surrogate-token"}})


@pytest.mark.parametrize(
    "token", SURROGATE_TOKENS, ids=[f"token {i}" for i in range(len(SURROGATE_TOKENS))]
)
@pytest.mark.parametrize("body", [VALID_BODY, "{", ""], ids=["event", "not json", "empty"])
def test_a_lone_surrogate_token_is_refused_with_a_401(
    gateway: LocalGateway, token: str, body: str
) -> None:
    response = post(gateway, {"X-API-TOKEN": token}, body)
    check(response, body)
    assert response.status == 401
