"""Tools the model may call: plain typed Python functions, described by their signature.

    from aiflow.agents import tool

    @tool
    def opening_hours(day: Literal["mon", "tue", "wed", "thu", "fri"]) -> str:
        \"\"\"Opening hours of the practice on one weekday.

        Args:
            day: the weekday, abbreviated.
        \"\"\"
        return "8 to 12" if day == "fri" else "8 to 18"

The decorated function stays callable as before; :func:`tool` wraps it in a :class:`Tool`
that knows its Bedrock ``toolSpec``:

* ``name``: the function name (or ``@tool(name=...)``), 1–64 letters, digits, ``_``, ``-``.
* ``description``: the first paragraph of the docstring (or ``@tool(description=...)``).
  A tool without one is refused: the model chooses tools by their description. Keep it short:
  every description is sent with every model call.
* ``inputSchema``: a JSON schema built by pydantic from the parameters. Supported: ``str``,
  ``int``, ``float``, ``bool``, ``Literal[...]`` (an ``enum``), ``Optional[X]``,
  ``list[X]``, ``dict[str, X]``, ``Annotated[X, Field(...)]`` (constraints), enums, dates and
  pydantic models (inlined). A parameter's description comes from a Google-style ``Args:``
  section or from ``Annotated[X, Field(description=...)]``. Every parameter must be
  annotated; ``*args``/``**kwargs`` are refused.
* A parameter annotated :class:`~aiflow.Call` is not shown to the model: the current call is
  passed in (to read ``call.caller`` or ``call.state``).

Invoking a tool with the model's input validates the arguments (unknown ones are refused) and
returns a Bedrock ``toolResult`` block: a ``str`` result becomes ``text``, a ``dict`` or
pydantic model becomes ``json``, any other value ``{"json": {"result": value}}``, ``None``
becomes ``text: "OK"``. Invalid arguments or an exception in the tool give a result with
``status: "error"`` and a short message, so the model can correct itself; the exception is
logged by type only (no arguments, no transcript).

A tool refuses with ``raise ToolError("message")``: the model gets exactly that message as an
error result. A tool that should also act on the call returns a :class:`ToolEffect`: its
``result`` is what the model is told, and it may send actions with the answer (``send_sms``)
or end the turn with a last sentence and an action (``transfer``, ``hangup``) or a keypad
prompt. The agent's built-in call tools (``aiflow.agents.call_tools``) are made that way.

Tools are synchronous. ``BedrockAgent.respond_async`` runs the whole turn in a worker thread,
so blocking I/O in a tool does not block an event loop. ``async def`` tools are refused.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import (
    Any,
    Generic,
    NamedTuple,
    NotRequired,
    ParamSpec,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from ..call import Call
from ..errors import AssistantDefinitionError
from ..protocol.actions import Action
from ..redact import log_failure
from .errors import ToolError
from .tool_schema import arguments_model, compact_schema, defined_at, parse_docstring

__all__ = [
    "MAX_RESULT_CHARS",
    "Tool",
    "ToolEffect",
    "ToolRun",
    "Toolbox",
    "parse_docstring",
    "tool",
    "tool_result",
]

logger = logging.getLogger("aiflow.agents")

P = ParamSpec("P")
R = TypeVar("R")

MAX_RESULT_CHARS = 2000
"""Default limit for one tool result (longer results are cut, to bound cost and state size)."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolEffect:
    """Return this from a tool to act on the call besides answering the model.

    Attributes:
        result: what the model is told (converted like a plain return value).
        actions: sent with the turn's answer, after the speech before them (``send_sms``).
        say: ends the turn: the last sentence; the model is not called again this turn.
        then: ends the turn: the action after ``say`` (``transfer`` or ``hangup``).
        keypad_digits: ends the turn: the caller types up to this many digits next, which
            reach the model as the next user message (see ``BedrockAgent.on_dtmf``).
    """

    result: Any = None
    actions: tuple[Action, ...] = ()
    say: str | None = None
    then: Action | None = None
    keypad_digits: int | None = None

    @property
    def ends_turn(self) -> bool:
        """Whether the turn ends with this tool (no further model call)."""
        return self.say is not None or self.then is not None or self.keypad_digits is not None


class ToolRun(NamedTuple):
    """What running a tool gave: the ``toolResult`` block and the effect on the call."""

    result: dict[str, Any]
    effect: ToolEffect | None = None


class RunOptions(TypedDict):
    """The keyword arguments of :meth:`Tool.run` and :meth:`Tool.invoke`."""

    tool_use_id: str
    call: NotRequired[Call | None]
    max_chars: NotRequired[int]


class Tool(Generic[P, R]):
    """A Python function the model may call (create it with :func:`tool`).

    Args:
        func: the function; its typed parameters are the tool's arguments.
        name, description: what the model sees (default: the function's name and the first
            paragraph of its docstring).
        input_schema: the JSON schema the model sees, instead of the one built from the
            signature (for a schema computed at run time, e.g. an ``enum`` from a config).
            The arguments are still validated by the signature; arguments the function does
            not take are then ignored, not refused.

    Attributes:
        name: the tool name the model sees.
        description: what the tool does, for the model.
        input_schema: the JSON schema of the arguments.
        func: the wrapped function.
    """

    def __init__(
        self,
        func: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
    ) -> None:
        where = defined_at(func)
        if inspect.iscoroutinefunction(func):
            raise AssistantDefinitionError(
                f"{where}: tools must be synchronous functions (respond_async runs them in a "
                "worker thread)",
                code="bad_tool",
            )
        self.func = func
        self.name: str = name or str(getattr(func, "__name__", ""))
        if not _NAME.match(self.name):
            raise AssistantDefinitionError(
                f"{where}: tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'",
                code="bad_tool",
            )
        doc = inspect.getdoc(func) or ""
        summary, arg_docs = parse_docstring(doc)
        self.description = (description or summary).strip()
        if not self.description:
            raise AssistantDefinitionError(
                f"{where}: tool {self.name!r} needs a description (a docstring or "
                "@tool(description=...)): the model picks tools by it",
                code="bad_tool",
            )
        self._model, self._params, self._call_param = arguments_model(
            func, self.name, arg_docs, where, extra="forbid" if input_schema is None else "ignore"
        )
        self.input_schema: dict[str, Any] = (
            compact_schema(self._model.model_json_schema(by_alias=True))
            if input_schema is None
            else dict(input_schema)
        )

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    def spec(self) -> dict[str, Any]:
        """The Bedrock ``tools`` entry: ``{"toolSpec": {name, description, inputSchema}}``."""
        return {
            "toolSpec": {
                "name": self.name,
                "description": self.description,
                "inputSchema": {"json": self.input_schema},
            }
        }

    def invoke(
        self, tool_input: Mapping[str, Any] | None, **options: Unpack[RunOptions]
    ) -> dict[str, Any]:
        """Run the tool with the model's ``tool_input``; return a ``toolResult`` block.

        Never raises for bad input or a failing tool: those give ``status: "error"``.
        """
        return self.run(tool_input, **options).result

    def run(
        self,
        tool_input: Mapping[str, Any] | None,
        *,
        tool_use_id: str,
        call: Call | None = None,
        max_chars: int = MAX_RESULT_CHARS,
    ) -> ToolRun:
        """Like :meth:`invoke`, and also the :class:`ToolEffect` the tool returned, if any.

        ``call`` is passed to a parameter annotated :class:`~aiflow.Call`; ``max_chars``
        bounds the result.
        """
        try:
            parsed = self._model.model_validate(dict(tool_input or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            logger.info("tool %s: invalid arguments", self.name, extra={"tool": self.name})
            return ToolRun(tool_result(tool_use_id, f"invalid arguments: {problems}", error=True))
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for param, field_name in self._params:
            value = getattr(parsed, field_name)
            if param.kind is param.POSITIONAL_ONLY:
                positional.append(value)
            else:
                keywords[param.name] = value
        if self._call_param is not None:
            keywords[self._call_param.name] = call  # never positional-only (checked at init)
        try:
            value = self.func(*positional, **keywords)
        except ToolError as exc:
            return ToolRun(tool_result(tool_use_id, exc.message, error=True))
        except Exception as exc:
            # The message may quote the arguments (what the caller said): the log gets the
            # type and frames only, the model the whole message so that it can correct itself.
            log_failure(logger, f"tool {self.name} raised {type(exc).__name__}", tool=self.name)
            return ToolRun(tool_result(tool_use_id, f"{type(exc).__name__}: {exc}", error=True))
        if isinstance(value, ToolEffect):
            return ToolRun(tool_result(tool_use_id, value.result, max_chars=max_chars), value)
        return ToolRun(tool_result(tool_use_id, value, max_chars=max_chars))


@overload
def tool(func: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Make ``func`` a tool: ``@tool`` or ``@tool(name=..., description=...)``."""
    if func is not None:
        return Tool(func, name=name, description=description)

    def decorate(f: Callable[P, R]) -> Tool[P, R]:
        return Tool(f, name=name, description=description)

    return decorate


class Toolbox:
    """An ordered set of tools with unique names.

    Args:
        tools: :class:`Tool` objects or plain functions (wrapped with :func:`tool`).
        reserved: names that must not be used (the agent's built-in tools).
    """

    def __init__(
        self,
        tools: Iterable[Tool[..., Any] | Callable[..., Any]] = (),
        *,
        reserved: Iterable[str] = (),
    ) -> None:
        self._tools: dict[str, Tool[..., Any]] = {}
        self._reserved = frozenset(reserved)
        for item in tools:
            self.add(item)

    def add(self, item: Tool[P, R] | Callable[P, R]) -> Tool[P, R]:
        """Register a tool (a plain function is wrapped with :func:`tool`)."""
        new = item if isinstance(item, Tool) else Tool(item)
        if new.name in self._reserved:
            raise AssistantDefinitionError(
                f"{defined_at(new.func)}: the tool name {new.name!r} is reserved for a built-in "
                "tool; choose another name",
                code="bad_tool",
            )
        if new.name in self._tools:
            raise AssistantDefinitionError(
                f"{defined_at(new.func)}: a tool named {new.name!r} is already registered",
                code="bad_tool",
            )
        self._tools[new.name] = new
        return new

    @overload
    def tool(self, func: Callable[P, R], /) -> Tool[P, R]: ...

    @overload
    def tool(
        self, /, *, name: str | None = None, description: str | None = None
    ) -> Callable[[Callable[P, R]], Tool[P, R]]: ...

    def tool(
        self,
        func: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
        """Decorator: like :func:`tool`, and registers the tool here."""
        if func is not None:
            return self.add(Tool(func, name=name, description=description))

        def decorate(f: Callable[P, R]) -> Tool[P, R]:
            return self.add(Tool(f, name=name, description=description))

        return decorate

    def get(self, name: str) -> Tool[..., Any] | None:
        """The tool called ``name``, if registered."""
        return self._tools.get(name)

    def specs(self) -> list[dict[str, Any]]:
        """The Bedrock ``tools`` entries of all tools, in registration order."""
        return [t.spec() for t in self._tools.values()]

    def invoke(
        self,
        name: str,
        tool_input: Mapping[str, Any] | None,
        *,
        tool_use_id: str,
        call: Call | None = None,
        max_chars: int = MAX_RESULT_CHARS,
    ) -> dict[str, Any]:
        """Run tool ``name``; an unknown name gives an error result (never raises)."""
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(self._tools) or "none"
            return tool_result(tool_use_id, f"unknown tool {name!r}; tools: {known}", error=True)
        return found.invoke(tool_input, tool_use_id=tool_use_id, call=call, max_chars=max_chars)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool[..., Any]]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)


def tool_result(
    tool_use_id: str, value: Any, *, error: bool = False, max_chars: int = MAX_RESULT_CHARS
) -> dict[str, Any]:
    """A Bedrock ``toolResult`` content block for ``value`` (see the module docstring)."""
    content: dict[str, Any]
    if value is None:
        content = {"text": "OK"}
    elif isinstance(value, str):
        content = {"text": _cut(value or "(empty)", max_chars)}
    else:
        doc = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        doc = to_jsonable_python(doc, fallback=str)
        if not isinstance(doc, dict):
            doc = {"result": doc}
        dumped = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        content = {"json": doc} if len(dumped) <= max_chars else {"text": _cut(dumped, max_chars)}
    block: dict[str, Any] = {"toolUseId": tool_use_id, "content": [content]}
    if error:
        block["status"] = "error"
    return {"toolResult": block}


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[: max(max_chars - 12, 0)] + " [truncated]"
