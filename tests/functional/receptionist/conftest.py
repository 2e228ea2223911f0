"""A small stand-in for the sipgate platform, so receptionist tests read like call transcripts.

`PhoneCall` keeps one `aiflow.Call` per session and saves and reloads it between events
through its JSON document, as the call store does (so `is_new`, `resumed` and the state
model behave as deployed). After every reply with speech it plays the speech: it sends
`assistant_speak` (duration estimated from the text) and `assistant_speech_ended`, and runs
whatever those replies contain (a transfer or hangup held back until the speech ended).
Time is a fake clock that playback advances.

To be replaced by `aiflow.testing`'s simulator when that exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from aiflow import (
    Action,
    Assistant,
    Call,
    HangupAction,
    SpeakAction,
    TransferAction,
    parse_event,
)
from aiflow.clock import FakeClock as AiflowFakeClock
from receptionist.app import build_assistant
from receptionist.config import ReceptionistConfig, load_config

SESSION_ID = "3f2b9c1e-7a4d-4e0b-9c55-1d2e3f405a6b"
CALLER = "+4917612345678"
PRACTICE = "+4921198765400"
# Tuesday 6 January 2026, 10:00 in Berlin: the practice is open.
TUESDAY_10_AM = 1767690000000
# The same day, 20:00: closed.
TUESDAY_8_PM = 1767726000000
MS_PER_CHARACTER = 60


class FakeClock(AiflowFakeClock):
    """Unix ms that only moves when the test (or playback) moves it; both the receptionist
    (called) and the framework (``now_ms``) read it."""

    def __init__(self, now: int = TUESDAY_10_AM) -> None:
        super().__init__(now)

    def __call__(self) -> int:
        return self.now_ms()

    @property
    def now(self) -> int:
        return self.now_ms()

    @now.setter
    def now(self, value: int) -> None:
        self.set(value)


def duration_of(text: str) -> int:
    """How long the platform takes to say ``text`` (roughly 16 characters a second)."""
    return max(400, len(text) * MS_PER_CHARACTER)


@dataclass
class Exchange:
    """What happened after one thing the caller did.

    Attributes:
        said: the sentences the caller heard, in order.
        actions: every action we answered, in order (including those released later).
        sequence: our actions and the platform's speech-ended events in the order they
            happened, e.g. ``["speak", "(speech ended)", "hangup"]``.
    """

    said: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    sequence: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Everything heard, as one string."""
        return " ".join(self.said)

    def only(self, kind: type[Action]) -> Any:
        """The one action of type ``kind``."""
        found = [a for a in self.actions if isinstance(a, kind)]
        assert len(found) == 1, f"expected one {kind.__name__}, got {self.sequence}"
        return found[0]


class PhoneCall:
    """One call to ``assistant``, with the caller's verbs: start, say, press, stay_silent."""

    def __init__(
        self,
        assistant: Assistant,
        clock: FakeClock,
        *,
        caller: str | None = CALLER,
        session_id: str = SESSION_ID,
    ) -> None:
        self.assistant = assistant
        self.clock = clock
        self.caller = caller
        self.session_id = session_id
        self.doc: dict[str, Any] | None = None  # the stored call, as JSON
        self.call: Call | None = None
        self.transcript: list[str] = []
        self.playing: tuple[str, int, int] | None = None  # text, started at, duration
        self.hung_up = False
        self.transferred: TransferAction | None = None

    # --- the caller's verbs ----------------------------------------------------------------

    def start(self, *, interrupt_after_ms: int | None = None) -> Exchange:
        """The call connects (or, after a failed transfer, the caller is back)."""
        session = {
            "id": self.session_id,
            "account_id": "acc-7731",
            "phone_number": PRACTICE,
            "direction": "inbound",
            "to_phone_number": PRACTICE,
        }
        if self.caller:
            session["from_phone_number"] = self.caller
        self.transferred = None
        return self._turn({"type": "session_start", "session": session}, interrupt_after_ms)

    def say(self, text: str, *, interrupt_after_ms: int | None = None) -> Exchange:
        """The caller says ``text``; if our speech is still playing, they interrupt it."""
        self.transcript.append(f"caller:    {text}")
        body = {"type": "user_speak", "text": text, "barged_in": self.playing is not None}
        self.playing = None  # barge-in stops the playback
        return self._turn(body, interrupt_after_ms)

    def press(self, digit: str) -> Exchange:
        """The caller presses one key."""
        self.transcript.append(f"caller:    [{digit}]")
        return self._turn({"type": "dtmf_received", "digit": digit}, None)

    def stay_silent(self) -> Exchange:
        """The caller says nothing for the user_input_timeout."""
        self.transcript.append("caller:    ...")
        return self._turn({"type": "user_input_timeout"}, None)

    def transfer_fails(self) -> Exchange:
        """Nobody answered the transfer: the platform gives us the caller back."""
        assert self.transferred is not None, "no transfer was sent"
        assert self.transferred.timeout, "without a timeout the platform ends the call"
        return self.start()

    def hang_up(self) -> None:
        """The caller hangs up."""
        self._turn({"type": "session_end"}, None)

    @property
    def state(self) -> Any:
        """``call.state`` as stored after the last event."""
        assert self.call is not None
        return self.call.state

    # --- the platform ------------------------------------------------------------------------

    def _turn(self, body: dict[str, Any], interrupt_after_ms: int | None) -> Exchange:
        assert not self.hung_up, "the call is over"
        exchange = Exchange()
        actions = self.send(body)
        self._play(actions, exchange, interrupt_after_ms)
        return exchange

    def send(self, body: dict[str, Any]) -> list[Action]:
        """Deliver one event as the platform would and return our actions."""
        if "session" not in body:
            body = {**body, "session": {"id": self.session_id, "phone_number": PRACTICE}}
        event = parse_event(json.dumps(body))
        if self.doc is None:
            state: Any = self.assistant.state_model() if self.assistant.state_model else {}
            call = Call.from_session(event.session, state=state, clock=self.clock)
        else:
            # Reloaded from its JSON like the store does: is_new false, resumed reset.
            doc = json.loads(json.dumps(self.doc))
            call = Call.from_doc(
                doc, version=1, state_model=self.assistant.state_model, clock=self.clock
            )
        reply = self.assistant.handle(event, call)
        assert not reply.fallback, f"the handler failed on {event.type}; see the log"
        self.doc = call.to_doc()
        json.dumps(self.doc)  # the call must stay storable
        self.call = call
        return list(reply.actions)

    def _play(
        self, actions: list[Action], exchange: Exchange, interrupt_after_ms: int | None
    ) -> None:
        for action in actions:
            exchange.actions.append(action)
            exchange.sequence.append(action.type)
            if isinstance(action, SpeakAction):
                text = action.text or ""
                exchange.said.append(text)
                self.transcript.append(f"assistant: {text}")
                started, duration = self.clock.now, duration_of(text)
                self.send(
                    {
                        "type": "assistant_speak",
                        "text": text,
                        "duration_ms": duration,
                        "speech_started_at": started,
                    }
                )
                if interrupt_after_ms is not None:
                    # The caller will talk over it: playback is cut, no speech_ended.
                    self.clock.advance(interrupt_after_ms)
                    self.playing = (text, started, duration)
                    return
                self.clock.advance(duration)
                released = self.send({"type": "assistant_speech_ended"})
                exchange.sequence.append("(speech ended)")
                self._play(released, exchange, None)
            elif isinstance(action, TransferAction):
                self.transferred = action
                self.transcript.append(f"assistant [transfer to {action.target_phone_number}]")
            elif isinstance(action, HangupAction):
                self.hung_up = True
                self.transcript.append("assistant [hangup]")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def config() -> ReceptionistConfig:
    return load_config()


@pytest.fixture
def make_call(config: ReceptionistConfig, clock: FakeClock) -> Iterator[Callable[..., PhoneCall]]:
    """``make_call(language="en", **yaml_changes)``: a call to a receptionist built from the
    shipped YAML, optionally changed."""

    def make(config_: ReceptionistConfig | None = None, **kwargs: Any) -> PhoneCall:
        assistant = build_assistant(config_ or config, clock=clock)
        return PhoneCall(assistant, clock, **kwargs)

    yield make


@pytest.fixture
def phone(make_call: Callable[..., PhoneCall]) -> PhoneCall:
    """A call to the shipped receptionist (German by default), at a time it is open."""
    return make_call()
