"""Plain value classes: fields in ``__slots__``, ``repr`` and equality by field.

What ``@dataclass`` gives the framework's small internal records, without generating and
compiling their methods when the module is imported: about 0.25 ms per class, which every
Lambda cold start pays for every class on the import path of the first answer.
"""

from __future__ import annotations


class Plain:
    """Base of a record whose ``__slots__`` name its fields (in ``repr`` order)."""

    __slots__: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # equal by value, so unhashable

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)
