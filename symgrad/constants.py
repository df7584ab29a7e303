"""Decimal constants that stay as the user wrote them.

SymPy multiplies a number into a sum (``2*(x + 1)`` becomes ``2*x + 2``) and folds products of
numbers, so the tanh-GELU ``0.7978845608*(x + 0.044715*x**3)`` would come back as
``997355701*x/1250000000 + 8919352034043*x**3/250000000000000``: exact, but nobody can read it.
A :class:`Decimal` is a number SymPy does not fold: it keeps its text (``0.044715``) in every
printer (NumPy, LaTeX, text), evaluates to its exact value in any precision, and behaves as a
real constant under differentiation and simplification. :func:`exact` turns every one back into
its exact rational, for arithmetic with values (``symgrad graph`` computes exactly).

>>> import sympy
>>> x = sympy.Symbol("x")
>>> c = Decimal("0.044715")
>>> c * (x + x**3)
0.044715*(x**3 + x)
>>> sympy.diff(c * x**2, x)
2*0.044715*x
>>> exact(c * x)
8943*x/200000
>>> Decimal("0.5") == Decimal("0.50"), Decimal("0.5") == Decimal("0.5")
(False, True)
"""

from __future__ import annotations

import sympy
from mpmath.libmp import from_rational
from sympy.core.expr import AtomicExpr


class Decimal(sympy.NumberSymbol):
    """A real constant written as a decimal literal; its text is part of its identity."""

    is_real = True
    is_finite = True
    is_number = True
    is_commutative = True
    is_rational = True
    is_irrational = False
    is_algebraic = True
    is_transcendental = False
    __slots__ = ("text", "value")

    def __new__(cls, text: str) -> Decimal:
        value = sympy.Rational(text)
        obj = AtomicExpr.__new__(cls)
        obj.text = text
        obj.value = value
        return obj

    def __float__(self) -> float:
        # The literal's own float (1e-05), not SymPy's evaluation of the symbol, which can be
        # one ulp off (9.999999999999999e-06).
        return float(self.text)

    # Identity by text: SymPy's NumberSymbol compares by object identity.
    def _hashable_content(self) -> tuple:
        return (self.text,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Decimal) and other.text == self.text

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((Decimal, self.text))

    def __getnewargs__(self) -> tuple[str]:
        return (self.text,)

    def _as_mpf_val(self, prec: int) -> tuple:
        return from_rational(int(self.value.p), int(self.value.q), prec, "n")

    def approximation_interval(self, number_cls: type) -> tuple:
        return (self.value, self.value)

    # The sign and integrality follow from the value.
    @property
    def is_positive(self) -> bool:  # type: ignore[override]
        return bool(self.value > 0)

    @property
    def is_negative(self) -> bool:  # type: ignore[override]
        return bool(self.value < 0)

    @property
    def is_zero(self) -> bool:  # type: ignore[override]
        return bool(self.value == 0)

    @property
    def is_nonnegative(self) -> bool:  # type: ignore[override]
        return bool(self.value >= 0)

    @property
    def is_nonpositive(self) -> bool:  # type: ignore[override]
        return bool(self.value <= 0)

    @property
    def is_integer(self) -> bool:  # type: ignore[override]
        return bool(self.value.is_integer)

    is_extended_positive = is_positive
    is_extended_negative = is_negative
    is_extended_nonnegative = is_nonnegative
    is_extended_nonpositive = is_nonpositive

    # Printed as written, by every printer.
    def _sympystr(self, printer: object) -> str:
        return self.text

    def _latex(self, printer: object) -> str:
        return self.text

    def _numpycode(self, printer: object) -> str:
        return self.text

    def _pythoncode(self, printer: object) -> str:
        return self.text

    def _pretty(self, printer: object) -> object:
        from sympy.printing.pretty.stringpict import prettyForm

        return prettyForm(self.text)


def exact(expr: sympy.Basic) -> sympy.Basic:
    """``expr`` with every :class:`Decimal` replaced by its exact rational value."""
    return expr.replace(lambda e: isinstance(e, Decimal), lambda e: e.value)


def readable(expr: sympy.Basic) -> sympy.Basic:
    """``expr`` with every SymPy ``Float`` made a :class:`Decimal` of its shortest repr
    (``0.044715``, not ``0.0447150000000000``), except in exponents, where it is the simple
    rational it stands for (``x**0.5`` is ``sqrt(x)``).

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> readable(0.044715 * x + x**0.5)
    sqrt(x) + 0.044715*x
    """
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Pow) and isinstance(e.exp, sympy.Float),
        lambda e: e.base ** sympy.nsimplify(e.exp, rational=True),
    )
    return expr.replace(
        lambda e: isinstance(e, sympy.Float) and e.is_finite, lambda e: Decimal(repr(float(e)))
    )
