"""Two events of one call at once: when they change different parts of the call, the later
save is merged into the earlier one and no handler runs twice; when they change the same
part, the loser reruns on the newer record, and ``call.once`` keeps a side effect to one run.

The race is forced, not hoped for: both events load the same version before either saves
(a barrier inside the handlers), on a DynamoDB table in moto built from template.yaml.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from aiflow import Assistant, Call, DtmfReceivedEvent, UserSpeakEvent, parse_event
from aiflow.report import TurnReport
from aiflow.store.dynamodb import DynamoDBStore
from aiflow.turns import TurnEngine

SESSION = {"id": "9a1b2c3d-0000-4000-8000-00000000c0de", "phone_number": "+4921198765400"}


@pytest.fixture
def store(moto_calls_store: DynamoDBStore) -> DynamoDBStore:
    return moto_calls_store


def event(kind: str, **fields: Any) -> Any:
    return parse_event({"type": kind, "session": SESSION, **fields})


def at_once(engine: TurnEngine, *events: Any) -> list[TurnReport]:
    """Process ``events`` concurrently; the reports in the order of ``events``."""
    reports: list[TurnReport | None] = [None] * len(events)

    def run(i: int) -> None:
        reports[i] = engine.run(events[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert all(r is not None for r in reports)
    return [r for r in reports if r is not None]


class Counted:
    """An assistant whose handlers count their runs and wait for each other once (so that
    both events have loaded the same version of the call before either saves)."""

    def __init__(self, parties: int = 2) -> None:
        self.assistant = Assistant("counted")
        self.runs: list[str] = []
        self.barrier = threading.Barrier(parties, timeout=5)
        self.waited = 0
        self.lock = threading.Lock()

    def meet(self) -> None:
        with self.lock:
            first_round = self.waited < self.barrier.parties
            self.waited += 1
        if first_round:
            self.barrier.wait()


def test_two_events_changing_different_keys_are_merged_and_no_handler_runs_twice(
    store: DynamoDBStore,
) -> None:
    counted = Counted()
    assistant = counted.assistant

    @assistant.on_user_speak
    def note_topic(event: UserSpeakEvent, call: Call) -> str:
        counted.runs.append("user_speak")
        call.state["topic"] = event.text
        counted.meet()
        return "Noted."

    @assistant.on_dtmf
    def note_key(event: DtmfReceivedEvent, call: Call) -> str:
        counted.runs.append("dtmf")
        call.state["key"] = event.digit
        counted.meet()
        return f"Key {event.digit}."

    engine = TurnEngine(assistant, store)
    engine.run(event("session_start"))

    speak, key = at_once(
        engine, event("user_speak", text="invoices"), event("dtmf_received", digit="7")
    )

    assert sorted(counted.runs) == ["dtmf", "user_speak"], "each handler ran exactly once"
    assert speak.reruns == key.reruns == 0
    assert speak.conflicts + key.conflicts == 1 and speak.merges + key.merges == 1
    stored = store.load(SESSION["id"])
    assert stored is not None
    assert stored.doc["state"] == {"topic": "invoices", "key": "7"}
    said = [t["text"] for t in stored.doc["history"] if t["role"] == "assistant"]
    assert sorted(said) == ["Key 7.", "Noted."]  # both answers are in the history


def test_two_events_changing_the_same_key_rerun_the_loser_on_the_newer_record(
    store: DynamoDBStore,
) -> None:
    counted = Counted()
    assistant = counted.assistant

    @assistant.on_dtmf
    def count(call: Call) -> str:
        counted.runs.append("dtmf")
        call.state["keys"] = call.state.get("keys", 0) + 1
        counted.meet()
        return f"{call.state['keys']} keys."

    engine = TurnEngine(assistant, store)
    engine.run(event("session_start"))

    reports = at_once(engine, event("dtmf_received", digit="1"), event("dtmf_received", digit="2"))

    assert len(counted.runs) == 3, "the loser ran again on the newer record"
    assert sum(r.reruns for r in reports) == 1 and sum(r.merges for r in reports) == 0
    stored = store.load(SESSION["id"])
    assert stored is not None and stored.doc["state"]["keys"] == 2  # no update lost


def test_a_side_effect_in_call_once_runs_once_although_its_handler_is_rerun(
    store: DynamoDBStore,
) -> None:
    counted = Counted()
    assistant = counted.assistant
    booked: list[str] = []

    def book(slot: str) -> str:
        booked.append(slot)
        return f"B-{len(booked)}"

    @assistant.on_user_speak
    def booking(event: UserSpeakEvent, call: Call) -> str:
        counted.runs.append(event.text)
        number = call.once(f"book:{event.text}", lambda: book(event.text))
        call.state["bookings"] = [*call.state.get("bookings", []), number]
        counted.meet()
        return f"Booked, your number is {number}."

    engine = TurnEngine(assistant, store)
    engine.run(event("session_start"))

    first, second = at_once(
        engine, event("user_speak", text="monday 9"), event("user_speak", text="tuesday 10")
    )

    assert len(counted.runs) == 3, "one of the two handlers ran twice (a forced conflict)"
    assert sorted(booked) == ["monday 9", "tuesday 10"], "but each booking happened once"
    stored = store.load(SESSION["id"])
    assert stored is not None
    assert sorted(stored.doc["state"]["bookings"]) == ["B-1", "B-2"]
    heard = [a.text for r in (first, second) for a in r.actions if hasattr(a, "text")]
    assert sorted(heard) == ["Booked, your number is B-1.", "Booked, your number is B-2."]


def test_the_worker_rerunning_a_slow_turn_reuses_the_side_effect_of_the_abandoned_run(
    store: DynamoDBStore,
) -> None:
    """The webhook gives up on a slow handler (the caller hears a filler) and the worker runs
    it again: the effect the abandoned run already made is not made a second time."""
    assistant = Assistant("slow booking")
    released = threading.Event()
    booked: list[int] = []

    @assistant.on_user_speak
    def booking(call: Call) -> str:
        number = call.once("book", lambda: booked.append(1) or len(booked))
        released.wait(5)  # the first run is slow: it outlives the turn budget
        return f"Booked: {number}."

    payloads: list[dict[str, Any]] = []
    from aiflow.turns import TurnLimits

    webhook = TurnEngine(assistant, store, limits=TurnLimits(turn_budget_ms=300))
    webhook.deferrer = payloads.append
    webhook.run(event("session_start"))
    filler = webhook.run(event("user_speak", text="book me in"))
    assert filler.deferred and payloads

    released.set()
    worker = TurnEngine(assistant, store)
    done = worker.finish_slow_turn(payloads[0])
    assert not done.abandoned and done.reason is None
    delivered = webhook.run(event("assistant_speech_ended"))

    assert booked == [1], "the worker's rerun reused the abandoned run's booking"
    assert [a.text for a in delivered.actions] == ["Booked: 1."]
