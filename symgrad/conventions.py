"""Conventions at points where a derivative does not exist, stated once and applied in one place.

Every derivative symgrad takes goes through :func:`differentiate`, which applies these rules:

- **Kinks against a constant** (ReLU's ``max(0, x)`` at 0, a clamp): the derivative is taken from
  the side where it is 0. SymPy differentiates ``Max(0, x)`` to ``Heaviside(x)`` and evaluates
  ``Heaviside(0)`` to 1/2; no layer uses 1/2: the textbook's ReLU masks ``x <= 0``, so
  ReLU′(0) = 0 (PyTorch agrees). Step functions become a ``Piecewise`` on a strict comparison,
  which the code printer turns into a boolean mask.
- **Ties between inputs** (``max(x, y)`` at x = y): the gradient is split evenly between the tied
  arguments, as ``torch.maximum`` does, so the input gradients still sum to ``dout``. A max or min
  of several arguments is a chain of binary ones (as the generated ``np.maximum`` calls are),
  each splitting evenly. Written ``max(a, b) = (a + b)/2 + |a − b|/2``, the split is the
  derivative of ``|u|`` at 0.
- **|u| at 0**: ``sign(0) = 0``, the middle of the one-sided derivatives (PyTorch agrees).

>>> from sympy import Symbol, Max
>>> x, y = Symbol("x", real=True), Symbol("y", real=True)
>>> differentiate(Max(0, x), x)
Piecewise((1, x > 0), (0, True))
>>> differentiate(Max(x, y), x)
sign(x - y)/2 + 1/2
"""

from __future__ import annotations

import sympy

from symgrad.i18n import N_

# The statements are stored and compared in English; whoever prints one translates it there,
# tr(statement).
HEAVISIDE_AT_ZERO = N_(
    "The derivative at a kink is taken from the side where the step function is 0: "
    "Heaviside(0) = 0, so ReLU′(0) = 0 as in the textbook's mask x <= 0."
)
TIES_TO_FIRST = N_(
    "Tied maxima: the gradient goes to the first maximum of each window (in row-major order), "
    "as the book's and PyTorch's max pooling."
)
TIES_SPLIT_EVENLY = N_(
    "At a tie of max or min the gradient is split evenly between the tied inputs "
    "(as torch.maximum does), so the input gradients sum to dout."
)
ABS_AT_ZERO = N_("The derivative of |u| at u = 0 is sign(0) = 0, the mean of the one-sided ones.")


def differentiate(expr: sympy.Expr, v: sympy.Symbol) -> sympy.Expr:
    """``∂expr/∂v`` with the conventions above."""
    return apply_conventions(sympy.diff(split_ties(expr), v))


def conventions_used(expr: sympy.Expr, variables: tuple[sympy.Symbol, ...]) -> list[str]:
    """The statements that apply to differentiating ``expr`` with respect to ``variables``."""
    tied = split_ties(expr)
    raw = [sympy.diff(tied, v) for v in variables]
    used = []
    if any(r.has(sympy.Heaviside) for r in raw):
        used.append(HEAVISIDE_AT_ZERO)
    if tied != expr:
        used.append(TIES_SPLIT_EVENLY)
    elif any(r.has(sympy.sign) for r in raw):
        used.append(ABS_AT_ZERO)
    return used


def split_ties(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite each max/min of two or more non-constant arguments as a chain of binary ones,
    ``max(a, b) = (a + b)/2 + |a − b|/2``, whose derivative splits a tie evenly.

    >>> from sympy import Symbol, Min
    >>> x, y = Symbol("x"), Symbol("y")
    >>> split_ties(Min(0, x, y))
    Min(0, x/2 + y/2 - Abs(x - y)/2)
    """

    def rewrite(m: sympy.Expr) -> sympy.Expr:
        constant = [a for a in m.args if not a.free_symbols]
        variable = [a for a in m.args if a.free_symbols]
        if len(variable) < 2:
            return m
        sign = 1 if isinstance(m, sympy.Max) else -1
        chain = variable[0]
        for b in variable[1:]:
            chain = (chain + b) / 2 + sign * sympy.Abs(chain - b) / 2
        return m.func(*constant, chain) if constant else chain

    return expr.replace(lambda e: isinstance(e, (sympy.Max, sympy.Min)), rewrite)


def apply_conventions(expr: sympy.Expr) -> sympy.Expr:
    """Replace every ``Heaviside(u)`` by ``Piecewise((1, u > 0), (0, True))``.

    >>> from sympy import Symbol, Max, diff
    >>> x = Symbol("x")
    >>> apply_conventions(diff(Max(0, x), x))
    Piecewise((1, x > 0), (0, True))
    """
    return expr.replace(
        lambda e: isinstance(e, sympy.Heaviside),
        lambda e: sympy.Piecewise((1, e.args[0] > 0), (0, True)),
    )
