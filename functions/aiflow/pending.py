"""Actions held back until a given speech has been heard (a ``hangup`` after a farewell).

sipgate executes a ``hangup`` or ``transfer`` at once, so one sent with a farewell cuts the
farewell off. The framework sends the speech now and keeps the rest here, in the call record,
until the platform reports that *that* speech ended.

The protocol has no speech id. What it gives: ``assistant_speak`` carries the text that
started playing, and ``assistant_speech_ended`` follows when playback ends. So held actions
remember the speeches they wait for (loosely compared texts, in order); each
``assistant_speak`` that starts the next awaited speech moves the cursor, and only the end of
the last awaited speech releases them. A late end of an *earlier* speech (the greeting the
caller talked over) releases nothing.

Where the platform does not report speech starts, or reports texts we cannot match to
anything we said, we cannot tell speeches apart: the call then counts speech ends instead
(one per awaited speech), which is right unless an earlier speech's end arrives late. A
``user_input_timeout`` always releases (it means our last speech ended and the caller stayed
silent).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from .history import speech_key
from .protocol.actions import (
    Action,
    AudioAction,
    HangupAction,
    SpeakAction,
    TransferAction,
    parse_action,
)

Source = Literal["reply", "slow_turn"]


class PendingActions:
    """The held-back actions of a call and the speeches they wait for.

    Attributes:
        actions: what goes out once the awaited speech ended.
        awaiting: keys of the speeches to be heard first, in order (``""`` for audio).
        started: how many of them the platform reported as started.
        ended: speech ends counted (when starts are not reported).
        source: ``slow_turn`` for an answer the worker delivered (dropped when the caller
            speaks again), else ``reply``.
    """

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.awaiting: list[str] = []
        self.started = 0
        self.ended = 0
        self.source: Source = "reply"
        # Whether the speech playing now is the next one we wait for.
        self.playing_ours = False

    # A sequence of the held actions, for reading: ``call.pending[0]``, ``list(call.pending)``.
    def __bool__(self) -> bool:
        return bool(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __getitem__(self, index: int) -> Action:
        return self.actions[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return self.actions == other
        if isinstance(other, PendingActions):
            return self.to_doc() == other.to_doc()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"PendingActions({[a.type for a in self.actions]}, awaiting={len(self.awaiting)})"

    def hold(self, actions: list[Action], *, after: list[Action], source: Source = "reply") -> None:
        """Hold ``actions`` until the speeches among ``after`` have been heard.

        With no speech in ``after``, they wait for the end of whatever is playing now.
        Holding more while something is held keeps the order and waits for the new speeches.
        A new hangup or transfer replaces one still held: the call ends (or is handed on) as
        last decided, once (a farewell saved but never played must not hang up the call
        that the caller asked to be put through meanwhile).
        """
        if not actions:
            return
        if any(isinstance(a, HangupAction | TransferAction) for a in actions):
            self.actions = [
                a for a in self.actions if not isinstance(a, HangupAction | TransferAction)
            ]
        speeches = [key_of(a) for a in after if isinstance(a, SpeakAction | AudioAction)]
        was_empty = not self.actions
        if speeches or was_empty:
            self.awaiting, self.started, self.ended = speeches, 0, 0
            self.playing_ours = False
        self.actions = [*self.actions, *actions]
        # Mixed with a reply's own held actions, a slow answer is no longer droppable.
        self.source = source if was_empty or source == self.source else "reply"

    def speech_started(self, text: str | None) -> None:
        """``assistant_speak``: note whether the speech now playing is the next awaited one."""
        self.playing_ours = False
        if self.started >= len(self.awaiting):
            return
        expected = self.awaiting[self.started]
        if text is None or not expected or speech_key(text) == expected:
            self.started += 1
            self.playing_ours = True
            return
        # Sentences of a reply may be reported joined or skipped: look further ahead.
        key = speech_key(text)
        for index in range(self.started + 1, len(self.awaiting)):
            if self.awaiting[index] == key:
                self.started = index + 1
                self.playing_ours = True
                return

    def speech_ended(self, *, by_text: bool) -> list[Action]:
        """``assistant_speech_ended``: the held actions if the awaited speech is over.

        Args:
            by_text: the call can tell speeches apart by their reported texts; else count.
        """
        if not self.actions:
            return []
        if not self.awaiting:
            return self.release()  # waiting for whatever plays now (a filler, say) to end
        if by_text:
            done = self.playing_ours and self.started >= len(self.awaiting)
            self.playing_ours = False
        else:
            self.ended += 1
            done = self.ended >= max(1, len(self.awaiting))
        return self.release() if done else []

    def release(self) -> list[Action]:
        """Everything held, now (and nothing held any more)."""
        released = self.actions
        self.clear()
        return released

    def drop_slow_answer(self) -> bool:
        """Forget a worker's answer that the caller no longer waits for; True if dropped."""
        if self.actions and self.source == "slow_turn":
            self.clear()
            return True
        return False

    def clear(self) -> None:
        """Hold nothing."""
        self.actions, self.awaiting = [], []
        self.started = self.ended = 0
        self.source = "reply"
        self.playing_ours = False

    # --- persistence --------------------------------------------------------------------

    def to_doc(self) -> dict[str, Any] | None:
        """JSON-ready form (None when nothing is held)."""
        if not self.actions:
            return None
        doc: dict[str, Any] = {"actions": [a.to_wire() for a in self.actions]}
        if self.awaiting:
            doc["awaiting"] = self.awaiting
        if self.started:
            doc["started"] = self.started
        if self.ended:
            doc["ended"] = self.ended
        if self.playing_ours:
            doc["playing"] = True
        if self.source != "reply":
            doc["source"] = self.source
        return doc

    @classmethod
    def from_doc(cls, doc: Any, *, legacy_after: int = 0) -> PendingActions:
        """Rebuild from :meth:`to_doc`; a plain list is the record format before speech
        tracking (``legacy_after`` speech ends to wait for)."""
        pending = cls()
        if isinstance(doc, list):
            pending.actions = [parse_action(a) for a in doc]
            pending.awaiting = [""] * max(legacy_after, 1 if doc else 0)
            return pending
        if not isinstance(doc, dict):
            return pending
        pending.actions = [parse_action(a) for a in doc.get("actions", [])]
        pending.awaiting = [str(k) for k in doc.get("awaiting", [])]
        pending.started = int(doc.get("started", 0))
        pending.ended = int(doc.get("ended", 0))
        pending.playing_ours = bool(doc.get("playing", False))
        pending.source = "slow_turn" if doc.get("source") == "slow_turn" else "reply"
        return pending


def key_of(action: SpeakAction | AudioAction) -> str:
    """How a speech is recognised in ``assistant_speak`` (``""``: any report matches)."""
    if isinstance(action, SpeakAction):
        return speech_key(action.text or action.ssml or "")
    return ""
