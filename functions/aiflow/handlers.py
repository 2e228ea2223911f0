"""Reading a handler's signature once, when it is registered.

A handler takes only what it needs: the event, the :class:`~aiflow.Call`, both or neither,
chosen by type annotation or by the names ``event`` and ``call``. Mistakes raise
:class:`~aiflow.errors.AssistantDefinitionError` at import, naming the file and line.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from .call import Call
from .errors import AssistantDefinitionError
from .plain import Plain
from .protocol.events import (
    AssistantSpeakEvent,
    AssistantSpeechEndedEvent,
    BaseEvent,
    DtmfReceivedEvent,
    SessionEndEvent,
    SessionStartEvent,
    SmsFailedEvent,
    UserInputTimeoutEvent,
    UserSpeakEvent,
    UserSpeechStartedEvent,
)


class Handler(Plain):
    """A registered handler and what it asks for."""

    __slots__ = ("func", "wants_event", "wants_call", "is_async", "call_first")

    def __init__(
        self,
        func: Callable[..., Any],
        wants_event: bool,
        wants_call: bool,
        is_async: bool,
        call_first: bool = False,  # the call parameter comes before the event parameter
    ) -> None:
        self.func = func
        self.wants_event = wants_event
        self.wants_call = wants_call
        self.is_async = is_async
        self.call_first = call_first

    @property
    def where(self) -> str:
        """``file:line (name)`` of the handler, for error messages."""
        return where(self.func)

    def invoke(self, event: BaseEvent, call: Call[Any]) -> Any:
        """Call the handler with what it asks for."""
        args: list[Any] = []
        if self.wants_event:
            args.append(event)
        if self.wants_call:
            args.append(call)
        return self.func(*reversed(args) if self.call_first else args)


EVENT_TYPES: dict[str, type[BaseEvent]] = {
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


def where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    if code is None:
        return getattr(func, "__qualname__", repr(func))
    return f"{code.co_filename}:{code.co_firstlineno} ({func.__qualname__})"


def inspect_handler(
    kind: str, func: Callable[..., Any], where: str, state_model: type[BaseModel] | None = None
) -> Handler:
    """Read ``func``'s parameters for events of ``kind``; raises on a mistake."""
    if not callable(func):
        raise AssistantDefinitionError(f"{where}: a handler must be a function", code="bad_handler")
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to parameter names
        hints = {}
    expected = EVENT_TYPES.get(kind, BaseEvent)
    wants_event = wants_call = call_first = False
    for param in inspect.signature(func).parameters.values():
        hint = hints.get(param.name)
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if _is_call_hint(hint) or (hint is None and param.name == "call"):
            _check_state_hint(hint, state_model, param.name, where)
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
    return Handler(func, wants_event, wants_call, is_async, call_first and wants_event)


def _is_call_hint(hint: Any) -> bool:
    return hint is Call or typing.get_origin(hint) is Call


def _check_state_hint(
    hint: Any, state_model: type[BaseModel] | None, name: str, where: str
) -> None:
    """``call: Call[Order]`` must name the assistant's state model (or a base of it)."""
    args = typing.get_args(hint)
    if not args or not isinstance(args[0], type):
        return
    wanted = args[0]
    if state_model is None:
        if issubclass(wanted, BaseModel):
            raise AssistantDefinitionError(
                f"{where}: parameter `{name}` is annotated Call[{wanted.__name__}], but the "
                "assistant keeps call.state as a dict; pass "
                f"Assistant(..., state={wanted.__name__})",
                code="bad_handler_signature",
            )
        return
    if not issubclass(state_model, wanted):
        raise AssistantDefinitionError(
            f"{where}: parameter `{name}` is annotated Call[{wanted.__name__}], but the "
            f"assistant's state model is {state_model.__name__}",
            code="bad_handler_signature",
        )


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
