"""What API Gateway gets back for each kind of event: 200 with actions, 204, 413, 404."""

from __future__ import annotations

import json

import pytest

from aiflow.lambda_ import Settings
from aiflow.local.gateway import LocalGateway
from aiflow.local.template import sample_events
from aiflow.store.dynamodb import item_doc
from aiflow.testing import CallSimulator

from .conftest import CALLER, EVENTS_DIR, Line


def test_the_greeting_is_one_speak_action_sent_as_a_json_object(call: CallSimulator) -> None:
    reply = call.deliver("session_start")

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert isinstance(reply.json, dict)
    assert reply.json == {
        "type": "speak",
        "session_id": call.session_id,
        "text": "Hello, this is the test line. How can I help?",
    }


def test_several_actions_are_sent_as_a_json_array_in_order(call: CallSimulator) -> None:
    call.deliver("session_start")

    reply = call.deliver("user_speak", text="What is on the menu?")

    assert reply.status == 200
    assert isinstance(reply.json, list)
    assert reply.said == ["Press 1 for sales.", "Press 2 for support."]
    assert {a.session_id for a in reply.actions} == {call.session_id}


def test_the_caller_hears_their_words_echoed(call: CallSimulator) -> None:
    call.deliver("session_start")

    assert call.deliver("user_speak", text="I need a table for two").said == [
        "You said: I need a table for two"
    ]
    assert call.deliver("dtmf_received", digit="7").said == ["You pressed 7."]


def test_events_without_anything_to_say_are_answered_204_with_an_empty_body(
    call: CallSimulator,
) -> None:
    call.deliver("session_start")

    for kind in ("assistant_speak", "assistant_speech_ended", "user_input_timeout"):
        reply = call.deliver(kind)
        assert reply.status == 204, kind
        assert reply.body == "", kind
        assert "content-type" not in reply.headers, kind


def test_session_end_is_answered_204_even_when_its_handler_returns_speech(
    line: Line, call: CallSimulator
) -> None:
    call.deliver("session_start")

    reply = call.deliver("session_end", reason="hangup")

    assert reply.status == 204
    assert reply.body == ""
    assert ("session_end", None) in line.ran  # the handler did run; its speech is dropped
    assert line.table.doc(call.session_id)["status"] == "ended"


def test_unknown_and_websocket_only_events_are_answered_204(call: CallSimulator) -> None:
    call.deliver("session_start")

    assert call.deliver("user_speech_started").status == 204
    assert call.deliver("call_recording_ready", url="https://example.com/x").status == 204
    assert call.deliver("sms_failed", error="unreachable").status == 204


def test_a_body_above_the_size_limit_is_answered_413_and_nothing_runs(line: Line) -> None:
    line.rebuild(settings=Settings(max_body_bytes=600))
    call = line.call(caller=CALLER)
    small = json.dumps(call.event("user_speak", text="short"))
    padding = "x" * (600 - len(json.dumps(call.event("user_speak", text=""))))

    at_limit = call.post(json.dumps(call.event("user_speak", text=padding)))
    too_big = call.post(json.dumps(call.event("user_speak", text=padding + "y")))

    assert len(small) < 600
    assert at_limit.status == 200
    assert too_big.status == 413
    assert too_big.json["code"] == "body_too_large"
    assert "600" in too_big.json["message"]
    assert [kind for kind, _ in line.ran] == ["user_speak"]  # only the one at the limit


def test_a_413_stores_nothing(line: Line) -> None:
    line.rebuild(settings=Settings(max_body_bytes=100))
    call = line.call(caller=CALLER)

    reply = call.deliver("session_start")

    assert reply.status == 413
    assert line.table.items() == []
    assert line.ran == []


# Powertools warns when a request ends without metrics, as a 404 does (reported, harmless).
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhook"),
        ("PUT", "/webhook"),
        ("DELETE", "/webhook"),
        ("POST", "/"),
        ("POST", "/webhook/extra"),
        ("GET", "/health"),
    ],
)
def test_other_routes_and_methods_get_a_json_error_and_run_nothing(
    line: Line, call: CallSimulator, method: str, path: str
) -> None:
    body = json.dumps(call.event("session_start"))

    reply = call.post(body, method=method, path=path)

    assert reply.status in (404, 405)
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.json) >= {"code", "message"}
    assert line.ran == []
    assert line.table.items() == []


def test_the_sample_events_replayed_unchanged_are_one_well_answered_call(line: Line) -> None:
    """Every file in infra/events as API Gateway delivers it (dev token included), in the
    order of their ``timeEpoch``: one call, with the caller back after a failed transfer."""
    events = sorted(
        sample_events(EVENTS_DIR).values(), key=lambda e: e["requestContext"]["timeEpoch"]
    )
    speaking = {"session_start", "user_speak", "dtmf_received"}
    seen: list[tuple[str, int]] = []
    gateway = LocalGateway(line.handler)

    for event in events:
        body = json.loads(event["body"])
        reply = gateway.invoke(event)
        kind = body["type"]
        answers = kind in speaking or (kind == "user_barge_in" and bool(body.get("text")))
        assert reply.status == (200 if answers else 204), (kind, reply.text)
        if reply.status == 200:
            decoded = json.loads(reply.body)
            for action in decoded if isinstance(decoded, list) else [decoded]:
                assert action["session_id"] == body["session"]["id"]
        seen.append((kind, reply.status))

    assert [kind for kind, _ in seen].count("session_start") == 2
    assert line.receptionist.resumes == [(False, None), (True, "active")]
    assert seen[-1] == ("session_end", 204)
    (item,) = line.table.items()
    assert item_doc(item)["status"] == "ended"
