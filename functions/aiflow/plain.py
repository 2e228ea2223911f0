"""Plain value classes: fields in ``__slots__``, ``repr`` and equality by field.

What ``@dataclass`` gives the framework's small internal records, without generating and
compiling their methods when the module is imported: about 0.25 ms per class, which every
Lambda cold start pays for every class on the import path of the first answer.
"""

from __future__ import annotations

from typing import ClassVar


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
