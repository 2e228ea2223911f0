"""A handler whose ``call.state`` grows without bound fails its turn, not the call record.

Over ``TurnPolicy.state_max_bytes`` the turn is not saved, the caller hears the fallback,
and the log line names the key that grew and its size, never its content. The call goes
on: a turn that does not grow the state is answered and saved as usual.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiflow import Assistant, Call, TurnPolicy, UserSpeakEvent

from .conftest import Table, call, unique

SECRET = "Meine Versichertennummer ist A123456789"


def notetaker() -> Assistant:
    """Keeps every word the caller says in ``call.state["notes"]`` (a bug: unbounded)."""
    assistant = Assistant(unique("notes"), policy=TurnPolicy(state_max_bytes=18_000))

    @assistant.on_user_speak
    def note(event: UserSpeakEvent, call: Call) -> str:
        if event.text != "Danke":
            call.state.setdefault("notes", []).append(event.text * 100)
        call.state["turns"] = call.state.get("turns", 0) + 1
        return "Notiert."

    return assistant


def test_a_turn_that_grows_the_state_over_its_limit_gets_the_fallback_and_saves_nothing(
    webhook: Any, table: Table, capsys: pytest.CaptureFixture[str]
) -> None:
    assistant = notetaker()
    phone = call(webhook(assistant))
    capsys.readouterr()
    answers = [phone.say(SECRET) for _ in range(6)]  # 4 KB a turn: the fifth is too much
    version = int(table.item(phone.session_id)["version"]["N"])  # type: ignore[index]
    after = phone.say("Danke")
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]

    assert [a.said for a in answers] == [["Notiert."]] * 4 + [[assistant.fallback]] * 2
    assert phone.statuses == {200}
    assert after.said == ["Notiert."]
    doc = table.doc(phone.session_id)
    assert len(doc["state"]["notes"]) == 4 and doc["state"]["turns"] == 5
    assert int(table.item(phone.session_id)["version"]["N"]) == version + 1  # type: ignore[index]
    failures = [line for line in logs if line.get("message", "").startswith("the caller hears")]
    assert len(failures) == 2 and all(line["level"] == "WARNING" for line in failures)
    assert "the largest key is 'notes'" in failures[0]["message"]
    assert "TurnPolicy.state_max_bytes" in failures[0]["message"]
    text = json.dumps(logs, ensure_ascii=False)
    assert "Versichertennummer" not in text and "A123456789" not in text
