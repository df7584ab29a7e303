"""Maps: ``y[T] = f(a[A], b[B], ...)`` elementwise, operands broadcast over the axes they lack.

The reverse-mode rule is the shared one (:mod:`symgrad.statements.base`), with ``∂f/∂a`` the
engine's proven local derivative (``y(1 - y)`` for a sigmoid); an operand with fewer axes than
``y`` (``gamma[d]`` in ``y[n, d]``) gets its gradient summed over the others.

>>> from symgrad.tensors import Tensor
>>> x, g = Tensor("x", ("n", "d"), "input"), Tensor("gamma", ("d",), "param")
>>> m = Map.of(Tensor("y", ("n", "d")), x.symbol * g.symbol, (x, g))
>>> m, m.numpy({"x": ("n", "d"), "gamma": ("d",)})
(y[n, d] = gamma*x, 'gamma * x')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import sympy

from symgrad.statements.base import Statement
from symgrad.tensors import Tensor


@dataclass(frozen=True)
class Map(Statement):
    kind: ClassVar[str] = "map"

    @classmethod
    def of(cls, target: Tensor, expr: sympy.Expr, operands: tuple[Tensor, ...]) -> Map:
        used = {s.name for s in expr.free_symbols}
        return cls(target, tuple(o for o in operands if o.name in used), expr)

    def numpy(self, slots: Mapping[str, tuple[str, ...]]) -> str:
        from symgrad.tensor_printer import numpy_tensor_code

        return numpy_tensor_code(self.body, slots)

    def latex(self, indices: Mapping[str, str] | None = None) -> str:
        from symgrad.tensor_printer import latex_tensor

        return latex_tensor(self.body)

    def text(self) -> str:
        from symgrad.tensor_printer import text_tensor

        return text_tensor(self.body)

    def __repr__(self) -> str:
        return f"{self.target!r} = {self.body}"
