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

:meth:`Assistant.handle` runs one event against a loaded call; loading, saving, budgets and
fallbacks for our own failures are the turn engine's (:mod:`aiflow.turns`).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from .call import Call
from .errors import AiflowError, AssistantDefinitionError
from .handlers import Handler, inspect_handler, where
from .policy import APOLOGIES, FALLBACKS, OUTAGES, TurnPolicy, by_language, fillers_for
from .protocol.actions import (
    Action,
    AzureTts,
    BargeInAction,
    BargeInPolicy,
    ElevenLabsTts,
    SpeakAction,
    barge_in,
    speak,
)
from .protocol.events import (
    AssistantSpeakEvent,
    AssistantSpeechEndedEvent,
    BaseEvent,
    DtmfReceivedEvent,
    SessionEndEvent,
    SessionStartEvent,
    UserBargeInEvent,
    UserInputTimeoutEvent,
    UserSpeakEvent,
    UserSpeechStartedEvent,
)
from .records.policy import RecordOption, check_option
from .replies import ENDS_SPEECH, SPEECH, AfterSpeech, Reply, after_speech, flatten, split
from .streaming import Channel, using

F = TypeVar("F", bound=Callable[..., Any])
_NOT_INTERRUPTIBLE = BargeInPolicy(strategy="none")

__all__ = ["AfterSpeech", "Assistant", "HandlerResultError", "Reply", "after_speech"]


class HandlerResultError(AiflowError, TypeError):
    """A handler returned something that is not an answer (names the handler's file:line)."""

    code = "bad_handler_result"


class Assistant:
    """A voice assistant: handlers per event type plus assistant-wide speech defaults.

    Args:
        name: used in logs and metrics.
        state: optional pydantic model class for ``call.state`` (default: a plain dict).
        voice: default ``tts`` for every ``speak`` that does not set one.
        barge_in: default interruption policy for ``speak`` and ``audio``.
        user_input_timeout: seconds to wait for the caller after the last speech of a reply.
        language: BCP-47 language of the assistant (picks the built-in sentences).
        fallback: what the caller hears when a handler fails.
        policy: fillers, limits and outage behaviour (see :class:`~aiflow.TurnPolicy`).
        record_calls: keep a record of each call (:mod:`aiflow.records`; personal data):
            True or a :class:`~aiflow.RecordPolicy` records, False never does, None (the
            default) follows the deployment's ``AIFLOW_RECORD_CALLS``.
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
        policy: TurnPolicy | None = None,
        record_calls: RecordOption = None,
    ) -> None:
        self.name = name
        self.state_model = state
        self.voice = voice
        self.barge_in = barge_in
        self.user_input_timeout = user_input_timeout
        self.language = language
        self.policy = policy or TurnPolicy()
        self.record_calls = check_option(record_calls)
        self.fallback = fallback or by_language(FALLBACKS, language)
        self._handlers: dict[str, Handler] = {}
        self._fallback_speech = speak(self.fallback)  # validated now, not on a live call

    # --- the turn policy, read-only -------------------------------------------------------

    @property
    def fillers(self) -> tuple[str, ...]:
        """What the caller hears while a slow answer is prepared."""
        return self.policy.fillers or fillers_for(self.language)

    @property
    def slow_apology(self) -> str:
        """What the caller hears when a slow answer never came."""
        return self.policy.slow_apology or by_language(APOLOGIES, self.language)

    @property
    def outage_sentence(self) -> str:
        """What the caller hears before a call is ended for a store outage."""
        return self.policy.outage.sentence or by_language(OUTAGES, self.language)

    @property
    def max_fillers(self) -> int:
        """Fillers per slow turn before the apology."""
        return self.policy.max_fillers

    @property
    def history_limit(self) -> int:
        """Turns kept in ``call.history``."""
        return self.policy.history_limit

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
        """Runs when playback of our speech ends (after held actions were released)."""
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
        here = where(func)
        if kind in self._handlers:
            raise AssistantDefinitionError(
                f"{here}: a handler for {kind!r} is already registered at "
                f"{self._handlers[kind].where}; an assistant has one handler per event type",
                code="duplicate_handler",
            )
        self._handlers[kind] = inspect_handler(kind, func, here, self.state_model)
        return func

    def handler_for(self, event: BaseEvent) -> Callable[..., Any] | None:
        """The user function that would handle ``event`` (None if none would)."""
        chosen = self._chosen(event)
        return chosen.func if chosen else None

    def _chosen(self, event: BaseEvent) -> Handler | None:
        return self._handlers.get(event.type) or self._handlers.get("*")

    # --- the core -------------------------------------------------------------------------

    def new_state(self) -> Any:
        """A fresh ``call.state`` (an instance of the state model, or an empty dict)."""
        return self.state_model() if self.state_model is not None else {}

    def handle(
        self,
        event: BaseEvent,
        call: Call[Any],
        *,
        channel: Channel | None = None,
        hold_all: bool = False,
    ) -> Reply:
        """Run the handler for ``event`` on ``call`` and return the actions to send.

        Never raises for a handler failure: the call's changes are rolled back, the caller
        hears the fallback and :attr:`Reply.error` holds the exception. Async handlers run
        with ``asyncio.run``; inside an event loop use :meth:`handle_async`.

        Args:
            event: the event.
            call: the loaded call; its bookkeeping (history, held actions, status) is updated.
            channel: sends while the handler runs, for transports that can (WebSocket).
            hold_all: hold the whole answer for the next speech end instead of answering
                now (the slow-turn worker: the caller hears it after the filler).
        """
        event, handler, snapshot = self._begin(event, call)
        started = time.perf_counter()
        try:
            with using(channel):
                result = handler.invoke(event, call) if handler else None
                if inspect.isawaitable(result):
                    import asyncio  # only async handlers pay for importing asyncio

                    result = asyncio.run(_await(result))
            now, later = self._normalize(result, handler)
        except Exception as exc:
            return self._failed(event, call, snapshot, started, exc, hold_all)
        return self._finish(event, call, now, later, started, channel, hold_all)

    async def handle_async(
        self, event: BaseEvent, call: Call[Any], *, channel: Channel | None = None
    ) -> Reply:
        """Like :meth:`handle`, for callers that already run an event loop."""
        event, handler, snapshot = self._begin(event, call)
        started = time.perf_counter()
        try:
            with using(channel):
                result = handler.invoke(event, call) if handler else None
                if inspect.isawaitable(result):
                    result = await result
            now, later = self._normalize(result, handler)
        except Exception as exc:
            return self._failed(event, call, snapshot, started, exc)
        return self._finish(event, call, now, later, started, channel)

    def speech(self, text: str, *, wait_for_caller: bool = True) -> Action:
        """A ``speak`` of ``text`` with this assistant's defaults (as a returned ``str`` gets).

        ``wait_for_caller=False`` leaves out the default user-input timeout (for fillers).
        """
        return self.with_defaults(speak(text), last=wait_for_caller)

    def fallback_reply(self, call: Call[Any] | str) -> list[Action]:
        """The fallback speech addressed to ``call`` (or a session id)."""
        session_id = call if isinstance(call, str) else call.session_id
        return [self.with_defaults(self._fallback_speech, last=True).for_session(session_id)]

    def with_defaults(self, action: Action, *, last: bool) -> Action:
        """``action`` with this assistant's voice and barge-in policy where it sets none, and
        (``last``: it ends the reply) the user-input timeout."""
        update: dict[str, Any] = {}
        if isinstance(action, SpeakAction):
            if action.tts is None and self.voice is not None:
                update["tts"] = self.voice
            if last and action.user_input_timeout_seconds is None and self.user_input_timeout:
                update["user_input_timeout_seconds"] = self.user_input_timeout
        if isinstance(action, SPEECH) and action.barge_in is None and self.barge_in is not None:
            update["barge_in"] = self.barge_in
        return action.model_copy(update=update) if update else action

    # --- steps ----------------------------------------------------------------------------

    def _begin(
        self, event: BaseEvent, call: Call[Any]
    ) -> tuple[BaseEvent, Handler | None, dict[str, Any]]:
        """The call's bookkeeping for ``event``, before any handler runs."""
        if isinstance(event, UserBargeInEvent):
            if not event.text:
                call.caller_interrupted()
            else:
                # The legacy interruption event is a user_speak with barged_in, per the spec.
                event = UserSpeakEvent(
                    text=event.text,
                    barged_in=True,
                    session=event.session,
                    **(event.model_extra or {}),
                )
        call.history_limit = self.policy.history_limit
        call.history_max_bytes = self.policy.history_max_bytes
        call.update_session(event.session)
        if isinstance(event, SessionStartEvent) and not call.is_new:
            call.resumed = True
            call.previous_status = call.status
            call.status = "active"
        elif isinstance(event, SessionEndEvent):
            call.status = "ended"
        elif isinstance(event, UserSpeakEvent):
            call.caller_said(event.text, barged_in=bool(event.barged_in))
        elif isinstance(event, AssistantSpeakEvent):
            call.speech_started(
                event.text if event.text is not None else event.ssml,
                started_at=event.speech_started_at,
                duration_ms=event.duration_ms,
            )
        elif isinstance(event, UserSpeechStartedEvent):
            call.caller_started_talking()
        elif isinstance(event, DtmfReceivedEvent):
            call.caller_interrupted()
        return event, self._chosen(event), call.to_doc()

    def _normalize(self, result: Any, handler: Handler | None) -> tuple[list[Action], list[Action]]:
        try:
            now, later = split(flatten(result))
        except TypeError as exc:
            name = handler.where if handler else "a handler"
            raise HandlerResultError(f"{name}: the handler {exc}") from None
        ends_call = any(isinstance(a, ENDS_SPEECH) for a in later)
        self._apply_defaults(now, hold_timeout=bool(later), protect=ends_call)
        self._apply_defaults(later, hold_timeout=False)
        return now, later

    def _finish(
        self,
        event: BaseEvent,
        call: Call[Any],
        now: list[Action],
        later: list[Action],
        started: float,
        channel: Channel | None,
        hold_all: bool = False,
    ) -> Reply:
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(event, SessionEndEvent):
            return Reply(handler_ms=elapsed)  # the platform ignores actions for session_end
        if hold_all:
            held = [a.for_session(call.session_id) for a in [*now, *later]]
            call.pending.hold(held, after=[], source="slow_turn")
            return Reply(deferred=held, handler_ms=elapsed)
        now = self._release(event, call) + now
        if (
            isinstance(event, DtmfReceivedEvent)
            and self.policy.dtmf_barge_in
            and now
            and not isinstance(now[0], BargeInAction)
        ):
            now.insert(0, barge_in())  # stop the menu being read out
        now = [a.for_session(call.session_id) for a in now]
        streamed = list(channel.sent) if channel is not None else []
        held = [*(channel.later if channel is not None else []), *later]
        held = [a.for_session(call.session_id) for a in held]
        if held:
            call.hold(held, after=[*streamed, *now])
        call.said(now)
        return Reply(actions=now, deferred=held, handler_ms=elapsed, streamed=streamed)

    def _failed(
        self,
        event: BaseEvent,
        call: Call[Any],
        snapshot: dict[str, Any],
        started: float,
        error: Exception,
        hold_all: bool = False,
    ) -> Reply:
        elapsed = (time.perf_counter() - started) * 1000
        call.restore(snapshot, state_model=self.state_model)
        if isinstance(event, SessionEndEvent):
            return Reply(fallback=True, handler_ms=elapsed, error=error)
        if hold_all:
            held = self.fallback_reply(call)
            call.pending.hold(held, after=[], source="slow_turn")
            return Reply(deferred=held, fallback=True, handler_ms=elapsed, error=error)
        actions = self._release(event, call) + self.fallback_reply(call)
        call.said(actions)
        return Reply(actions=actions, fallback=True, handler_ms=elapsed, error=error)

    def _release(self, event: BaseEvent, call: Call[Any]) -> list[Action]:
        """Held actions whose speech ended; of a held answer with speech, a hangup or
        transfer after it is held again until that speech, too, was heard."""
        if isinstance(event, AssistantSpeechEndedEvent):
            released = call.speech_ended()
        elif isinstance(event, UserInputTimeoutEvent):
            released = call.release_pending()
        else:
            return []
        now, later = split((action, False) for action in released)
        if later:
            call.hold(later, after=now)
        return now

    def _apply_defaults(
        self, actions: list[Action], *, hold_timeout: bool, protect: bool = False
    ) -> None:
        speech = [i for i, a in enumerate(actions) if isinstance(a, SPEECH)]
        for i in speech:
            action = actions[i]
            if protect and isinstance(action, SPEECH) and action.barge_in is None:
                # A farewell or handoff that the caller talks over might never report its
                # end, and the hangup/transfer waiting for that end would hang.
                action = action.model_copy(update={"barge_in": _NOT_INTERRUPTIBLE})
            last = i == speech[-1] and not hold_timeout
            actions[i] = self.with_defaults(action, last=last)


async def _await(value: Awaitable[Any]) -> Any:
    return await value
