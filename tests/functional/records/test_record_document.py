"""The record document on its own: merging two events' records, the transcript it reads as,
the policy's limits."""

from __future__ import annotations

import copy

import pytest

from aiflow import Assistant, RecordPolicy
from aiflow.merge import merge_docs
from aiflow.records import RecordPolicyError, header, policy_for, transcript_lines
from aiflow.records.document import bound, new_entry, new_record, outcome
from aiflow.records.transcript import format_duration, format_offset

START = 1_767_355_200_000


def record_with(*entries: dict) -> dict:
    doc = new_record(
        session_id="s-1",
        started_at=START,
        direction="inbound",
        caller="+4917612345678",
        called="+4921198765400",
        assistant="desk",
        mask=True,
    )
    doc["turns"] = [copy.deepcopy(e) for e in entries]
    return doc


def entry(event: str, at: int, **fields: object) -> dict:
    made = new_entry(event, START + at)
    made.update(fields)
    return made


def test_two_events_that_each_added_an_entry_are_merged_not_rerun() -> None:
    """A speech end releasing a hangup and a caller's words, saved at the same time."""
    greeting = entry("session_start", 0, reply=[{"say": "Hello"}])
    loaded = {"status": "active", "record": record_with(greeting)}
    ours = copy.deepcopy(loaded)
    ours["record"]["turns"].append(entry("user_speak", 900, caller="one more thing"))
    fresh = copy.deepcopy(loaded)
    fresh["record"]["turns"].append(entry("assistant_speech_ended", 800, reply=[{"do": "hangup"}]))

    merged = merge_docs(loaded, ours, fresh)

    assert merged is not None
    events = [e["event"] for e in merged["record"]["turns"]]
    assert events == ["session_start", "assistant_speech_ended", "user_speak"]


def test_a_merge_keeps_what_we_noted_on_an_entry_and_what_either_side_cut() -> None:
    first, second = entry("session_start", 0), entry("user_speak", 100, reply=[{"say": "Sure"}])
    loaded = {"record": record_with(first, second, entry("user_speak", 200))}
    ours = copy.deepcopy(loaded)
    ours["record"]["turns"][1]["reply"][0]["heard"] = "Su"  # the caller interrupted it
    fresh = copy.deepcopy(loaded)
    del fresh["record"]["turns"][2]  # their bound cut it
    fresh["record"]["cut"] = {"turns": 1, "bytes": 80, "from": START + 200, "to": START + 200}

    merged = merge_docs(loaded, ours, fresh)

    assert merged is not None
    turns = merged["record"]["turns"]
    assert [t["i"] for t in turns] == [first["i"], second["i"]]
    assert turns[1]["reply"][0]["heard"] == "Su"
    assert merged["record"]["cut"]["turns"] == 1


def test_the_outcome_counts_what_was_cut_as_well() -> None:
    doc = record_with(
        entry("session_start", 0),
        *[
            entry("user_speak", 10 * n, caller="x" * 200, fallback="handler_error")
            for n in range(20)
        ],
        entry("user_speak", 9_000, reply=[{"do": "transfer", "to": "+4930123456789"}]),
    )

    cut = bound(doc, 2_000)

    assert cut > 0 and doc["cut"]["turns"] == cut and doc["cut"]["fallbacks"] == cut
    result = outcome(doc)
    assert result["fallbacks"] == 20
    assert result["ended_by"] == "transfer"
    assert result["transferred_to"] == "+4930123456789"


def test_the_transcript_reads_who_said_what_when() -> None:
    doc = record_with(
        entry("session_start", 0, reply=[{"say": "Hello"}], handler_ms=2.0, answer_ms=14.2),
        entry(
            "user_speak",
            4_100,
            caller="opening hours",
            barged_in=True,
            reply=[{"say": "We open at nine", "heard": "We open"}],
            answer_ms=820.0,
        ),
        entry("dtmf_received", 9_000, keys="3"),
        entry("user_input_timeout", 12_000),
        entry("assistant_speech_ended", 15_000, reply=[{"do": "hangup"}]),
    )
    doc["ended_at"] = START + 15_500
    doc["outcome"] = outcome(doc)

    lines = [
        (format_offset(line.offset_ms), line.who, line.text, line.note)
        for line in transcript_lines(doc)
    ]

    assert lines == [
        ("+0:00.0", "call", "call starts", ""),
        ("+0:00.0", "assistant", "Hello", "handler 2 ms · answer 14 ms"),
        ("+0:04.1", "caller", "opening hours", "interrupts"),
        ("+0:04.1", "assistant", "We open at nine", 'heard: "We open" · answer 820 ms'),
        ("+0:09.0", "caller", "presses 3", ""),
        ("+0:12.0", "caller", "(silent)", ""),
        ("+0:15.0", "assistant", "hangs up", "after the speech ended"),
        ("+0:15.5", "call", "call ends: assistant hung up", ""),
    ]
    facts = header(doc)
    assert facts["from"] == "+49*********78" and facts["duration"] == "15.5s"
    assert format_duration(72_480) == "1m 12s"


def test_record_calls_follows_the_deployment_unless_the_assistant_says() -> None:
    assert policy_for(None, deployment=False) is None
    assert policy_for(None, deployment=True) == RecordPolicy()
    assert policy_for(False, deployment=True) is None
    assert policy_for(True, deployment=False) == RecordPolicy()
    strict = RecordPolicy(record_keys=False)
    assert policy_for(strict, deployment=False) is strict


@pytest.mark.parametrize(
    "bad",
    [
        {"max_bytes": 100},
        {"max_text_chars": 5},
        {"retention_days": 0},
        {"retention_days": 4000},
    ],
)
def test_a_policy_that_cannot_work_is_refused_when_it_is_made(bad: dict) -> None:
    with pytest.raises(RecordPolicyError):
        RecordPolicy(**bad)


def test_record_calls_takes_only_a_switch_or_a_policy() -> None:
    with pytest.raises(RecordPolicyError, match="record_calls"):
        Assistant("x", record_calls="yes")  # type: ignore[arg-type]
