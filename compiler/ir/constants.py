"""Reading constants out of Relax expressions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import tvm

T = TypeVar("T")


def scalar_constant(expr: Any) -> float | None:
    """The value of a one-element tensor constant or a number (a clip bound), else None."""
    if isinstance(expr, tvm.ir.GenericConst):
        data = expr.value.numpy()
        return float(data.reshape(-1)[0]) if data.size == 1 else None
    value = getattr(expr, "value", None)
    return float(value) if isinstance(value, int | float) else None


class DerivedConstants(Generic[T]):
    """What a pass makes from constants (weights in another type), made once per constant.

    Every call that reads the same weights then reads the same copy, stored once.
    """

    def __init__(self, make: Callable[[tvm.ir.GenericConst], T]) -> None:
        self._make = make
        self._made: list[tuple[tvm.ir.GenericConst, T]] = []

    def get(self, source: tvm.ir.GenericConst) -> T:
        """`make(source)`, made on the first request for `source`."""
        for known, made in self._made:
            if known.same_as(source):
                return made
        made = self._make(source)
        self._made.append((source, made))
        return made
