"""Call records, call by call: what a record keeps, what it leaves out, what it costs.

Each test places a call through the real webhook (API Gateway → Lambda handler → DynamoDB in
moto) and reads the finished record from the records table, as ``aiflow calls`` does.
"""

from __future__ import annotations

import json
import time

from botocore.exceptions import EndpointConnectionError

from aiflow import Assistant
from aiflow.records import RecordPolicy, transcript_lines
from aiflow.records.store import item_record

from ..webhook.test_outages import failing
from .conftest import CALLER, LONG_SENTENCE, TRANSFER_TARGET, Desk, front_desk, post

DAY_S = 86_400
STORE_DOWN = EndpointConnectionError(endpoint_url="https://dynamodb.eu-central-1.amazonaws.com")


def only_record(desk: Desk) -> dict:
    (item,) = desk.record_items()
    return item_record(item)


def test_a_call_leaves_one_record_with_who_said_what_when_and_how_fast(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True, name="frontdesk")))

    call.start()
    call.say("I need the opening hours")
    call.press("3")
    call.stay_silent()
    call.say("bye")

    record = desk.records().get(call.session_id)
    assert record is not None
    assert record["assistant"] == "frontdesk"
    assert record["direction"] == "inbound"
    assert record["called"] == "+4921198765400"
    turns = record["turns"]
    assert [t["event"] for t in turns] == [
        "session_start",
        "user_speak",
        "dtmf_received",
        "user_input_timeout",
        "user_speak",
        "assistant_speech_ended",  # the hangup, released after the goodbye was heard
    ]
    assert turns[0]["reply"] == [{"say": "Hello, this is the front desk. How can I help?"}]
    assert turns[1]["caller"] == "I need the opening hours"
    assert turns[1]["reply"] == [{"say": "You said: I need the opening hours"}]
    assert turns[2]["keys"] == "3"
    assert turns[2]["reply"][-1] == {"say": "You pressed 3."}
    assert turns[3]["reply"] == [{"say": "Are you still there?"}]
    assert turns[5]["reply"] == [{"do": "hangup"}]
    for turn in turns:
        assert turn["answer_ms"] >= turn.get("handler_ms", 0) >= 0
        assert record["started_at"] <= turn["at"] <= record["ended_at"]
    assert record["outcome"]["ended_by"] == "assistant"


def test_the_record_is_written_once_when_the_call_ends(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)))
    call.start()
    call.say("hello")

    assert desk.record_items() == []  # still going on: the record travels with the call
    assert desk.call_doc(call.session_id)["record"]["turns"][1]["caller"] == "hello"

    call.hang_up()

    (item,) = desk.record_items()
    assert item["session_id"] == {"S": call.session_id}
    assert item_record(item)["outcome"]["ended_by"] == "caller"


def test_the_callers_number_is_masked_unless_the_policy_says_otherwise(desk: Desk) -> None:
    masked = desk.call(desk.webhook(front_desk(record_calls=True)))
    masked.start()
    masked.hang_up()
    whole = desk.call(desk.webhook(front_desk(record_calls=RecordPolicy(mask_numbers=False))))
    whole.start()
    whole.hang_up()

    assert desk.records().get(masked.session_id)["caller"] == "+49*********78"
    assert desk.records().get(whole.session_id)["caller"] == CALLER
    (row,) = [r for r in desk.records().list() if r.session_id == masked.session_id]
    assert row.caller == "+49*********78"
    item = next(i for i in desk.record_items() if i["session_id"]["S"] == masked.session_id)
    assert CALLER not in json.dumps(item, default=str)
    assert CALLER not in json.dumps(item_record(item))


def test_what_the_caller_heard_of_an_interrupted_sentence_is_kept_beside_the_sentence(
    desk: Desk,
) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)))
    call.start()
    call.say("tell me the opening hours")
    now = int(time.time() * 1000)
    # The platform played the answer for a second of its four, then the caller talked over it.
    call.send(
        {
            "type": "assistant_speak",
            "text": LONG_SENTENCE,
            "duration_ms": 4000,
            "speech_started_at": now - 1000,
        }
    )
    call.say("and on Sundays?", barged_in=True)
    call.hang_up()

    record = desk.records().get(call.session_id)
    asked, interrupted = record["turns"][1], record["turns"][2]
    (sentence,) = asked["reply"]
    assert sentence["say"] == LONG_SENTENCE
    assert LONG_SENTENCE.startswith(sentence["heard"])
    heard_words = len(sentence["heard"].split())
    assert 3 <= heard_words <= 7, sentence["heard"]  # about a quarter of 23 words
    assert interrupted["barged_in"] is True and interrupted["caller"] == "and on Sundays?"
    # The history the assistant sees is cut the same way: one estimate, the framework's.
    history = desk.call_doc(call.session_id)["history"]
    assert {"role": "assistant", "text": sentence["heard"]} in [
        {"role": t["role"], "text": t["text"]} for t in history
    ]
    lines = transcript_lines(record)
    assert any(line.note.startswith(f'heard: "{sentence["heard"]}"') for line in lines)


def test_a_transferred_call_says_to_whom(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)))
    call.start()
    call.say("the operator please")
    call.hang_up()  # the platform ends our part of the call once it is transferred

    record = desk.records().get(call.session_id)
    assert record["outcome"]["ended_by"] == "transfer"
    assert record["outcome"]["transferred_to"] == TRANSFER_TARGET
    (row,) = desk.records().list()
    assert row.outcome == f"transferred to {TRANSFER_TARGET}"


def test_a_transfer_that_failed_brings_the_caller_back_into_the_record(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)), transfer_fails=True)
    call.start()
    call.say("operator")  # nobody answers: the caller is back with a second session_start
    call.say("bye")

    record = desk.records().get(call.session_id)
    back = next(t for t in record["turns"] if t.get("resumed"))
    assert back["transfer_failed"] == TRANSFER_TARGET
    assert back["reply"] == [{"say": "Sorry, nobody answered. How else can I help?"}]
    assert record["outcome"]["ended_by"] == "assistant"
    assert record["outcome"]["transfers_failed"] == [TRANSFER_TARGET]
    (row,) = desk.records().list()
    assert row.outcome == f"assistant hung up (transfer to {TRANSFER_TARGET} failed)"


def test_a_handler_error_is_recorded_by_its_type_never_its_message(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)), raise_errors=False)
    call.start()
    call.say("boom goes my secret")
    call.hang_up()

    record = desk.records().get(call.session_id)
    failed = record["turns"][1]
    assert failed["fallback"] == "handler_error"
    assert failed["error"] == "RuntimeError"
    assert record["outcome"]["fallbacks"] == 1
    text = json.dumps(record)
    assert text.count("boom goes my secret") == 1  # what the caller said, not the message
    assert "the caller said" not in text


def test_a_very_long_call_keeps_a_bounded_record_that_says_what_was_cut(desk: Desk) -> None:
    policy = RecordPolicy(max_bytes=6_000)
    call = desk.call(desk.webhook(front_desk(record_calls=policy)))
    call.start()
    for turn in range(60):
        call.say(f"question number {turn} about something rather long to say")
    call.say("bye")

    record = desk.records().get(call.session_id)
    size = len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= policy.max_bytes + 400  # the outcome is added after the last bound
    cut = record["cut"]
    assert cut["turns"] > 20
    assert record["started_at"] <= cut["from"] <= cut["to"] < record["turns"][2]["at"]
    assert record["turns"][0]["event"] == "session_start"  # the opening stays
    assert record["turns"][-2]["caller"] == "bye"  # the end stays
    lines = [line.text for line in transcript_lines(record)]
    assert any("turns" in text and "cut" in text for text in lines)
    assert desk.records().list()[0].turns == 63  # every turn is counted, cut or not


def test_the_record_expires_after_the_retention_period(desk: Desk) -> None:
    default = desk.call(desk.webhook(front_desk(record_calls=True)))
    default.start()
    default.hang_up()
    week = desk.call(desk.webhook(front_desk(record_calls=RecordPolicy(retention_days=7))))
    week.start()
    week.hang_up()

    expiry = {
        i["session_id"]["S"]: (int(i["expires_at"]["N"]), int(i["ended_at"]["N"]))
        for i in desk.record_items()
    }
    expires, ended = expiry[default.session_id]
    assert expires == ended // 1000 + 30 * DAY_S
    expires, ended = expiry[week.session_id]
    assert expires == ended // 1000 + 7 * DAY_S


def test_the_deployment_setting_switches_records_on_for_every_assistant_but_those_that_say_no(
    desk: Desk,
) -> None:
    on = desk.call(desk.webhook(front_desk(), record_calls=True))
    on.start()
    on.hang_up()
    refused = desk.call(desk.webhook(front_desk(record_calls=False), record_calls=True))
    refused.start()
    refused.hang_up()

    assert [i["session_id"]["S"] for i in desk.record_items()] == [on.session_id]
    assert "record" not in desk.call_doc(refused.session_id)


def test_records_are_off_by_default_no_item_and_no_request(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk()))
    assert desk.requests is not None

    made = desk.requests.during(lambda: (call.start(), call.say("hi"), call.say("bye")))

    assert desk.record_items() == []
    assert "record" not in desk.call_doc(call.session_id)
    assert {table for _, table in made} == {desk.calls_table}


def test_a_record_costs_no_request_of_its_own_but_one_put_per_call(desk: Desk) -> None:
    """Event by event, the same requests with and without records; at the end one PutItem to
    the records table."""
    assert desk.requests is not None

    def requests_of(record_calls: bool) -> list[list[tuple[str, str]]]:
        call = desk.call(desk.webhook(front_desk(record_calls=record_calls)))
        steps = [
            call.start,
            lambda: call.say("hello"),
            lambda: call.press("12"),
            call.stay_silent,
            lambda: call.say("and then", barged_in=True),
            lambda: call.say("bye"),
        ]
        return [desk.requests.during(step) for step in steps]

    without, with_records = requests_of(False), requests_of(True)

    assert with_records[:-1] == without[:-1]
    last_without, last_with = without[-1], with_records[-1]
    assert last_with == [*last_without, ("PutItem", desk.records_table)]


def test_a_failing_records_table_never_reaches_the_caller(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True), records_table="no-such-table"))
    call.start()
    turn = call.say("bye")

    assert turn.expect.speak(contains="Goodbye")
    assert all(exchange.status in (200, 204) for exchange in turn.exchanges)
    assert call.state == "ended"
    assert desk.call_doc(call.session_id)["record"]["outcome"]["ended_by"] == "assistant"


def test_an_outbound_call_masks_the_called_number(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)), direction="outbound")
    call.start()
    call.hang_up()

    record = desk.records().get(call.session_id)
    assert record["direction"] == "outbound"
    # The other party of an outbound call is the callee (to_phone_number): masked.
    assert record["called"] == "+49*********78"
    assert record["outcome"]["ended_by"] == "callee"


def test_a_silence_nothing_handles_is_the_one_event_written_for_the_record_alone(
    desk: Desk,
) -> None:
    """Without a handler and with nothing held, a silence changes nothing but the record:
    recording it costs that event a PutItem (every other event writes anyway or not at all)."""
    assert desk.requests is not None

    def silence_requests(record_calls: bool) -> list[tuple[str, str]]:
        quiet = Assistant(f"quiet-{record_calls}", record_calls=record_calls)
        quiet.on_session_start(lambda: "Hello.")
        call = desk.call(desk.webhook(quiet))
        call.start()
        return desk.requests.during(call.stay_silent)

    assert silence_requests(False) == [("GetItem", desk.calls_table)]
    assert silence_requests(True) == [("GetItem", desk.calls_table), ("PutItem", desk.calls_table)]


def test_turns_lost_to_a_store_outage_are_noted_when_the_store_is_back(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)))
    call.start()
    with failing(desk.client, "GetItem", STORE_DOWN):
        for _ in range(3):  # the third failure in a row ends the call politely
            status, body = post(call, {"type": "user_speak", "text": "is anybody there?"})
    assert b"hangup" not in body  # the outage sentence; the hangup waits for its end
    post(call, {"type": "assistant_speech_ended"})  # the owed hangup, from this process
    call.send({"type": "session_end"})  # the store is back

    record = desk.records().get(call.session_id)
    noted = next(t for t in record["turns"] if t["event"] == "store_trouble")
    assert noted["failures"] >= 3 and noted["outage"] is True
    assert record["outcome"]["ended_by"] == "outage"
    assert record["outcome"]["store_failures"] == noted["failures"]
    lines = [line.text for line in transcript_lines(record)]
    assert any("failed to reach the call store" in text for text in lines)


def test_a_short_store_failure_is_counted_and_the_call_goes_on(desk: Desk) -> None:
    call = desk.call(desk.webhook(front_desk(record_calls=True)))
    call.start()
    with failing(desk.client, "GetItem", STORE_DOWN):
        post(call, {"type": "user_speak", "text": "hello?"})  # the caller hears the fallback
    call.say("hello again")
    call.hang_up()

    record = desk.records().get(call.session_id)
    events = [t["event"] for t in record["turns"]]
    assert events[:3] == ["session_start", "store_trouble", "user_speak"]
    assert record["outcome"]["store_failures"] == 1
    assert record["outcome"]["ended_by"] == "caller"
