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
from .history import speech_key
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
        # Calls whose outage sentence was reported playing (assistant_speak with its text):
        # from then on only its own end releases the owed action, not a late earlier one.
        self._playing: dict[str, bool] = {}
        self._sentences: dict[str, str] = {}
        self._skipped: set[str] = set()
        self._lock = threading.Lock()

    def ending(self, event: BaseEvent) -> list[Action] | None:
        """For a call being ended for an outage: what to answer ``event`` (the owed hangup or
        transfer on a speech end, else nothing). None if the call is not being ended."""
        session_id = event.session.id
        with self._lock:
            owed = self._owed.get(session_id)
            if owed is None:
                return None
            if event.type == "assistant_speak":
                text = getattr(event, "text", None) or getattr(event, "ssml", None) or ""
                ours = speech_key(text) == self._sentences.get(session_id)
                if ours or session_id in self._playing:
                    self._playing[session_id] = ours
                return []
            if event.type in _RELEASE_EVENTS:
                if (
                    event.type == "assistant_speech_ended"
                    and self._playing.get(session_id) is False
                ):
                    return []  # the end of another speech: the outage sentence still plays
                del self._owed[session_id]
                self._playing.pop(session_id, None)
                self._sentences.pop(session_id, None)
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
            self._sentences[session_id] = speech_key(assistant.outage_sentence)
            while len(self._owed) > self.size:
                forgotten, _ = self._owed.popitem(last=False)
                self._sentences.pop(forgotten, None)
                self._playing.pop(forgotten, None)
        sentence = speak(assistant.outage_sentence, barge_in=_NOT_INTERRUPTIBLE)
        return [assistant.with_defaults(sentence, last=False).for_session(session_id)]

    def succeeded(self, session_id: str) -> None:
        """The store worked for this call again."""
        with self._lock:
            self._failures.pop(session_id, None)
