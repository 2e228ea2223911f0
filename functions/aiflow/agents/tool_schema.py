"""JSON schemas for tools, built from a typed Python signature and its docstring.

:func:`arguments_model` turns the parameters into a pydantic model (the model validates the
arguments; its schema, made small by :func:`compact_schema`, is what the LLM sees), and
:func:`parse_docstring` finds the tool description and Google-style ``Args:`` descriptions.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..call import Call
from ..errors import AssistantDefinitionError

_SECTION = re.compile(r"^\s*([A-Z][A-Za-z ]*):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


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


def arguments_model(
    func: Callable[..., Any],
    name: str,
    arg_docs: dict[str, str],
    where: str,
    *,
    extra: typing.Literal["forbid", "ignore"] = "forbid",
) -> tuple[type[BaseModel], list[tuple[inspect.Parameter, str]], inspect.Parameter | None]:
    """The arguments model of ``func``, its (parameter, field name) pairs and the parameter
    that receives the :class:`~aiflow.Call` (not an argument of the model).

    ``extra``: what happens to arguments the function does not take.
    """
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
        __config__=ConfigDict(extra=extra, populate_by_name=False),
        **fields,
    )
    return typing.cast(type[BaseModel], model), params, call_param


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
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


def defined_at(func: Callable[..., Any]) -> str:
    """``file:line (qualname)`` of ``func``, for definition errors."""
    code = getattr(func, "__code__", None)
    qualname = getattr(func, "__qualname__", repr(func))
    if code is None:
        return str(qualname)
    return f"{code.co_filename}:{code.co_firstlineno} ({qualname})"
