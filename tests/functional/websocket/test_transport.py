"""The transport-independent WebSocket layer: streaming handlers, fillers, interruptions,
token checks and saves that race, with in-memory stores and a recording sender."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aiflow import (
    Assistant,
    Call,
    UserSpeakEvent,
    after_speech,
    hangup,
    send_sms,
    speak,
    transfer,
)
from aiflow.merge import merge_docs
from aiflow.replies import collect
from aiflow.store import MemoryStore
from aiflow.turns import TurnEngine
from aiflow.webhook import Webhook
from aiflow.ws import MemoryConnections, send, streaming

from .helpers import (
    ANSWER,
    SESSION_ID,
    TOKEN,
    FakeModel,
    Frames,
    event,
    streaming_assistant,
    transport_for,
)

# --- connecting -------------------------------------------------------------------------------


def test_connect_checks_the_token_like_the_webhook() -> None:
    transport = transport_for(Assistant())
    assert transport.connect({"X-API-TOKEN": TOKEN}) is None
    assert transport.connect({"x-api-token": TOKEN}) is None
    assert transport.connect({"X-API-Key": TOKEN}) is None
    for headers in ({}, {"X-API-TOKEN": "wrong"}, {"Authorization": TOKEN}):
        refused = transport.connect(headers)
        assert refused is not None and refused.status == 401
        assert json.loads(refused.body or "")["code"] == "unauthorized"


def test_connect_without_a_configured_token_or_an_unreadable_one_is_refused() -> None:
    nothing = transport_for(Assistant(), token=None)
    refused = nothing.connect({"X-API-TOKEN": TOKEN})
    assert refused is not None and refused.status == 401

    def broken() -> str:
        raise RuntimeError("secrets manager is down")

    failing = transport_for(Assistant(), token=broken)
    refused = failing.connect({"X-API-TOKEN": TOKEN})
    assert refused is not None and refused.status == 401  # refused, never a 5xx


# --- a whole call -----------------------------------------------------------------------------


def test_a_streamed_answer_arrives_sentence_by_sentence() -> None:
    model = FakeModel(token_s=0.02)
    transport = transport_for(streaming_assistant(model, user_input_timeout=6))
    frames = Frames()
    transport.receive("c-1", event("session_start"), frames)
    assert frames.texts() == ["Hello, how can I help?"]

    outcome = transport.receive("c-1", event("user_speak", text="When are you open?"), frames)
    assert outcome.reason is None and not outcome.fallback
    answer_frames = frames.frames[1:]
    # One frame per sentence, each sent while the model was still producing the next one.
    assert [f[1]["text"] for f in answer_frames] == [
        "Our practice is open from eight to six today.",
        "You can come by without an appointment until noon.",
        "After that, please call ahead so we can fit you in.",
        "Is there anything else I can do for you?",
    ]
    times = [t for t, _ in answer_frames]
    assert times == sorted(times) and times[-1] - times[0] > 0.3
    # Only the last sentence waits for the caller; the streamed ones carry no timeout.
    assert [f[1].get("user_input_timeout_seconds") for f in answer_frames] == [
        None,
        None,
        None,
        6,
    ]
    assert all(f[1]["session_id"] == SESSION_ID for f in answer_frames)
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert doc["state"] == {"questions": 1}
    assistant_turns = [t["text"] for t in doc["history"] if t["role"] == "assistant"]
    assert assistant_turns[1:] == [f[1]["text"] for f in answer_frames]


def test_a_hangup_after_streamed_speech_waits_for_every_sentence() -> None:
    assistant = Assistant("bye")

    @assistant.on_user_speak
    @streaming
    def answer() -> Iterator[Any]:
        yield "Thank you for calling."
        time.sleep(0.15)  # slow enough that the first sentence is sent on its own
        yield "Goodbye!"
        yield hangup()

    @assistant.on_assistant_speech_ended
    def ended() -> None:
        return None

    transport = transport_for(assistant)
    frames = Frames()
    transport.receive("c-1", event("user_speak", text="that's all"), frames)
    assert [a["type"] for a in frames.actions] == ["speak", "speak"]
    # The farewell is not interruptible: the hangup waits for its end.
    assert frames.actions[1]["barge_in"] == {"strategy": "none"}
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert doc["pending"]["actions"] == [{"type": "hangup", "session_id": SESSION_ID}]
    assert len(doc["pending"]["awaiting"]) == 2  # both sentences must have been heard
    transport.receive("c-1", event("assistant_speech_ended"), frames)
    assert [a["type"] for a in frames.actions] == ["speak", "speak"]
    transport.receive("c-1", event("assistant_speech_ended"), frames)
    assert [a["type"] for a in frames.actions] == ["speak", "speak", "hangup"]


def test_send_gives_a_filler_now_and_the_answer_later() -> None:
    assistant = Assistant("filler", user_input_timeout=4)
    sent: list[bool] = []

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent) -> str:
        sent.append(send("Let me check that for you."))
        time.sleep(0.1)
        return "Your appointment is on Monday at nine."

    transport = transport_for(assistant)
    frames = Frames()
    transport.receive("c-1", event("user_speak", text="when is my appointment?"), frames)
    assert sent == [True]
    assert frames.texts() == [
        "Let me check that for you.",
        "Your appointment is on Monday at nine.",
    ]
    assert "user_input_timeout_seconds" not in frames.actions[0]
    assert frames.actions[1]["user_input_timeout_seconds"] == 4
    assert frames.frames[1][0] - frames.frames[0][0] >= 0.09


def test_a_silent_slow_handler_gets_fillers_then_its_answer() -> None:
    release = threading.Event()
    assistant = Assistant("slow")

    @assistant.on_user_speak
    def answer() -> str:
        release.wait(2)
        return "Here is your answer."

    transport = transport_for(assistant, filler_after_ms=100)
    frames = Frames()
    threading.Timer(0.35, release.set).start()
    outcome = transport.receive("c-1", event("user_speak", text="hard question"), frames)
    texts = frames.texts()
    assert texts[-1] == "Here is your answer."
    assert texts[:-1] == list(assistant.fillers) + [assistant.fillers[-1]] * (len(texts) - 3)
    assert 2 <= outcome.fillers <= assistant.max_fillers
    # Fillers are not conversation: the history holds the question and the answer only.
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert [t["text"] for t in doc["history"]] == ["hard question", "Here is your answer."]


def test_a_handler_that_never_finishes_is_given_up_with_an_apology() -> None:
    assistant = Assistant("stuck")
    release = threading.Event()

    @assistant.on_user_speak
    def answer() -> str:
        release.wait(5)
        return "too late"

    transport = transport_for(assistant, filler_after_ms=10_000, max_turn_ms=200)
    frames = Frames()
    outcome = transport.receive("c-1", event("user_speak", text="?"), frames)
    release.set()
    assert outcome.reason == "turn_timeout"
    assert frames.texts() == [assistant.slow_apology]
    assert transport.engine.store.get(SESSION_ID) is None  # type: ignore[attr-defined]


def test_user_speech_started_stops_an_answer_being_streamed() -> None:
    model = FakeModel(token_s=0.03)
    transport = transport_for(streaming_assistant(model))
    frames = Frames()
    transport.receive("c-1", event("session_start"), frames)
    done: dict[str, Any] = {}

    def ask() -> None:
        done["outcome"] = transport.receive("c-1", event("user_speak", text="hours?"), frames)

    asking = threading.Thread(target=ask)
    asking.start()
    while len(frames.frames) < 2:  # the greeting and the first sentence
        time.sleep(0.005)
    transport.receive("c-1", event("user_speech_started"), frames)
    asking.join(5)
    outcome = done["outcome"]
    assert outcome.interrupted
    texts = frames.texts()
    assert texts[1] == "Our practice is open from eight to six today."
    assert len(texts) <= 3, "at most the sentence already under way follows"
    assert model.closed.wait(2), "the model's stream was closed"
    assert model.tokens_sent < len(ANSWER.split(" "))


def test_speech_started_before_the_event_does_not_cancel_it() -> None:
    model = FakeModel(token_s=0.001)
    transport = transport_for(streaming_assistant(model))
    frames = Frames()
    transport.receive("c-1", event("user_speech_started"), frames, received_at_ms=1000)
    outcome = transport.receive(
        "c-1", event("user_speak", text="hours?"), frames, received_at_ms=2000
    )
    assert not outcome.interrupted
    assert len(frames.texts()) == 4


def test_cancellation_can_be_turned_off() -> None:
    model = FakeModel(token_s=0.001)
    transport = transport_for(streaming_assistant(model), cancel_on_speech=False)
    frames = Frames()
    transport.receive("c-1", event("user_speech_started"), frames, received_at_ms=3000)
    outcome = transport.receive(
        "c-1", event("user_speak", text="hours?"), frames, received_at_ms=2000
    )
    assert not outcome.interrupted and len(frames.texts()) == 4


def test_an_async_generator_handler_streams_too() -> None:
    assistant = Assistant("async", user_input_timeout=3)

    @assistant.on_user_speak
    @streaming
    async def answer(event: UserSpeakEvent) -> AsyncIterator[Any]:
        yield "First."
        await asyncio.sleep(0.12)
        yield "Second."
        await asyncio.sleep(0.12)
        yield "Third."

    transport = transport_for(assistant)
    frames = Frames()
    transport.receive("c-1", event("user_speak", text="go"), frames)
    assert [f[1]["text"] for f in frames.frames] == ["First.", "Second.", "Third."]
    assert frames.frames[2][1]["user_input_timeout_seconds"] == 3
    assert frames.frames[1][0] - frames.frames[0][0] >= 0.1


def test_actions_in_a_stream_keep_their_order_and_sms_is_not_held_back() -> None:
    assistant = Assistant("mixed")

    @assistant.on_user_speak
    @streaming
    def answer(call: Call) -> Iterator[Any]:
        yield "I am sending you the address."
        yield send_sms("+4917612345678", "Hauptstr. 1")
        time.sleep(0.12)
        yield speak("I will connect you now.")
        time.sleep(0.12)
        yield after_speech(transfer("+4921198765411", caller_id_name="P", caller_id_number="+49"))
        time.sleep(0.12)

    transport = transport_for(assistant)
    frames = Frames()
    transport.receive("c-1", event("user_speak", text="address?"), frames)
    assert [a["type"] for a in frames.actions] == ["speak", "send_sms", "speak"]
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert [p["type"] for p in doc["pending"]["actions"]] == ["transfer"]
    assert len(doc["pending"]["awaiting"]) == 2


def test_a_stream_that_fails_midway_ends_with_the_fallback() -> None:
    assistant = Assistant("broken")

    @assistant.on_user_speak
    @streaming
    def answer() -> Iterator[str]:
        yield "Let me see."
        time.sleep(0.1)
        raise RuntimeError("model went away")

    transport = transport_for(assistant)
    frames = Frames()
    outcome = transport.receive("c-1", event("user_speak", text="?"), frames)
    assert outcome.fallback
    assert frames.texts() == ["Let me see.", assistant.fallback]


def test_the_connection_closing_midway_stops_the_stream() -> None:
    model = FakeModel(token_s=0.02)
    transport = transport_for(streaming_assistant(model))
    frames = Frames()

    def close_after_first(body: str) -> None:
        frames(body)
        frames.gone = True

    outcome = transport.receive("c-1", event("user_speak", text="hours?"), close_after_first)
    assert outcome.reason == "connection_gone"
    assert len(frames.frames) == 1
    assert model.closed.wait(2)


def test_frames_that_are_not_events_are_ignored() -> None:
    transport = transport_for(streaming_assistant(FakeModel()))
    frames = Frames()
    assert transport.receive("c-1", "not json", frames).reason == "not_json"
    assert transport.receive("c-1", json.dumps({"type": "x"}), frames).reason is not None
    assert transport.receive("c-1", "x" * 300_000, frames).reason == "body_too_large"
    assert frames.frames == []


def test_session_end_sends_nothing_and_disconnect_forgets_the_connection() -> None:
    connections = MemoryConnections()
    transport = transport_for(streaming_assistant(FakeModel()), connections=connections)
    frames = Frames()
    transport.receive("c-1", event("session_start"), frames)
    assert connections.call_of("c-1") == SESSION_ID
    transport.receive("c-1", event("session_end"), frames)
    assert len(frames.frames) == 1
    assert transport.disconnect("c-1") == SESSION_ID
    assert connections.call_of("c-1") is None
    assert transport.disconnect("c-1") is None


# --- the same handlers over HTTP ----------------------------------------------------------------


def test_streaming_handlers_work_unchanged_over_http() -> None:
    model = FakeModel(token_s=0.0)
    assistant = streaming_assistant(model, user_input_timeout=6)
    webhook = Webhook(TurnEngine(assistant, MemoryStore()), token=TOKEN)
    headers = {"X-API-TOKEN": TOKEN}
    webhook.handle(headers, event("session_start"))
    reply = webhook.handle(headers, event("user_speak", text="hours?"))
    assert reply.status == 200
    body = json.loads(reply.body or "")
    assert body["type"] == "speak" and body["text"] == ANSWER.strip()
    assert body["user_input_timeout_seconds"] == 6
    bye = json.loads(webhook.handle(headers, event("user_speak", text="bye")).body or "")
    assert bye["text"] == "Goodbye!"  # the hangup waits for the end of the speech


def test_send_outside_a_websocket_sends_nothing() -> None:
    assert send("hello") is False
    assert collect(["a", "b", hangup(), "c", " "])[0] == "a b"


# --- concurrent saves -------------------------------------------------------------------------


def test_merge_docs_applies_our_changes_to_the_newer_record() -> None:
    loaded = {
        "status": "active",
        "state": {"a": 1, "b": 1, "gone": 1},
        "history": [{"role": "caller", "text": "hi", "at": 1}],
        "pending": [],
        "pending_after": 0,
        "caller": "+49",
    }
    ours = {
        **loaded,
        "state": {"a": 2, "b": 1},
        "history": [*loaded["history"], {"role": "assistant", "text": "One.", "at": 3}],
        "pending": [{"type": "hangup"}],
        "pending_after": 2,
        "status": "ended",
    }
    fresh = {
        **loaded,
        "state": {"a": 1, "b": 5, "gone": 1, "new": True},
        "history": [*loaded["history"], {"role": "caller", "text": "wait", "at": 2}],
    }
    merged = merge_docs(loaded, ours, fresh)
    assert merged["state"] == {"a": 2, "b": 5, "new": True}
    assert [t["text"] for t in merged["history"]] == ["hi", "wait", "One."]
    assert merged["pending"] == [{"type": "hangup"}] and merged["pending_after"] == 2
    assert merged["status"] == "ended" and merged["caller"] == "+49"


def test_a_streamed_turn_that_loses_the_save_race_is_merged_not_rerun() -> None:
    """user_speech_started's handler saves while the answer streams: nothing is lost."""
    model = FakeModel(token_s=0.02)
    assistant = streaming_assistant(model)
    runs: list[str] = []

    @assistant.on_user_speech_started
    def started(call: Call) -> None:
        call.state["speech_started"] = call.state.get("speech_started", 0) + 1

    original = model.sentences

    def counted() -> Iterator[str]:
        runs.append("run")
        yield from original()

    model.sentences = counted  # type: ignore[method-assign]
    transport = transport_for(assistant, cancel_on_speech=False)
    frames = Frames()
    transport.receive("c-1", event("session_start"), frames)
    done: dict[str, Any] = {}
    asking = threading.Thread(
        target=lambda: done.update(
            o=transport.receive("c-1", event("user_speak", text="hours?"), frames)
        )
    )
    asking.start()
    while len(frames.frames) < 2:
        time.sleep(0.005)
    transport.receive("c-1", event("user_speech_started"), frames)
    asking.join(5)
    assert runs == ["run"], "the handler ran once"
    assert done["o"].conflicts >= 1
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert doc["state"] == {"questions": 1, "speech_started": 1}
    assert len(frames.texts()) == 5


def test_a_plain_reply_that_loses_the_save_race_is_rerun_like_over_http() -> None:
    assistant = Assistant("counter")
    gate = threading.Barrier(2, timeout=5)
    runs: list[int] = []

    @assistant.on_dtmf
    def key(call: Call) -> str:
        call.state["keys"] = call.state.get("keys", 0) + 1
        runs.append(call.state["keys"])
        if len(runs) <= 2:
            gate.wait()  # both events loaded the same version
        return f"key {call.state['keys']}"

    transport = transport_for(assistant)
    transport.receive("c-1", event("session_start"), Frames())
    frames = Frames()
    threads = [
        threading.Thread(
            target=transport.receive, args=("c-1", event("dtmf_received", digit=d), frames)
        )
        for d in "12"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    doc = transport.engine.store.get(SESSION_ID)  # type: ignore[attr-defined]
    assert doc["state"]["keys"] == 2
    assert runs == [1, 1, 2], "the loser ran again on the newer record"
    assert sorted(frames.texts()) == ["key 1", "key 2"]


@pytest.mark.parametrize("failing", ["load", "save"])
def test_a_store_outage_gives_the_fallback(failing: str) -> None:
    from aiflow.store import StoreError

    class Broken(MemoryStore):
        def load(self, session_id: str) -> Any:
            if failing == "load":
                raise StoreError("down")
            return super().load(session_id)

        def save(self, session_id: str, doc: dict[str, Any], *, version: int) -> int:
            raise StoreError("down")

    assistant = streaming_assistant(FakeModel())
    transport = transport_for(assistant, store=Broken())
    frames = Frames()
    outcome = transport.receive("c-1", event("session_start"), frames)
    assert outcome.fallback and outcome.reason == "store_unavailable"
    assert frames.texts() == [assistant.fallback]
