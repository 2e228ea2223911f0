"""Plain value classes: fields in ``__slots__``, ``repr`` and equality by field.

What ``@dataclass`` gives the framework's small internal records, without generating and
compiling their methods when the module is imported: about 0.25 ms per class, which every
Lambda cold start pays for every class on the import path of the first answer.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Plain:
    """Base of a record whose ``__slots__`` name its fields (in ``repr`` order).

    A subclass may set ``_compared`` to the fields that ``repr`` and ``==`` look at (default:
    all of ``__slots__``), e.g. to leave out a timestamp.
    """

    __slots__: tuple[str, ...] = ()
    _compared: ClassVar[tuple[str, ...]] = ()
    __hash__ = None  # type: ignore[assignment]  # equal by value, so unhashable

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "_compared" not in cls.__dict__:
            cls._compared = cls.__slots__

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._compared)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._compared)


class FrozenValue:
    """Base of a public ``@dataclass(frozen=True, eq=False, repr=False)``: ``==``, ``hash``
    and ``repr`` by field, as ``@dataclass(frozen=True)`` would generate them.

    ``dataclasses`` compiles those three methods for every class when its module is
    imported (about 0.4 ms per class with a dozen fields, on every cold start); these are
    written once. The class stays a dataclass: ``dataclasses.replace``, ``fields`` and
    ``asdict`` work, and ``__init__`` and the frozen ``__setattr__`` are the generated ones.
    """

    __slots__ = ()

    def _values(self, flag: str) -> tuple[object, ...]:
        fields = self.__dataclass_fields__.values()  # type: ignore[attr-defined]
        return tuple(getattr(self, f.name) for f in fields if _included(f, flag))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, FrozenValue):
            return NotImplemented
        return self._values("compare") == other._values("compare")

    def __hash__(self) -> int:
        return hash(self._values("hash"))

    def __repr__(self) -> str:
        fields = self.__dataclass_fields__.values()  # type: ignore[attr-defined]
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields if f.repr)
        return f"{type(self).__qualname__}({shown})"


def _included(field: Any, flag: str) -> bool:
    if flag == "hash" and field.hash is not None:
        return bool(field.hash)
    # What @dataclass(frozen=True) compares and hashes: the fields with compare=True.
    return bool(field.compare)
