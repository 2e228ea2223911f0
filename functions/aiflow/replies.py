"""What a handler may return, and how it becomes actions.

A handler returns ``None`` (no action), a ``str`` (a ``speak`` with the assistant's
defaults), an action, :func:`after_speech` of actions, or a list of these. Everything after
speech that ends the call's current speech — a ``hangup``, a ``transfer`` — and everything
wrapped in :func:`after_speech` is held back until that speech was heard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Union

from .plain import Plain
from .protocol.actions import (
    Action,
    AudioAction,
    BaseAction,
    HangupAction,
    SpeakAction,
    TransferAction,
    speak,
)

HandlerResult = Union[
    None, str, BaseAction, "AfterSpeech", Sequence[Union[str, BaseAction, "AfterSpeech"]]
]
Item = Union[str, BaseAction, "AfterSpeech"]
SPEECH = (SpeakAction, AudioAction)
ENDS_SPEECH = (HangupAction, TransferAction)


class AfterSpeech(Plain):
    """Actions to send only after the speech now playing has ended."""

    __slots__ = ("actions",)

    def __init__(self, actions: tuple[str | BaseAction, ...]) -> None:
        self.actions = actions


def after_speech(*actions: str | BaseAction) -> AfterSpeech:
    """Hold ``actions`` back until the speech of this reply (or the one playing) was heard."""
    return AfterSpeech(actions)


class Reply(Plain):
    """What the core decided for one event.

    Attributes:
        actions: to send now, addressed to the call.
        deferred: held back in ``call.pending`` until the current speech has ended.
        fallback: the handler failed and ``actions`` is the fallback speech.
        handler_ms: time spent in the user's handler.
        error: the exception of a failed handler (the caller heard the fallback).
        streamed: actions a streaming handler already sent while it ran (WebSocket).
    """

    __slots__ = ("actions", "deferred", "fallback", "handler_ms", "error", "streamed")

    def __init__(
        self,
        actions: list[Action] | None = None,
        deferred: list[Action] | None = None,
        fallback: bool = False,
        handler_ms: float = 0.0,
        error: BaseException | None = None,
        streamed: list[Action] | None = None,
    ) -> None:
        self.actions: list[Action] = [] if actions is None else actions
        self.deferred: list[Action] = [] if deferred is None else deferred
        self.fallback = fallback
        self.handler_ms = handler_ms
        self.error = error
        self.streamed: list[Action] = [] if streamed is None else streamed


def as_action(item: str | BaseAction) -> Action:
    """Turn a handler's ``str`` into a ``speak``; pass actions through."""
    if isinstance(item, str):
        return speak(item)
    if isinstance(item, BaseAction):
        return item  # type: ignore[return-value]
    raise TypeError(f"got {type(item).__name__}; expected str or an action")


def flatten(result: Any) -> list[tuple[str | BaseAction, bool]]:
    """The items of a handler result, each with whether it is wrapped in ``after_speech``."""
    if result is None:
        return []
    if isinstance(result, str | BaseAction):
        return [(result, False)]
    if isinstance(result, AfterSpeech):
        return [(item, True) for item in result.actions]
    if isinstance(result, Sequence):
        flat: list[tuple[str | BaseAction, bool]] = []
        for item in result:
            if isinstance(item, AfterSpeech):
                flat.extend((inner, True) for inner in item.actions)
            elif isinstance(item, str | BaseAction):
                flat.append((item, False))
            else:
                raise TypeError(
                    f"returned a list holding {type(item).__name__}; expected str, actions "
                    "or after_speech(...)"
                )
        return flat
    raise TypeError(
        f"returned {type(result).__name__}; expected None, str, an action, after_speech(...) "
        "or a list of these"
    )


def split(items: Iterable[tuple[str | BaseAction, bool]]) -> tuple[list[Action], list[Action]]:
    """Actions to send now, and actions to hold until the speech was heard.

    A ``hangup``/``transfer`` after speech is held, and so is everything after a held action
    (the order of a reply is kept).
    """
    now: list[Action] = []
    later: list[Action] = []
    spoke = False
    for item, deferred in items:
        action = as_action(item)
        if deferred or later or (spoke and isinstance(action, ENDS_SPEECH)):
            later.append(action)
        else:
            now.append(action)
            spoke = spoke or isinstance(action, SPEECH)
    return now, later


def collect(items: Iterable[Item]) -> list[Item]:
    """All items as one reply, consecutive sentences joined into one (streaming over HTTP)."""
    result: list[Item] = []
    for item in items:
        if isinstance(item, str) and result and isinstance(result[-1], str):
            result[-1] = f"{result[-1]} {item}"
        elif not (isinstance(item, str) and not item.strip()):
            result.append(item)
    return result
