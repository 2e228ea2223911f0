"""A call whose store keeps failing is ended politely (``OutagePolicy``).

After three events in a row that failed because DynamoDB was unreachable, the caller hears
the outage sentence (not interruptible) instead of the fallback, and the hangup (or the
configured transfer) follows on that sentence's end, all without the store: the Lambda
instance remembers. A store that recovers in between resets the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import EndpointConnectionError

from aiflow import Assistant, OutagePolicy, TurnPolicy, transfer

from .conftest import Table, call, unique


def line(policy: TurnPolicy | None = None) -> Assistant:
    assistant = Assistant(unique("outage"), language="de-DE", policy=policy)

    @assistant.on_session_start
    def greet() -> str:
        return "Praxis Weber, guten Tag."

    @assistant.on_user_speak
    def answer() -> str:
        return "Gern."

    return assistant


@contextmanager
def dynamodb_down(handler: Any) -> Iterator[None]:
    """Every request of the webhook's DynamoDB client fails to connect."""
    client = handler.engine.store.client

    def refuse(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=client.meta.endpoint_url)

    client.meta.events.register_first("before-send.dynamodb", refuse)
    try:
        yield
    finally:
        client.meta.events.unregister("before-send.dynamodb", refuse)


def test_three_turns_without_the_store_end_the_call_after_the_outage_sentence(
    webhook: Any, table: Table
) -> None:
    assistant = line()
    handler = webhook(assistant)
    phone = call(handler)
    phone.start()
    phone.play()

    with dynamodb_down(handler):
        for words in ("Hallo?", "Hören Sie mich?", "Hallo, ist da jemand?"):
            if phone.ended_by is None:
                phone.say(words)
                phone.play()  # the platform reports each speech: failed events, too

    assert phone.heard[1] == assistant.fallback
    assert phone.heard[-1] == assistant.outage_sentence
    assert phone.endings == ["hangup"]
    assert phone.cut == []
    assert phone.statuses <= {200, 204}
    (outage,) = [a for r in phone.answers for a in r.actions if a.get("text") == phone.heard[-1]]
    assert outage["barge_in"] == {"strategy": "none"}


def test_the_outage_policy_can_hand_the_call_on_instead(webhook: Any, table: Table) -> None:
    reception = transfer("+4921198765411", caller_id_name="Praxis", caller_id_number="+4921100")
    policy = TurnPolicy(outage=OutagePolicy(after_failures=2, transfer=reception))
    handler = webhook(line(policy))
    phone = call(handler)
    phone.start()
    phone.play()

    with dynamodb_down(handler):
        phone.say("Hallo?")
        phone.play()

    assert phone.heard[-1] == line(policy).outage_sentence
    assert phone.endings == ["transfer"]
    assert phone.answers[-1].actions[0]["target_phone_number"] == "4921198765411"


def test_a_store_that_recovers_between_failures_resets_the_count(
    webhook: Any, table: Table
) -> None:
    assistant = line()
    handler = webhook(assistant)
    phone = call(handler)
    phone.start()
    for _ in range(3):
        with dynamodb_down(handler):
            assert phone.say("Hallo?").said == [assistant.fallback]
            assert phone.say("Hallo?").said == [assistant.fallback]
        assert phone.say("Ah, jetzt.").said == ["Gern."]
        phone.queue.clear()  # the caller talked on: nothing left to play
    assert phone.endings == []
