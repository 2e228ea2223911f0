"""Several events of one call at the same time: no caller turn lost, none applied twice.

The threads below run the real handler concurrently: they load the call, run the assistant
and save with a conditional PutItem in any interleaving, retrying when they lose a race.

About moto: its in-process mock is safe to call from several threads (boto3 clients are
thread-safe and moto's backend is plain Python state), but its DynamoDB backend evaluates a
``ConditionExpression`` and then writes the item as two separate Python steps without a
lock, so in rare interleavings two conditional writes could both succeed, which real
DynamoDB never allows. Moto's server mode (``ThreadedMotoServer``) runs the same backend in
request threads and has the same gap. The ``atomic_dynamodb`` fixture therefore gives each
GetItem and PutItem request the atomicity DynamoDB guarantees for single-item requests; it
does not serialise anything else, so the webhook's own races are fully exercised.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from aiflow import TurnPolicy
from aiflow.settings import Settings
from aiflow.testing import CallSimulator, Exchange

from .conftest import Line

THREADS = 8
ROUNDS = 3
# Lambda runs one invocation per process at a time; here threads share one handler, so one
# invocation may flush the metrics another added and the other then flushes none.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    lock = threading.RLock()
    for name in ("put_item", "get_item"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)
    yield


def run_together(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; return the results."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def test_eight_callers_turns_arriving_at_once_are_each_stored_exactly_once(
    line: Line, atomic_dynamodb: None
) -> None:
    line.assistant.policy = TurnPolicy(history_limit=1000)
    # No update may be lost: that is what this checks, not timing. Eight writers to one
    # record on a busy two-core machine may need longer than a phone turn's budget (then the
    # caller would rightly hear the fallback), so the budgets are generous here.
    line.rebuild(settings=Settings(answer_budget_ms=20_000, turn_budget_ms=19_000))
    call = line.call()
    call.deliver("session_start")
    said: list[str] = []

    for round_ in range(ROUNDS):
        texts = [f"round {round_} caller {i}" for i in range(THREADS)]
        replies: list[Exchange] = run_together(
            THREADS, lambda i, texts=texts: call.deliver("user_speak", text=texts[i])
        )
        for text, reply in zip(texts, replies, strict=True):
            assert reply.status == 200
            assert reply.said == [f"You said: {text}"], "a turn got the fallback"
        said += texts

    doc = line.table.doc(call.session_id)
    callers = Counter(t["text"] for t in doc["history"] if t["role"] == "caller")
    answers = Counter(t["text"] for t in doc["history"] if t["role"] == "assistant")
    assert callers == Counter(said)  # every turn, none twice
    assert all(answers[f"You said: {text}"] == 1 for text in said)
    assert doc["state"]["turns"] == len(said)
    # One save for session_start, then one per turn; lost races did not save.
    assert line.table.version(call.session_id) == 1 + len(said)
    puts = Counter(line.requests.operations)["PutItem"]
    assert puts >= 1 + len(said)


def test_a_pending_hangup_is_delivered_once_when_speech_end_events_race(
    line: Line, atomic_dynamodb: None
) -> None:
    call = line.call()
    call.deliver("session_start")
    assert call.deliver("user_speak", text="goodbye").said == ["Goodbye!"]

    replies = run_together(THREADS, lambda _: call.deliver("assistant_speech_ended"))

    statuses = Counter(r.status for r in replies)
    assert statuses == Counter({200: 1, 204: THREADS - 1})
    (delivered,) = [r for r in replies if r.status == 200]
    assert delivered.types == ["hangup"]
    assert line.table.pending(call.session_id) == []


def test_turns_of_different_calls_do_not_interfere(line: Line, atomic_dynamodb: None) -> None:
    calls: list[CallSimulator] = [line.call() for _ in range(THREADS)]
    for call in calls:
        call.deliver("session_start")

    replies = run_together(
        THREADS, lambda i: calls[i].deliver("user_speak", text=f"I am caller {i}")
    )

    assert [r.said for r in replies] == [[f"You said: I am caller {i}"] for i in range(THREADS)]
    for call in calls:
        assert line.table.version(call.session_id) == 2
        assert line.table.doc(call.session_id)["state"]["turns"] == 1
