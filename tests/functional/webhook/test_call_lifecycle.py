"""A call across events: speech before hangup/transfer, the caller back after a failed
transfer, and call records that outlived their TTL."""

from __future__ import annotations

import json
import time

import pytest

from aiflow.store.dynamodb import DynamoDBStore
from aiflow.testing import CallSimulator

from .conftest import CALLER, TRANSFER_TARGET, Line

GREETING = "Hello, this is the test line. How can I help?"


# --- actions after speech ------------------------------------------------------------------------


def test_goodbye_is_spoken_first_and_the_hangup_follows_when_the_speech_has_ended(
    line: Line, call: CallSimulator
) -> None:
    call.deliver("session_start")

    farewell = call.deliver("user_speak", text="that's all, goodbye")

    assert farewell.status == 200
    assert farewell.types == ["speak"]  # only the speech: hanging up now would cut it off
    assert farewell.said == ["Goodbye!"]
    assert line.table.pending(call.session_id) == [
        {"type": "hangup", "session_id": call.session_id}
    ]

    assert call.deliver("assistant_speak", text="Goodbye!", duration_ms=800).status == 204
    assert line.table.pending(call.session_id) != []  # still playing

    ended = call.deliver("assistant_speech_ended")

    assert ended.status == 200
    assert ended.json == {"type": "hangup", "session_id": call.session_id}
    assert line.table.pending(call.session_id) == []
    assert call.deliver("assistant_speech_ended").status == 204  # delivered once


def test_the_transfer_waits_for_the_announcement_to_finish(line: Line, call: CallSimulator) -> None:
    call.deliver("session_start")

    announcement = call.deliver("user_speak", text="the operator, please")

    assert announcement.types == ["speak"]
    assert announcement.said == ["Connecting you to the operator."]
    (pending,) = line.table.pending(call.session_id)
    assert pending["type"] == "transfer"

    transfer = call.deliver("assistant_speech_ended")

    assert transfer.status == 200
    assert transfer.json == {
        "type": "transfer",
        "session_id": call.session_id,
        "target_phone_number": TRANSFER_TARGET.lstrip("+"),
        "caller_id_name": "Test line",
        "caller_id_number": "4921155555555",
        "timeout": 20,
    }
    assert line.table.doc(call.session_id)["status"] == "transferring"
    assert line.table.item(call.session_id)["status"] == {"S": "transferring"}


def test_after_speech_holds_back_any_actions_until_the_speech_has_ended(
    line: Line, call: CallSimulator
) -> None:
    call.deliver("session_start")

    first = call.deliver("user_speak", text="tell me two things")

    assert first.said == ["First thing."]
    assert [a["type"] for a in line.table.pending(call.session_id)] == [
        "barge_in",
        "speak",
    ]

    second = call.deliver("assistant_speech_ended")

    assert isinstance(second.json, list)
    assert second.types == ["barge_in", "speak"]
    assert second.said == ["Second thing."]
    history = [t["text"] for t in line.table.doc(call.session_id)["history"]]
    assert history[-2:] == ["First thing.", "Second thing."]


def test_a_user_input_timeout_also_releases_the_pending_hangup(
    line: Line, call: CallSimulator
) -> None:
    call.deliver("session_start")
    call.deliver("user_speak", text="goodbye")

    reply = call.deliver("user_input_timeout")

    assert reply.types == ["hangup"]


def test_the_caller_speaking_before_the_farewell_ended_does_not_lose_the_hangup(
    line: Line, call: CallSimulator
) -> None:
    call.deliver("session_start")
    call.deliver("user_speak", text="goodbye")

    interjection = call.deliver("user_speak", text="thanks", barged_in=True)

    assert interjection.said == ["You said: thanks"]
    assert call.deliver("assistant_speech_ended").types == ["hangup"]


# --- the caller back after a failed transfer ---------------------------------------------------


def test_a_repeated_session_start_continues_the_call_after_a_failed_transfer(
    line: Line, call: CallSimulator
) -> None:
    call.deliver("session_start")
    call.deliver("user_speak", text="I want a table")
    call.deliver("user_speak", text="operator please")
    assert call.deliver("assistant_speech_ended").types == ["transfer"]
    history_before = line.table.doc(call.session_id)["history"]

    # Nobody picked up within the timeout: the platform sends session_start again.
    back = call.deliver("session_start")

    assert back.said == ["Welcome back. The line was busy."]
    assert line.receptionist.resumes == [(False, None), (True, "transferring")]
    doc = line.table.doc(call.session_id)
    assert doc["state"]["turns"] == 2  # kept, not reset
    assert doc["status"] == "active"
    assert doc["history"][: len(history_before)] == history_before
    assert call.deliver("user_speak", text="never mind").said == ["You said: never mind"]
    assert line.table.doc(call.session_id)["state"]["turns"] == 3


# --- TTL -------------------------------------------------------------------------------------


def test_the_table_expires_items_on_the_attribute_the_store_writes(
    line: Line, call: CallSimulator
) -> None:
    call.deliver("session_start")

    ttl = line.table.client.describe_time_to_live(TableName=line.table.name)
    item = line.table.item(call.session_id)

    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert int(item["expires_at"]["N"]) > time.time()
    assert set(item) == {"session_id", "version", "expires_at", "status", "doc"}


def test_an_expired_record_not_yet_deleted_by_dynamodb_is_no_call(line: Line) -> None:
    call = line.call(caller=CALLER)
    stale = {
        "session_id": call.session_id,
        "account_id": "a1b2c3",
        "caller": CALLER,
        "status": "transferring",
        "started_at": 1,
        "state": {"turns": 41, "secret": "from an old call"},
        "history": [{"role": "caller", "text": "old words", "at": 1}],
        "pending": [{"type": "hangup", "session_id": call.session_id}],
    }
    line.table.client.put_item(
        TableName=line.table.name,
        Item={
            "session_id": {"S": call.session_id},
            "version": {"N": "7"},
            "expires_at": {"N": str(int(time.time()) - 60)},
            "status": {"S": "transferring"},
            "doc": {"S": json.dumps(stale)},
        },
    )

    reply = call.deliver("session_start")

    assert reply.said == [GREETING]  # not "welcome back"
    assert line.receptionist.resumes == [(False, None)]
    doc = line.table.doc(call.session_id)
    assert doc["state"] == {"turns": 0}
    assert [t["text"] for t in doc["history"]] == [GREETING]
    assert doc.get("pending") is None
    assert line.table.version(call.session_id) == 1  # saved over the expired item
    assert int(line.table.item(call.session_id)["expires_at"]["N"]) > time.time()
    assert call.deliver("assistant_speech_ended").status == 204  # the old hangup is gone


@pytest.mark.parametrize("first_event", ["session_start", "user_speak"])
def test_a_call_whose_ttl_passed_on_the_stores_clock_starts_afresh(
    line: Line, first_event: str
) -> None:
    now = [1_800_000_000.0]
    store = DynamoDBStore(line.table.name, client=line.client, ttl_seconds=60, clock=lambda: now[0])
    line.rebuild(store=store)
    call = line.call(caller=CALLER)
    call.deliver("session_start")
    call.deliver("user_speak", text="first visit")
    assert line.table.item(call.session_id)["expires_at"] == {"N": str(1_800_000_000 + 60)}

    now[0] += 30  # within the TTL: the same call, and the save extends it
    assert call.deliver("user_speak", text="still here").said == ["You said: still here"]
    assert line.table.item(call.session_id)["expires_at"] == {"N": str(1_800_000_030 + 60)}
    assert line.table.doc(call.session_id)["state"]["turns"] == 2

    now[0] += 61  # past the TTL
    if first_event == "session_start":
        reply = call.deliver("session_start")
        assert reply.said == [GREETING]
        assert line.receptionist.resumes[-1] == (False, None)
        expected_turns = 0
    else:
        reply = call.deliver("user_speak", text="new day")
        assert reply.said == ["You said: new day"]
        expected_turns = 1

    doc = line.table.doc(call.session_id)
    assert doc["state"]["turns"] == expected_turns
    assert "first visit" not in [t["text"] for t in doc["history"]]
    assert line.table.version(call.session_id) == 1
