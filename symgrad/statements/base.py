"""What every statement kind shares: ``target[T] = Σ_S body`` and its reverse-mode rule.

Notation: ``T`` are the target's axes, ``S`` the summed axes (empty for a map), ``body`` an
elementwise expression over ``T ∪ S`` in the operands' symbols (:mod:`symgrad.tensor_algebra`).
The gradient of an operand ``a[A]`` receives ``Σ_{(T ∪ S) - A} dtarget · ∂body/∂a``. A kind may
supply ``∂body/∂a`` itself (a map does, from the engine's proven local derivatives; a max
reduction does, as a mask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import sympy

from symgrad.tensor_algebra import Facts, Scope, make_sum
from symgrad.tensors import Tensor


@dataclass(frozen=True)
class Statement:
    """``target[T] = Σ_summed body``, with the tensors ``body`` reads."""

    target: Tensor
    operands: tuple[Tensor, ...]
    body: sympy.Expr
    summed: tuple[str, ...] = ()

    kind: ClassVar[str] = "statement"

    def value(self, scope: Scope, facts: Facts | None = None) -> sympy.Expr:
        """The target's element as an expression in the tensor algebra."""
        return make_sum(self.body, self.summed, scope, facts)

    def local(self, operand: Tensor) -> sympy.Expr:
        """``∂body/∂operand``, in the operands' symbols (and the target's, where shorter)."""
        return sympy.diff(self.body, operand.symbol)

    def vjp(
        self,
        dtarget: sympy.Expr,
        scope: Scope,
        facts: Facts | None = None,
        locals_: Mapping[str, sympy.Expr] | None = None,
    ) -> dict[str, sympy.Expr]:
        """The contribution of this statement to each differentiable operand's gradient,
        given the target's gradient ``dtarget`` (an expression over ``T``)."""
        out: dict[str, sympy.Expr] = {}
        span = set(self.target.axes) | set(self.summed)
        for a in self.operands:
            if not a.differentiable and a.role != "value":
                continue
            local = (locals_ or {}).get(a.name)
            if local is None:
                local = self.local(a)
            if local == 0:
                continue
            contribution = make_sum(dtarget * local, span - set(a.axes), scope, facts)
            out[a.name] = out.get(a.name, sympy.S.Zero) + contribution
        return out

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.operands)
