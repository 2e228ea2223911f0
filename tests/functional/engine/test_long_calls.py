"""A long call with long transcripts never outgrows its record (DynamoDB refuses 400 KB).

200 turns of 17 KB transcripts each, through the webhook Lambda handler on the moto table:
the history is bounded by count and bytes (one turn cut at 4000 characters), the record is
compressed and stays far below the store's 350 KB limit, and no turn falls back. The same
with the receptionist taking a 17 KB message on every second turn: it keeps at most 20
messages of 2000 characters.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from aiflow import Assistant, UserSpeakEvent
from aiflow.policy import TurnPolicy
from receptionist.app import build_assistant
from receptionist.config import load_config
from receptionist.state import MAX_MESSAGE_CHARS, MAX_MESSAGES

from .conftest import Table, call, unique

TURNS = 200
RECORD_LIMIT = 350_000


WORDS = (
    "ich brauche einen Termin wegen meiner Rückenschmerzen und außerdem ein neues Rezept für "
    "Ibuprofen Überweisung zum Orthopäden nächste Woche Dienstag oder Donnerstag vormittags "
    "geht nicht wegen der Arbeit meine Tochter hat seit gestern Fieber Husten Halsschmerzen"
).split()


def transcript(turn: int) -> str:
    """17 KB of what a caller might say in one long turn, as varied as speech (so that
    compression alone would not keep an unbounded history small)."""
    pick = random.Random(turn)
    text = f"Turn {turn}:"
    while len(text) < 17_000:
        text += f" {pick.choice(WORDS)}{pick.randrange(100)}"
    return text[:17_000]


def echo_line() -> Assistant:
    assistant = Assistant(unique("long-call"), language="de-DE")

    @assistant.on_session_start
    def greet() -> str:
        return "Guten Tag, ich höre."

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent) -> str:
        return f"Notiert: {event.text[:60]} … ({len(event.text)} Zeichen)"

    return assistant


def check_record(table: Table, session_id: str, policy: TurnPolicy) -> None:
    doc = table.doc(session_id)
    history = doc["history"]
    assert len(history) <= policy.history_limit
    size = len(json.dumps(history, ensure_ascii=False).encode())
    assert size <= policy.history_max_bytes
    assert all(len(turn["text"]) <= 4000 for turn in history)
    assert table.stored_bytes(session_id) < RECORD_LIMIT / 3


@pytest.mark.slow
def test_a_200_turn_call_with_17_kb_transcripts_never_falls_back(
    webhook: Any, table: Table
) -> None:
    assistant = echo_line()
    phone = call(webhook(assistant))
    phone.start()
    phone.play()
    for turn in range(TURNS):
        answer = phone.say(transcript(turn))
        assert answer.said and answer.said != [assistant.fallback], f"turn {turn}: {answer}"
        phone.play()
    check_record(table, phone.session_id, assistant.policy)
    phone.hang_up()

    assert phone.statuses <= {200, 204}
    assert assistant.fallback not in phone.heard
    assert len(phone.heard) == TURNS + 1


@pytest.mark.slow
def test_the_receptionist_taking_a_17_kb_message_every_other_turn_never_falls_back(
    webhook: Any, table: Table
) -> None:
    assistant = build_assistant(load_config())
    phone = call(webhook(assistant, service=unique("receptionist")))
    phone.start()
    phone.play()
    for turn in range(TURNS // 2):
        for text in ("Ich möchte eine Nachricht hinterlassen.", transcript(turn)):
            answer = phone.say(text)
            assert answer.said and answer.said != [assistant.fallback], f"turn {turn}: {answer}"
            phone.play()
    check_record(table, phone.session_id, assistant.policy)
    messages = table.doc(phone.session_id)["state"]["messages"]
    phone.hang_up()

    assert phone.statuses <= {200, 204}
    assert len(messages) == MAX_MESSAGES
    assert all(len(m["text"]) == MAX_MESSAGE_CHARS for m in messages)
    assert messages[-1]["text"].startswith(f"Turn {TURNS // 2 - 1}:")
