"""Matrix calculus for layers such as Affine, by the trace identity, cross-checked elementwise.

Notation: the forward is ``Y = f(X, W, b)`` with ``Y`` of shape (N, M); ``dout`` is ∂L/∂Y, of the
same shape. With ``L = tr(doutᵀ·Y)`` (the vector–Jacobian product as a scalar), the gradient of
each variable ``V`` is ``∂L/∂V``, which SymPy's matrix derivative computes:

    Y = X·W + 1·bᵀ   gives   dX = dout·Wᵀ,   dW = Xᵀ·dout,   db = doutᵀ·1 (the column sums).

SymPy 1.14 returns silent wrong zeros for some matrix derivatives, so every result is checked
against plain elementwise differentiation of the same forward at small concrete sizes; a mismatch
raises :class:`DerivationError` and never reaches generated code.

>>> from symgrad.registry import catalog
>>> d = derive_matrix(catalog["Affine"])
>>> {g.wrt.name: g.expr for g in d.gradients}
{'X': dout*W.T, 'W': X.T*dout, 'b': dout.T*1}
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy
from sympy import MatrixSymbol

from symgrad.errors import DerivationError
from symgrad.result import Rendered
from symgrad.spec import D, M, MatrixSpec, N

SIZES = ({N: 2, D: 3, M: 4}, {N: 3, D: 2, M: 2})


@dataclass(frozen=True)
class MatrixGradient:
    wrt: MatrixSymbol
    expr: sympy.MatrixExpr

    @property
    def name(self) -> str:
        return f"d{self.wrt.name}"


@dataclass(frozen=True, repr=False)
class MatrixDerivation(Rendered):
    """Gradients of a matrix layer and the sizes at which they were cross-checked."""

    spec: MatrixSpec
    dout: MatrixSymbol
    trace: sympy.Expr
    gradients: tuple[MatrixGradient, ...]
    checked_sizes: tuple[dict, ...]

    @property
    def conventions(self) -> tuple[str, ...]:
        """Statements about points without a derivative: none for this kind of layer."""
        return ()

    @property
    def saved(self) -> dict[MatrixSymbol, MatrixSymbol]:
        """Inputs that the backward needs (parameters are attributes anyway)."""
        needed = set().union(*(g.expr.free_symbols for g in self.gradients))
        return {v: v for v in self.spec.inputs if v in needed}


@functools.lru_cache(maxsize=64)
def derive_matrix(spec: MatrixSpec) -> MatrixDerivation:
    dout = MatrixSymbol("dout", *spec.forward.shape)
    trace = sympy.Trace(dout.T * spec.forward)
    gradients = []
    for v in spec.variables:
        g = trace.diff(v)
        if g.shape != v.shape:
            raise DerivationError(f"{spec.name}: ∂L/∂{v} has shape {g.shape}, {v} has {v.shape}")
        gradients.append(MatrixGradient(v, g))
    for sizes in SIZES:
        for g in gradients:
            _cross_check(spec, dout, g, sizes)
    return MatrixDerivation(spec, dout, trace, tuple(gradients), SIZES)


def _cross_check(spec: MatrixSpec, dout: MatrixSymbol, g: MatrixGradient, sizes: dict) -> None:
    """Compare the matrix formula with elementwise differentiation at concrete sizes."""
    y = spec.forward.subs(sizes).as_explicit()
    gout = dout.subs(sizes).as_explicit()
    scalar = sum(gout[a, c] * y[a, c] for a in range(y.rows) for c in range(y.cols))
    v = g.wrt.subs(sizes)
    elementwise = sympy.Matrix(*v.shape, lambda a, c: sympy.diff(scalar, v[a, c]))
    formula = g.expr.subs(sizes).as_explicit()
    if formula.shape != elementwise.shape or any(
        sympy.expand(e) != 0 for e in (formula - elementwise)
    ):
        raise DerivationError(
            f"{spec.name}: SymPy's matrix derivative ∂L/∂{g.wrt} = {g.expr} disagrees with "
            f"elementwise differentiation at {', '.join(f'{s}={v}' for s, v in sizes.items())}"
        )
