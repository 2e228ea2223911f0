"""Ending a call politely when its store keeps failing (:class:`aiflow.policy.OutagePolicy`).

Counted per call in this process (the store is down: nothing else can remember). After the
policy's number of failed turns in a row the caller hears the outage sentence, and the
hangup or transfer owed after it is kept here and sent on the next speech end that reaches
this instance.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .assistant import Assistant
from .protocol.actions import Action, BargeInPolicy, hangup, speak
from .protocol.events import BaseEvent

_RELEASE_EVENTS = frozenset({"assistant_speech_ended", "user_input_timeout"})
_NO_ANSWER_EXPECTED = frozenset({"session_end", "assistant_speak", "user_speech_started"})
_NOT_INTERRUPTIBLE = BargeInPolicy(strategy="none")


class Outages:
    """Consecutive store failures per call, and what is owed after an outage sentence.

    Args:
        size: calls remembered (least recently failed are forgotten first).
    """

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._failures: OrderedDict[str, int] = OrderedDict()
        self._owed: OrderedDict[str, list[Action]] = OrderedDict()
        self._lock = threading.Lock()

    def ending(self, event: BaseEvent) -> list[Action] | None:
        """For a call being ended for an outage: what to answer ``event`` (the owed hangup or
        transfer on a speech end, else nothing). None if the call is not being ended."""
        with self._lock:
            owed = self._owed.get(event.session.id)
            if owed is None:
                return None
            if event.type in _RELEASE_EVENTS:
                del self._owed[event.session.id]
                return owed
            return []

    def failed(self, event: BaseEvent, assistant: Assistant) -> list[Action] | None:
        """Count a store failure; the outage sentence when the policy ends the call."""
        policy = assistant.policy.outage
        session_id = event.session.id
        with self._lock:
            count = self._failures.pop(session_id, 0) + 1
            self._failures[session_id] = count
            while len(self._failures) > self.size:
                self._failures.popitem(last=False)
            if not policy.after_failures or count < policy.after_failures:
                return None
            if event.type in _NO_ANSWER_EXPECTED:
                return None
            then: Action = policy.transfer if policy.transfer is not None else hangup()
            self._owed[session_id] = [then.for_session(session_id)]
            while len(self._owed) > self.size:
                self._owed.popitem(last=False)
        sentence = speak(assistant.outage_sentence, barge_in=_NOT_INTERRUPTIBLE)
        return [assistant.with_defaults(sentence, last=False).for_session(session_id)]

    def succeeded(self, session_id: str) -> None:
        """The store worked for this call again."""
        with self._lock:
            self._failures.pop(session_id, None)
