"""Structure-aware generators of webhook bodies, for the fuzz tests (hypothesis).

A body is built the way a platform (or an attacker) would: an event object with the right
keys in any order, each field either a good value or any JSON value (wrong types for every
field of every event type, taken from the models), unknown extras, duplicated keys, and then
everything that trips a JSON parser: nesting thousands of levels deep, lone surrogate escapes
(``"\\ud800"``), surrogates encoded as UTF-8 bytes, numbers too large for a float or with
thousands of digits, ``NaN``, byte order marks, invalid UTF-8 bytes, UTF-16, truncation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st

from aiflow.protocol import KNOWN_EVENTS, Session

MARKER = "s3cr3t-4917612345678"
"""Put into generated values; an error message must never contain it."""

# Every field of every event type, from the models themselves (not a copy).
EVENT_FIELDS = {
    kind: sorted(set(cls.model_fields) - {"type", "session"}) for kind, cls in KNOWN_EVENTS.items()
}
EVENT_FIELDS["user_speak"].append("transcript")  # the legacy name the model also reads
SESSION_FIELDS = sorted(set(Session.model_fields) - {"id"})  # id: always drawn first


@dataclass(frozen=True)
class Raw:
    """JSON text emitted verbatim (tokens json.dumps would never write)."""

    text: str


@dataclass(frozen=True)
class Obj:
    """An object as ordered pairs, so that keys can repeat."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Deep:
    """``inner`` wrapped in ``levels`` arrays (or objects): built without recursion."""

    levels: int
    inner: Any
    arrays: bool = True


def to_json(value: Any, *, ascii_only: bool) -> str:
    """Serialise a generated value; strings keep lone surrogates (escaped or raw)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        inner = to_json(value.inner, ascii_only=ascii_only)
        if value.arrays:
            return "[" * value.levels + inner + "]" * value.levels
        return '{"d":' * value.levels + inner + "}" * value.levels
    if isinstance(value, Obj):
        members = (
            f"{to_json(key, ascii_only=ascii_only)}:{to_json(item, ascii_only=ascii_only)}"
            for key, item in value.pairs
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item, ascii_only=ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


# --- values --------------------------------------------------------------------------------


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``choices``, picked with the given weights (``one_of`` picks evenly)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(table[draw(st.integers(0, len(table) - 1))])

    return pick()


@cache
def rarely(one_in: int) -> st.SearchStrategy[bool]:
    """True about once in ``one_in`` draws (a plain integer draw leans towards 0)."""
    return weighted((one_in - 1, st.just(False)), (1, st.just(True)))


SPECIAL_NUMBERS = st.sampled_from(
    [
        Raw("1e400"),
        Raw("-1e400"),
        Raw("1e-400"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("-Infinity"),
        Raw("9" * 5000),
        Raw("9" * 101),
        Raw("-0"),
        Raw("1.0e2"),
        Raw("123456789012345678901234567890"),
    ]
)
SPECIAL_STRINGS = st.sampled_from(
    [
        "\ud800",
        "a\udfffb",
        "\udc00\ud800",
        "\ud83d\ude00",
        "\x00",
        "\n",
        "\u2028",
        "\ufeff",
        "\x85",
        "",
        " ",
        MARKER,
        "[[[{{{",
        '\\"',
        "0" * 300,
        "\u0660\u0661",
    ]
)
TEXT = weighted(
    (6, st.text(max_size=24)),
    (1, st.text(st.characters(exclude_categories=()), max_size=24)),  # with lone surrogates
    (1, SPECIAL_STRINGS),
    (1, st.text(max_size=5).map(lambda s: s + MARKER)),
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    SPECIAL_NUMBERS,
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
KEYS = st.one_of(
    st.sampled_from(["type", "session", "id", "text", "digit", "x", "", "\ud800", "a.b"]),
    st.text(max_size=8),  # too short to hold MARKER
)


def _object(pairs: list[tuple[str, Any]]) -> Obj:
    return Obj(tuple(pairs))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(st.tuples(KEYS, children), max_size=3).map(_object),
    )


JSON_VALUES = st.recursive(LEAVES, _containers, max_leaves=16)
# Around the limit (32 levels in all), around Python's recursion limit, and far beyond.
DEEP = st.builds(
    Deep,
    levels=st.one_of(st.integers(1, 40), st.integers(990, 1010), st.sampled_from([50_000])),
    inner=LEAVES,
    arrays=st.booleans(),
)
ANY_VALUE = st.one_of(JSON_VALUES, DEEP)
WRONG = JSON_VALUES  # a wrong type for a field: any JSON value

GOOD = {
    "text": TEXT,
    "ssml": TEXT.map(lambda t: f"<speak>{t}</speak>"),
    "reason": TEXT,
    "transcript": TEXT,
    "barged_in": st.booleans(),
    "digit": st.one_of(st.sampled_from(list("0123456789*#")), st.integers(0, 9)),
    "duration_ms": st.one_of(st.integers(0, 10**6), st.floats(0, 1e6)),
    "speech_started_at": st.integers(0, 2**53),
    "id": st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=300), SPECIAL_STRINGS),
    "direction": st.sampled_from(["inbound", "outbound"]),
}


@cache
def field_value(name: str) -> st.SearchStrategy[Any]:
    """A good value for ``name`` most of the time, any JSON value (a wrong type) otherwise."""
    return weighted((6, GOOD.get(name, TEXT)), (1, WRONG))


@st.composite
def _members(draw: st.DrawFn, names: list[str]) -> list[tuple[str, Any]]:
    chosen = [name for name in names if not draw(rarely(4))]
    return [(name, draw(field_value(name))) for name in chosen]


@st.composite
def sessions(draw: st.DrawFn) -> Any:
    """A session object (mostly valid), or something else where the session belongs."""
    if draw(rarely(20)):
        return draw(WRONG)
    pairs = [] if draw(rarely(20)) else [("id", draw(field_value("id")))]
    others = draw(st.lists(st.sampled_from(SESSION_FIELDS), max_size=3, unique=True))
    pairs += [(name, draw(field_value(name))) for name in others]
    pairs += draw(st.lists(st.tuples(KEYS, WRONG), max_size=1))
    return Obj(tuple(draw(st.permutations(pairs))))


ODD_TYPES = ["recording_ready", "x" * 200, "", "user_speak\n", "\ud800", MARKER]


EVENT_TYPES = weighted(
    (8, st.sampled_from(sorted(KNOWN_EVENTS))), (1, st.sampled_from(ODD_TYPES)), (1, WRONG)
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    """One event object: type, session, its fields (good or wrong), extras, duplicates."""
    kind = draw(EVENT_TYPES)
    names = EVENT_FIELDS.get(kind, []) if isinstance(kind, str) else []
    pairs: list[tuple[str, Any]] = [("type", kind), ("session", draw(sessions()))]
    pairs += draw(_members(names))
    pairs += draw(st.lists(st.tuples(KEYS, WRONG), max_size=2))
    if draw(rarely(8)):  # an extra nested deep (or not quite)
        pairs.append(("extra", draw(DEEP)))
    pairs = list(draw(st.permutations(pairs)))
    if draw(rarely(10)):  # a duplicated key: Python keeps the last one
        key, _ = draw(st.sampled_from(pairs))
        pairs.append((key, draw(WRONG)))
    if draw(rarely(20)):
        pairs = [(key, value) for key, value in pairs if draw(st.booleans())]
    return Obj(tuple(pairs))


DOCUMENTS = weighted((9, events()), (1, ANY_VALUE))


@st.composite
def bodies(draw: st.DrawFn) -> bytes | str:
    """A whole request body: a document, serialised and encoded in one of many ways."""
    text = to_json(draw(DOCUMENTS), ascii_only=draw(st.booleans()))
    how = draw(
        weighted(
            (8, st.just("utf-8")),
            (3, st.just("str")),
            (1, st.sampled_from(["bom", "str-bom", "whitespace"])),
            (1, st.sampled_from(["utf-16", "invalid-byte", "truncated"])),
        )
    )
    if how == "str":
        return text
    if how == "str-bom":
        return "\ufeff" + text
    if how == "whitespace":
        text = draw(st.sampled_from([" ", "\n", "\t\r\n"])) + text + "\n"
    raw = text.encode("utf-8", "surrogatepass")  # a raw lone surrogate: invalid UTF-8 bytes
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "invalid-byte":
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\x80", b"\xe2\x82", b"\xed\xa0\x80"]))
        return raw[:at] + junk + raw[at:]
    if how == "truncated":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    return raw
