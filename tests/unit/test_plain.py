"""The framework's value classes behave like the dataclasses they replace or trim."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from aiflow.plain import FrozenValue, Plain
from aiflow.policy import OutagePolicy, TurnPolicy
from aiflow.settings import Settings


@dataclass(frozen=True)
class Generated:
    name: str
    count: int = 0
    note: str = field(default="", compare=False)
    secret: str = field(default="", repr=False)


@dataclass(frozen=True, eq=False, repr=False)
class Written(FrozenValue):
    name: str
    count: int = 0
    note: str = field(default="", compare=False)
    secret: str = field(default="", repr=False)


def test_a_frozen_value_compares_hashes_and_prints_like_a_frozen_dataclass() -> None:
    pairs = [(("a", 1, "x", "s"), ("a", 1, "y", "t")), (("a", 1), ("a", 2)), (("a",), ("b",))]
    for left, right in pairs:
        generated = Generated(*left) == Generated(*right)
        assert (Written(*left) == Written(*right)) is generated
        assert (Written(*left) != Written(*right)) is not generated
        assert hash(Written(*left)) == hash(Generated(*left))
        assert repr(Written(*left)).replace("Written", "Generated") == repr(Generated(*left))
    assert Written("a") != Generated("a")  # another class is never equal
    assert Written("a").__eq__(object()) is NotImplemented


def test_a_frozen_value_stays_a_frozen_dataclass() -> None:
    value = Written("a", 1)
    assert dataclasses.is_dataclass(value)
    assert dataclasses.replace(value, count=2) == Written("a", 2)
    assert dataclasses.asdict(value) == {"name": "a", "count": 1, "note": "", "secret": ""}
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.count = 3  # type: ignore[misc]
    assert {Written("a"): 1}[Written("a")] == 1


def test_the_public_policies_and_settings_keep_their_value_semantics() -> None:
    policy = TurnPolicy(max_fillers=2)
    assert policy == dataclasses.replace(TurnPolicy(), max_fillers=2)
    assert hash(policy) == hash(TurnPolicy(max_fillers=2))
    assert policy != TurnPolicy()
    assert repr(policy).startswith("TurnPolicy(fillers=None, slow_apology=None, max_fillers=2,")
    assert "OutagePolicy(after_failures=3" in repr(policy)
    assert OutagePolicy(after_failures=1) != OutagePolicy()
    assert Settings(api_token="t" * 16) == Settings(api_token="t" * 16)


def test_the_api_token_never_shows_in_a_settings_repr() -> None:
    assert "tttt" not in repr(Settings(api_token="t" * 16))


class Point(Plain):
    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def test_a_plain_record_compares_and_prints_by_its_slots() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert repr(Point(1, 2)) == "Point(x=1, y=2)"
    with pytest.raises(TypeError):
        hash(Point(1, 2))
