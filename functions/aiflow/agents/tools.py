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

Tools are synchronous. ``BedrockAgent.respond_async`` runs the whole turn in a worker thread,
so blocking I/O in a tool does not block an event loop. ``async def`` tools are refused.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from ..call import Call
from ..errors import AssistantDefinitionError

logger = logging.getLogger("aiflow.agents")

P = ParamSpec("P")
R = TypeVar("R")

MAX_RESULT_CHARS = 2000
"""Default limit for one tool result (longer results are cut, to bound cost and state size)."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECTION = re.compile(r"^\s*([A-Z][A-Za-z ]*):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class Tool(Generic[P, R]):
    """A Python function the model may call (create it with :func:`tool`).

    Attributes:
        name: the tool name the model sees.
        description: what the tool does, for the model.
        input_schema: the JSON schema of the arguments.
        func: the wrapped function.
    """

    def __init__(
        self, func: Callable[P, R], *, name: str | None = None, description: str | None = None
    ) -> None:
        where = _where(func)
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
        self._model, self._params, self._call_param = _arguments_model(
            func, self.name, arg_docs, where
        )
        self.input_schema: dict[str, Any] = _compact_schema(
            self._model.model_json_schema(by_alias=True)
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
        self,
        tool_input: Mapping[str, Any] | None,
        *,
        tool_use_id: str,
        call: Call | None = None,
        max_chars: int = MAX_RESULT_CHARS,
    ) -> dict[str, Any]:
        """Run the tool with the model's ``tool_input``; return a ``toolResult`` block.

        Never raises for bad input or a failing tool: those give ``status: "error"``.
        """
        try:
            parsed = self._model.model_validate(dict(tool_input or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            logger.info("tool %s: invalid arguments", self.name, extra={"tool": self.name})
            return tool_result(tool_use_id, f"invalid arguments: {problems}", error=True)
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
            result = self.func(*positional, **keywords)
        except Exception as exc:
            logger.warning(
                "tool %s raised %s", self.name, type(exc).__name__, extra={"tool": self.name}
            )
            return tool_result(tool_use_id, f"{type(exc).__name__}: {exc}", error=True)
        return tool_result(tool_use_id, result, max_chars=max_chars)


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
                f"{_where(new.func)}: the tool name {new.name!r} is reserved for a built-in "
                "tool; choose another name",
                code="bad_tool",
            )
        if new.name in self._tools:
            raise AssistantDefinitionError(
                f"{_where(new.func)}: a tool named {new.name!r} is already registered",
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


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph of ``doc`` and the descriptions of its Google-style ``Args:``."""
    lines = doc.expandtabs().splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line):
            break
        summary.append(line.strip())
    args: dict[str, str] = {}
    in_args = False
    indent: int | None = None
    current: str | None = None
    for line in lines:
        section = _SECTION.match(line)
        if section:
            in_args = section.group(1).strip() in ("Args", "Arguments", "Parameters", "Params")
            indent, current = None, None
            continue
        if not in_args or not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent:
            in_args = False
            continue
        found = _ARG_LINE.match(line.strip())
        if depth == indent and found:
            current = found.group(1).lstrip("*")
            args[current] = found.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(summary), args


def _arguments_model(
    func: Callable[..., Any], name: str, arg_docs: dict[str, str], where: str
) -> tuple[type[BaseModel], list[tuple[inspect.Parameter, str]], inspect.Parameter | None]:
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise AssistantDefinitionError(
            f"{where}: cannot resolve the type annotations of tool {name!r}: {exc}",
            code="bad_tool",
        ) from None
    fields: dict[str, Any] = {}
    params: list[tuple[inspect.Parameter, str]] = []
    call_param: inspect.Parameter | None = None
    for index, param in enumerate(inspect.signature(func).parameters.values()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise AssistantDefinitionError(
                f"{where}: tool {name!r} cannot take *args or **kwargs; list the parameters",
                code="bad_tool",
            )
        if param.name not in hints:
            raise AssistantDefinitionError(
                f"{where}: parameter `{param.name}` of tool {name!r} needs a type annotation "
                "(it becomes the JSON schema the model sees)",
                code="bad_tool",
            )
        hint = hints[param.name]
        if hint is Call or hint == Call | None:
            if param.kind is param.POSITIONAL_ONLY:
                raise AssistantDefinitionError(
                    f"{where}: the Call parameter of tool {name!r} cannot be positional-only",
                    code="bad_tool",
                )
            call_param = param
            continue
        # Internal field names avoid clashes with BaseModel attributes (`json`, `copy`, …);
        # the alias is the name the model sees.
        field_name = f"p{index}"
        default = ... if param.default is param.empty else param.default
        doc = arg_docs.get(param.name)
        # description=None would hide one given in Annotated[X, Field(description=...)].
        info = (
            Field(default, alias=param.name, description=doc)
            if doc
            else Field(default, alias=param.name)
        )
        fields[field_name] = (hint, info)
        params.append((param, field_name))
    model = create_model(
        f"{name}_arguments",
        __config__=ConfigDict(extra="forbid", populate_by_name=False),
        **fields,
    )
    return typing.cast(type[BaseModel], model), params, call_param


def _compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Make pydantic's schema small: inline ``$defs``, drop titles, simplify ``Optional``.

    A recursive model cannot be inlined: then the ``$defs`` and references are kept.
    """
    defs: dict[str, Any] = schema.pop("$defs", {})

    def walk(node: Any, seen: frozenset[str], inline: bool) -> Any:
        if isinstance(node, list):
            return [walk(item, seen, inline) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if inline and isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.removeprefix("#/$defs/")
            if key in seen or key not in defs:
                raise _Recursive
            merged = {**defs[key], **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged, seen | {key}, inline)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title":
                continue
            if key in ("properties", "patternProperties", "$defs"):
                out[key] = {name: walk(sub, seen, inline) for name, sub in value.items()}
            else:
                out[key] = walk(value, seen, inline)
        return _simplify_optional(out)

    try:
        compact = walk(schema, frozenset(), True)
    except _Recursive:
        compact = walk({**schema, "$defs": defs}, frozenset(), False)
    compact.pop("type", None)
    return typing.cast(dict[str, Any], {"type": "object", "properties": {}, **compact})


class _Recursive(Exception):
    pass


def _simplify_optional(node: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {"type": "null"}]`` with default ``None`` → ``X`` (and not required)."""
    options = node.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return node
    other = next(o for o in options if o != {"type": "null"})
    if not isinstance(other, dict):
        return node
    merged = {**other, **{k: v for k, v in node.items() if k != "anyOf"}}
    if "default" in merged and merged["default"] is None:
        del merged["default"]
    return merged


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    qualname = getattr(func, "__qualname__", repr(func))
    if code is None:
        return str(qualname)
    return f"{code.co_filename}:{code.co_firstlineno} ({qualname})"
