"""Contractions: ``Y[n, m] = Σ_d X[n, d] W[d, m]``, a product summed over the axes the target
lacks (matrix products, bilinear forms): NumPy's ``@`` where it is one, ``np.einsum`` otherwise.

The reverse-mode rule is the shared one: each operand's gradient is the target's gradient
contracted with the other operands (``dX = dY @ Wᵀ``, ``dW = Xᵀ @ dY``).

>>> from symgrad.tensors import Tensor
>>> X, W = Tensor("x", ("n", "d"), "input"), Tensor("W", ("d", "m"), "param")
>>> c = Contract.of(Tensor("t", ("n", "m")), (X, W))
>>> c, c.numpy({"x": ("n", "d"), "W": ("d", "m")})
(t[n, m] = Σ_d W*x, 'x @ W')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import sympy

from symgrad.statements.base import Statement
from symgrad.tensor_algebra import Scope, make_sum
from symgrad.tensors import Tensor


@dataclass(frozen=True)
class Contract(Statement):
    kind: ClassVar[str] = "contract"

    @classmethod
    def of(cls, target: Tensor, operands: tuple[Tensor, ...]) -> Contract:
        spanned = list(dict.fromkeys(a for o in operands for a in o.axes))
        summed = tuple(a for a in spanned if a not in target.axes)
        body = sympy.Mul(*(o.symbol for o in operands))
        return cls(target, tuple(operands), body, summed)

    def numpy(self, slots: Mapping[str, tuple[str, ...]]) -> str:
        from symgrad.tensor_printer import numpy_tensor_code

        scope = Scope.of(self.operands)
        return numpy_tensor_code(make_sum(self.body, self.summed, scope), slots, self.target.axes)

    def __repr__(self) -> str:
        return f"{self.target!r} = Σ_{','.join(self.summed)} {self.body}"
