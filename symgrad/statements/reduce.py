"""Reductions: ``mu[d] = mean_n x[n, d]``, ``s[n] = sum_k e[n, k]``, ``m[n] = max_k x[n, k]``.

A sum's gradient is the target's gradient broadcast back (``dx[n, d] += dmu[d]``), a mean's the
same divided by the number of elements reduced (the axis size, known at run time); a max's goes
to the maxima, split evenly between tied ones (as ``torch.amax``), so it still sums to the
target's gradient.

>>> from symgrad.tensors import Tensor
>>> x = Tensor("x", ("n", "d"), "input")
>>> r = Reduce.of(Tensor("mu", ("d",)), "mean", x, ("n",))
>>> r, r.numpy({"x": ("n", "d")})
(mu[d] = mean_n x, 'x.mean(axis=0)')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import sympy

from symgrad.layout import keeps_dims, numpy_axes
from symgrad.statements.base import Statement
from symgrad.tensor_algebra import Facts, Scope, make_sum
from symgrad.tensors import Tensor, size_of

OPS = ("sum", "mean", "max")
TIES = ("split", "first")
"""How a max reduction's gradient treats tied maxima: split evenly (``torch.amax``), or all to
the first in the reduced axes' row-major order (the book's and PyTorch's max pooling)."""


class first_max(sympy.Function):
    """``first_max(body, axes)``: 1 where ``body`` is the first element along ``axes`` equal
    to its maximum along them, else 0."""

    nargs = 2

    def _eval_is_real(self) -> bool:
        return True

    def _sympystr(self, printer: object) -> str:
        body, axes = self.args
        where = ", ".join(str(a) for a in axes)
        return f"[{printer._print(body)} = max, first along {where}]"


@dataclass(frozen=True)
class Reduce(Statement):
    op: str = "sum"
    ties: str = "split"

    kind: ClassVar[str] = "reduce"

    @classmethod
    def of(
        cls,
        target: Tensor,
        op: str,
        body: Tensor | sympy.Expr,
        axes: tuple[str, ...],
        operands: tuple[Tensor, ...] = (),
    ) -> Reduce:
        """``target = op_axes body``; ``body`` a tensor, or an expression in ``operands``."""
        if op not in OPS:
            raise ValueError(f"unknown reduction {op!r}; known: {', '.join(OPS)}")
        if isinstance(body, Tensor):
            operands, body = (body,), body.symbol
        used = {s.name for s in body.free_symbols}
        operands = tuple(o for o in operands if o.name in used)
        if op == "mean":
            body = body / size_of(axes)
        return cls(target, operands, body, tuple(axes), op)

    @property
    def operand(self) -> Tensor:
        return self.operands[0]

    def value(self, scope: Scope, facts: Facts | None = None) -> sympy.Expr:
        if self.op == "max":
            return sympy.Function("rmax")(self.body)
        return make_sum(self.body, self.summed, scope, facts)

    def local(self, operand: Tensor) -> sympy.Expr:
        if self.op != "max":
            return super().local(operand)
        if self.ties == "first":  # the engine gives the mask the forward computes
            raise ValueError(f"{self!r}: the first maximum is a mask of the forward's")
        # Ties split evenly: the indicator of the maxima over their count.
        hit = sympy.Piecewise((1, sympy.Eq(self.body, self.target.symbol)), (0, True))
        scope = Scope.of([*self.operands, self.target])
        return sympy.diff(self.body, operand.symbol) * hit / make_sum(hit, self.summed, scope)

    def numpy(self, slots: Mapping[str, tuple[str, ...]]) -> str:
        from symgrad.tensor_printer import numpy_tensor_code

        if self.op == "max":
            body = self.body
            inner = numpy_tensor_code(body, slots)
            ref = self.operands[0].name
            where = numpy_axes(slots[ref], self.summed, ref)
            keep = ", keepdims=True" if keeps_dims(slots[ref], self.summed) else ""
            inner = inner if body.is_Symbol else f"({inner})"
            return f"{inner}.max(axis={where}{keep})"
        scope = Scope.of(self.operands)
        return numpy_tensor_code(self.value(scope), slots, self.target.axes)

    def text(self) -> str:
        from symgrad.tensor_printer import text_tensor

        body = self.body * size_of(self.summed) if self.op == "mean" else self.body
        return f"{self.op}_{','.join(self.summed)} {text_tensor(body)}"

    def __repr__(self) -> str:
        return f"{self.target!r} = {self.text()}"


@dataclass(frozen=True)
class FirstMax(Statement):
    """``mask[T ∪ S] = [body = max_S body, first along S]`` for a max reduction ``m[T] =
    max_S body`` whose ties go to the first maximum: the one-hot mask its gradient is routed
    through, computed by the forward (the book's Pooling saves it as ``arg_max``)."""

    kind: ClassVar[str] = "first_max"

    @classmethod
    def of(cls, target: Tensor, reduction: Reduce) -> FirstMax:
        axes = sympy.Tuple(*(sympy.Symbol(a) for a in reduction.summed))
        return cls(target, reduction.operands, first_max(reduction.body, axes))

    @property
    def window(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.body.args[1])

    def local(self, operand: Tensor) -> sympy.Expr:
        return sympy.S.Zero

    def vjp(self, dtarget, scope, facts=None, locals_=None) -> dict[str, sympy.Expr]:
        return {}  # a mask: piecewise constant

    def __repr__(self) -> str:
        return f"{self.target!r} = {self.body}"
