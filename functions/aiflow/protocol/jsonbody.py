"""Reading untrusted JSON: bounded nesting, valid UTF-8 and Unicode, finite numbers.

Python's :func:`json.loads` trusts its input in ways a webhook cannot afford: it recurses once
per nesting level (a body nested ~1,000 deep raises ``RecursionError``), it decodes a
``"\\ud800"`` escape into a ``str`` that cannot be encoded again (so the failure surfaces much
later, when the call is saved or the reply is written), and it turns ``1e400`` into ``inf`` and
accepts ``NaN``, which are not JSON. :func:`read_json` checks all of this up front, without
recursion, and raises :class:`UnreadableJson` with a stable ``code``; its message names the
problem (and the field, where there is one) but never repeats the input.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays accepted (an event needs 2; extras get room)."""
MAX_NUMBER_CHARS = 100
"""Longest number literal accepted; longer ones are not data any platform sends."""

_UTF8_BOM = b"\xef\xbb\xbf"
# One JSON string, as an unrolled loop (linear time, no backtracking): runs of plain characters
# separated by escapes. Used only to blank strings out before counting brackets.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
# A \uD800-\uDFFF escape: the only way a surrogate gets into a value decoded from UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class UnreadableJson(ValueError):
    """A body that is not readable JSON; ``code`` says why, ``field`` where (if known).

    Codes: ``not_json`` (syntax, or bytes that are not UTF-8), ``too_deep``,
    ``invalid_number`` (too long or not finite) and ``invalid_unicode`` (a lone surrogate).
    """

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


def read_json(data: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON document from bytes (UTF-8, optional BOM) or text, checked as above.

    Raises:
        UnreadableJson: the body is not JSON this framework reads; see the class for codes.
    """
    text = _text(data)
    depth = nesting_depth(text)
    if depth > max_depth:
        raise _too_deep(max_depth)
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        # exc.msg is a fixed phrase such as "Expecting value": it never contains the input.
        raise UnreadableJson(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="not_json",
        ) from None
    # Depth and numbers are checked already; only a possible surrogate needs the full walk.
    if _SURROGATE_ESCAPE.search(text) or not _encodable(text):
        check_value(value, max_depth=max_depth)
    return value


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text``, counted without recursion.

    Strings are blanked out first, so brackets inside them do not count. For any text the
    decoder would recurse into, this count is at least as deep as the recursion.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def check_value(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Check an already decoded value: nesting, lone surrogates and non-finite numbers.

    Iterative, so a value too deep for recursion is reported, not crashed on.

    Raises:
        UnreadableJson: naming the field (``session.id``, ``items.3``) that holds the problem.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise _bad_unicode(path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise UnreadableJson(
                    f"`{field_path(path)}` holds a number that is not finite",
                    code="invalid_number",
                    field=field_path(path),
                )
        elif isinstance(item, Mapping | list | tuple):
            if len(path) >= max_depth:
                raise _too_deep(max_depth)
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if isinstance(key, str) and not _encodable(key):
                        raise _bad_unicode(path, key=True)
                    stack.append((child, (*path, key)))
            else:
                stack.extend((child, (*path, index)) for index, child in enumerate(item))


def json_number(value: Any) -> Any:
    """Pydantic before-validator: a number as JSON has it.

    Pydantic's lax mode reads ``true`` as 1 and ``"7"`` as 7, and Python's ``True`` is an int;
    on the wire either one where a number belongs is a mistake (the JSON Schema refuses both).
    """
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        raise ValueError("must be a number, not a string")
    return value


def field_path(path: tuple[Any, ...]) -> str:
    """``("session", "id")`` → ``session.id``; keys that are not plain names show as ``?``."""
    shown = [
        str(part)
        if isinstance(part, int) or (isinstance(part, str) and _PLAIN_KEY.fullmatch(part))
        else "?"
        for part in path
    ]
    return ".".join(shown) or "(body)"


def _text(data: bytes | bytearray | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    raw = bytes(data).removeprefix(_UTF8_BOM)  # RFC 8259 allows a reader to ignore a BOM
    try:
        return raw.decode("utf-8")  # strict: rejects encoded surrogates and stray bytes
    except UnicodeDecodeError as exc:
        raise UnreadableJson(
            f"the body is not valid JSON: it is not UTF-8 (invalid byte at offset {exc.start})",
            code="not_json",
        ) from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _long_number()
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _long_number()
    value = float(literal)
    if not math.isfinite(value):
        raise UnreadableJson(
            "a number in the body is too large to represent", code="invalid_number"
        )
    return value


def _not_a_number(_literal: str) -> Any:
    raise UnreadableJson(
        "the body is not valid JSON: NaN and Infinity are not JSON numbers", code="not_json"
    )


def _long_number() -> UnreadableJson:
    return UnreadableJson(
        f"a number in the body is longer than {MAX_NUMBER_CHARS} characters",
        code="invalid_number",
    )


def _too_deep(limit: int) -> UnreadableJson:
    return UnreadableJson(
        f"the body nests arrays and objects more than {limit} levels deep (the limit is {limit})",
        code="too_deep",
    )


def _bad_unicode(path: tuple[Any, ...], *, key: bool = False) -> UnreadableJson:
    where = field_path(path)
    subject = f"a key in `{where}`" if key and path else "a key" if key else f"`{where}`"
    return UnreadableJson(
        f"{subject} contains invalid Unicode (a lone UTF-16 surrogate escape)",
        code="invalid_unicode",
        field=where,
    )
