"""``Assistant``: register one handler per event type; the core turns their return values
into actions and never lets a handler failure reach the caller as silence.

    assistant = Assistant("hello")

    @assistant.on_user_speak
    def echo(event: UserSpeakEvent):
        return f"You said: {event.text}"

A handler takes only the parameters it needs, the event and/or the :class:`~aiflow.Call`
(chosen by annotation or by the names ``event`` and ``call``, checked at import), may be
sync or async, and returns ``None``, a ``str`` (spoken with the assistant's defaults), an
action, :func:`after_speech` of actions, or a list of these.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from pydantic import BaseModel

from .call import Call
from .errors import AssistantDefinitionError
from .protocol.actions import (
    Action,
    AudioAction,
    AzureTts,
    BargeInPolicy,
    BaseAction,
    ElevenLabsTts,
    HangupAction,
    SpeakAction,
    TransferAction,
    speak,
)
from .protocol.events import (
    AssistantSpeakEvent,
    AssistantSpeechEndedEvent,
    BaseEvent,
    DtmfReceivedEvent,
    SessionEndEvent,
    SessionStartEvent,
    SmsFailedEvent,
    UserBargeInEvent,
    UserInputTimeoutEvent,
    UserSpeakEvent,
    UserSpeechStartedEvent,
)
from .redact import log_failure

logger = logging.getLogger("aiflow")

F = TypeVar("F", bound=Callable[..., Any])
HandlerResult = Union[
    None, str, BaseAction, "AfterSpeech", Sequence[Union[str, BaseAction, "AfterSpeech"]]
]

FILLERS = {
    "de": ("Einen Moment, bitte …", "Ich bin gleich so weit, einen Moment noch."),
    "en": ("One moment, please …", "I'm nearly there, just a moment."),
}
APOLOGIES = {
    "de": "Entschuldigung, das dauert leider zu lange. Können Sie Ihre Frage bitte wiederholen?",
    "en": "Sorry, that is taking too long. Could you ask me again, please?",
}
FALLBACKS = {
    "de": "Entschuldigung, da ist bei uns etwas schiefgelaufen. Bitte sagen Sie das noch einmal.",
    "en": "Sorry, something went wrong on our side. Could you say that again, please?",
}
_SPEECH = (SpeakAction, AudioAction)
_ENDS_SPEECH = (HangupAction, TransferAction)
# Events that mean "our speech is over": actions held back for after speech go out now.
_RELEASES_PENDING = (AssistantSpeechEndedEvent, UserInputTimeoutEvent)
_NOT_INTERRUPTIBLE = BargeInPolicy(strategy="none")


@dataclass(frozen=True)
class AfterSpeech:
    """Actions to send only after the speech now playing has ended."""

    actions: tuple[str | BaseAction, ...]


def after_speech(*actions: str | BaseAction) -> AfterSpeech:
    """Hold ``actions`` back until the next ``assistant_speech_ended`` of the call."""
    return AfterSpeech(actions)


@dataclass
class Reply:
    """What the core decided for one event.

    Attributes:
        actions: to send now, addressed to the call.
        deferred: held back in ``call.pending`` until the current speech has ended.
        fallback: the handler failed and ``actions`` is the fallback speech.
        handler_ms: time spent in the user's handler.
    """

    actions: list[Action] = field(default_factory=list)
    deferred: list[Action] = field(default_factory=list)
    fallback: bool = False
    handler_ms: float = 0.0


@dataclass(frozen=True)
class _Handler:
    func: Callable[..., Any]
    wants_event: bool
    wants_call: bool
    is_async: bool
    call_first: bool = False  # the call parameter comes before the event parameter


_EVENT_TYPES: dict[str, type[BaseEvent]] = {
    "session_start": SessionStartEvent,
    "user_speak": UserSpeakEvent,
    "user_speech_started": UserSpeechStartedEvent,
    "assistant_speak": AssistantSpeakEvent,
    "assistant_speech_ended": AssistantSpeechEndedEvent,
    "user_input_timeout": UserInputTimeoutEvent,
    "dtmf_received": DtmfReceivedEvent,
    "session_end": SessionEndEvent,
    "sms_failed": SmsFailedEvent,
}


class Assistant:
    """A voice assistant: handlers per event type plus assistant-wide speech defaults.

    Args:
        name: used in logs and metrics.
        state: optional pydantic model class for ``call.state`` (default: a plain dict).
        voice: default ``tts`` for every ``speak`` that does not set one.
        barge_in: default interruption policy for ``speak`` and ``audio``.
        user_input_timeout: seconds to wait for the caller after the last speech of a reply.
        language: BCP-47 language of the assistant (picks the built-in fallback sentence).
        fallback: what the caller hears when a handler fails.
    """

    def __init__(
        self,
        name: str = "assistant",
        *,
        state: type[BaseModel] | None = None,
        voice: AzureTts | ElevenLabsTts | None = None,
        barge_in: BargeInPolicy | None = None,
        user_input_timeout: float | None = None,
        language: str = "en-US",
        fallback: str | None = None,
    ) -> None:
        self.name = name
        self.state_model = state
        self.voice = voice
        self.barge_in = barge_in
        self.user_input_timeout = user_input_timeout
        self.language = language
        lang = language[:2].lower()
        self.fallback = fallback or FALLBACKS.get(lang, FALLBACKS["en"])
        # What the caller hears while a slow turn continues in the worker (aiflow.deadline).
        self.fillers: tuple[str, ...] = FILLERS.get(lang, FILLERS["en"])
        self.slow_apology: str = APOLOGIES.get(lang, APOLOGIES["en"])
        self.max_fillers = 3
        self.history_limit = 50
        self._handlers: dict[str, _Handler] = {}
        self._fallback_speech = speak(self.fallback)  # validated now, not on a live call

    # --- registration ---------------------------------------------------------------------

    def on_session_start(self, func: F) -> F:
        """Runs when the call connects, and again when the caller is back after a failed
        transfer (then ``call.resumed`` is true)."""
        return self._register("session_start", func)

    def on_user_speak(self, func: F) -> F:
        """Runs for each final transcript of the caller (``event.barged_in``: they interrupted)."""
        return self._register("user_speak", func)

    def on_user_speech_started(self, func: F) -> F:
        """Runs when the caller starts talking (WebSocket only)."""
        return self._register("user_speech_started", func)

    def on_assistant_speak(self, func: F) -> F:
        """Runs when playback of our speech starts."""
        return self._register("assistant_speak", func)

    def on_assistant_speech_ended(self, func: F) -> F:
        """Runs when playback of our speech ends (after pending actions were released)."""
        return self._register("assistant_speech_ended", func)

    def on_user_input_timeout(self, func: F) -> F:
        """Runs when the caller stayed silent after a speak with ``user_input_timeout_seconds``."""
        return self._register("user_input_timeout", func)

    def on_dtmf(self, func: F) -> F:
        """Runs for each key the caller presses (``event.digit``)."""
        return self._register("dtmf_received", func)

    def on_session_end(self, func: F) -> F:
        """Runs when the call is over; its return value is ignored."""
        return self._register("session_end", func)

    def on_sms_failed(self, func: F) -> F:
        """Runs when a ``send_sms`` action failed."""
        return self._register("sms_failed", func)

    def on_event(self, func: F) -> F:
        """Runs for every event without a handler of its own, unknown types included."""
        return self._register("*", func)

    def _register(self, kind: str, func: F) -> F:
        where = _where(func)
        if kind in self._handlers:
            other = _where(self._handlers[kind].func)
            raise AssistantDefinitionError(
                f"{where}: a handler for {kind!r} is already registered at {other}; "
                "an assistant has one handler per event type",
                code="duplicate_handler",
            )
        self._handlers[kind] = _inspect_handler(kind, func, where)
        return func

    # --- the core -------------------------------------------------------------------------

    def handle(self, event: BaseEvent, call: Call) -> Reply:
        """Run the handler for ``event`` and return the actions to send (sync version).

        Never raises for a handler failure: it is logged and the caller hears the fallback.
        Async handlers are run with ``asyncio.run``; inside an event loop use
        :meth:`handle_async`.
        """
        event, handler, snapshot = self._begin(event, call)
        started = time.perf_counter()
        try:
            result = self._invoke(handler, event, call) if handler else None
            if inspect.isawaitable(result):
                import asyncio  # only async handlers pay for importing asyncio

                result = asyncio.run(_await(result))
        except Exception:
            return self._failed(event, call, snapshot, started)
        return self._finish(event, call, result, snapshot, started)

    async def handle_async(self, event: BaseEvent, call: Call) -> Reply:
        """Like :meth:`handle`, for callers that already run an event loop."""
        event, handler, snapshot = self._begin(event, call)
        started = time.perf_counter()
        try:
            result = self._invoke(handler, event, call) if handler else None
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            return self._failed(event, call, snapshot, started)
        return self._finish(event, call, result, snapshot, started)

    def handler_for(self, event: BaseEvent) -> Callable[..., Any] | None:
        """The user function that would handle ``event`` (None if none would)."""
        chosen = self._handlers.get(_kind(event)) or self._handlers.get("*")
        return chosen.func if chosen else None

    def speech(self, text: str, *, wait_for_caller: bool = True) -> Action:
        """A ``speak`` of ``text`` with this assistant's defaults (as a returned ``str`` gets).

        ``wait_for_caller=False`` leaves out the default user-input timeout (for fillers).
        """
        return self.with_defaults(speak(text), last=wait_for_caller)

    def fallback_reply(self, call: Call) -> list[Action]:
        """The fallback speech addressed to ``call``, for transports that must answer anyway."""
        return [self.with_defaults(self._fallback_speech, last=True).for_session(call.session_id)]

    def _begin(
        self, event: BaseEvent, call: Call
    ) -> tuple[BaseEvent, _Handler | None, dict[str, Any]]:
        if isinstance(event, UserBargeInEvent) and event.text:
            # The legacy interruption event is a user_speak with barged_in, per the spec.
            event = UserSpeakEvent(
                text=event.text, barged_in=True, session=event.session, **(event.model_extra or {})
            )
        call.history_limit = self.history_limit
        call.update_session(event.session)
        if isinstance(event, SessionStartEvent) and not call.is_new:
            call.resumed = True
            call.previous_status = call.status
            call.status = "active"
        if isinstance(event, SessionEndEvent):
            call.status = "ended"
        if isinstance(event, UserSpeakEvent):
            call.remember("caller", event.text)
        snapshot = call.to_doc()
        handler = self._handlers.get(_kind(event)) or self._handlers.get("*")
        return event, handler, snapshot

    def _invoke(self, handler: _Handler, event: BaseEvent, call: Call) -> Any:
        args: list[Any] = []
        if handler.wants_event:
            args.append(event)
        if handler.wants_call:
            args.append(call)
        return handler.func(*reversed(args) if handler.call_first else args)

    def _failed(
        self, event: BaseEvent, call: Call, snapshot: dict[str, Any], started: float
    ) -> Reply:
        elapsed = (time.perf_counter() - started) * 1000
        log_failure(logger, "handler failed; the caller hears the fallback", assistant=self.name)
        call.restore(snapshot, state_model=self.state_model)
        if isinstance(event, SessionEndEvent):
            return Reply(fallback=True, handler_ms=elapsed)
        actions = self._release(event, call) + self.fallback_reply(call)
        self.record(call, actions)
        return Reply(actions=actions, fallback=True, handler_ms=elapsed)

    def _finish(
        self,
        event: BaseEvent,
        call: Call,
        result: Any,
        snapshot: dict[str, Any],
        started: float,
    ) -> Reply:
        elapsed = (time.perf_counter() - started) * 1000
        try:
            now, later = self._normalize(result)
        except TypeError:
            return self._failed(event, call, snapshot, started)
        if isinstance(event, SessionEndEvent):
            return Reply(handler_ms=elapsed)  # the platform ignores actions for session_end
        now = self._release(event, call) + now
        now = [a.for_session(call.session_id) for a in now]
        later = [a.for_session(call.session_id) for a in later]
        if later:
            call.pending.extend(later)
            # The platform reports the end of each speech; wait for the last one of this reply.
            speeches = sum(isinstance(a, _SPEECH) for a in now)
            call.pending_after = max(call.pending_after, speeches, 1)
        self.record(call, now)
        return Reply(actions=now, deferred=later, handler_ms=elapsed)

    def _release(self, event: BaseEvent, call: Call) -> list[Action]:
        if not isinstance(event, _RELEASES_PENDING) or not call.pending:
            return []
        if isinstance(event, AssistantSpeechEndedEvent) and call.pending_after > 1:
            call.pending_after -= 1  # more of the reply's speech is still playing
            return []
        released, call.pending, call.pending_after = call.pending, [], 0
        return released

    def _normalize(self, result: Any) -> tuple[list[Action], list[Action]]:
        items = _flatten(result)
        now: list[Action] = []
        later: list[Action] = []
        spoke = False
        for item, deferred in items:
            action = as_action(item)
            if deferred or (spoke and isinstance(action, _ENDS_SPEECH)) or (later and not deferred):
                later.append(action)
            else:
                now.append(action)
                spoke = spoke or isinstance(action, _SPEECH)
        ends_call = any(isinstance(a, _ENDS_SPEECH) for a in later)
        self._apply_defaults(now, hold_timeout=bool(later), protect=ends_call)
        self._apply_defaults(later, hold_timeout=False)
        return now, later

    def _apply_defaults(
        self, actions: list[Action], *, hold_timeout: bool, protect: bool = False
    ) -> None:
        speech = [i for i, a in enumerate(actions) if isinstance(a, _SPEECH)]
        for i in speech:
            action = actions[i]
            if protect and isinstance(action, _SPEECH) and action.barge_in is None:
                # A farewell or handoff that the caller talks over might never report its
                # end, and the hangup/transfer waiting for that end would hang.
                action = action.model_copy(update={"barge_in": _NOT_INTERRUPTIBLE})
            last = i == speech[-1] and not hold_timeout
            actions[i] = self.with_defaults(action, last=last)

    def with_defaults(self, action: Action, *, last: bool) -> Action:
        """``action`` with this assistant's voice and barge-in policy where it sets none, and
        (``last``: it ends the reply) the user-input timeout."""
        update: dict[str, Any] = {}
        if isinstance(action, SpeakAction):
            if action.tts is None and self.voice is not None:
                update["tts"] = self.voice
            if last and action.user_input_timeout_seconds is None and self.user_input_timeout:
                update["user_input_timeout_seconds"] = self.user_input_timeout
        if isinstance(action, _SPEECH) and action.barge_in is None and self.barge_in is not None:
            update["barge_in"] = self.barge_in
        return action.model_copy(update=update) if update else action

    def record(self, call: Call, actions: list[Action]) -> None:
        """Note sent ``actions`` in the call: speech in the history, a transfer in the status."""
        for action in actions:
            if isinstance(action, SpeakAction):
                call.remember("assistant", action.text or _strip_tags(action.ssml or ""))
            elif isinstance(action, TransferAction):
                call.status = "transferring"


def as_action(item: str | BaseAction) -> Action:
    """Turn a handler's ``str`` into a ``speak``; pass actions through."""
    if isinstance(item, str):
        return speak(item)
    if isinstance(item, BaseAction):
        return item  # type: ignore[return-value]
    raise TypeError(f"a handler returned {type(item).__name__}; expected str or an action")


def _flatten(result: Any) -> list[tuple[str | BaseAction, bool]]:
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
                raise TypeError(f"a handler returned a list holding {type(item).__name__}")
        return flat
    raise TypeError(
        f"a handler returned {type(result).__name__}; expected None, str, an action or a list"
    )


def _strip_tags(ssml: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", ssml).split())


def _kind(event: BaseEvent) -> str:
    return event.type


async def _await(value: Awaitable[Any]) -> Any:
    return await value


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    if code is None:
        return getattr(func, "__qualname__", repr(func))
    return f"{code.co_filename}:{code.co_firstlineno} ({func.__qualname__})"


def _inspect_handler(kind: str, func: Callable[..., Any], where: str) -> _Handler:
    if not callable(func):
        raise AssistantDefinitionError(f"{where}: a handler must be a function", code="bad_handler")
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to parameter names
        hints = {}
    expected = _EVENT_TYPES.get(kind, BaseEvent)
    wants_event = wants_call = call_first = False
    for param in inspect.signature(func).parameters.values():
        hint = hints.get(param.name)
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if hint is Call or (hint is None and param.name == "call"):
            wants_call = _once(wants_call, param.name, where)
            call_first = not wants_event
        elif _is_event_hint(hint) or (hint is None and param.name == "event"):
            if isinstance(hint, type) and not issubclass(expected, hint) and kind != "*":
                raise AssistantDefinitionError(
                    f"{where}: parameter `{param.name}` is annotated {hint.__name__}, but this "
                    f"handler receives {expected.__name__}",
                    code="bad_handler_signature",
                )
            wants_event = _once(wants_event, param.name, where)
        elif param.default is param.empty:
            raise AssistantDefinitionError(
                f"{where}: parameter `{param.name}` is neither the event nor the call. Name it "
                f"`event` or `call`, or annotate it with {expected.__name__} or Call",
                code="bad_handler_signature",
            )
    is_async = inspect.iscoroutinefunction(func)
    return _Handler(func, wants_event, wants_call, is_async, call_first and wants_event)


def _is_event_hint(hint: Any) -> bool:
    if isinstance(hint, type):
        return issubclass(hint, BaseEvent)
    return any(_is_event_hint(arg) for arg in typing.get_args(hint))


def _once(already: bool, name: str, where: str) -> bool:
    if already:
        raise AssistantDefinitionError(
            f"{where}: parameter `{name}` asks for the same thing as an earlier parameter",
            code="bad_handler_signature",
        )
    return True
