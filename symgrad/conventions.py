"""Conventions at points where a derivative does not exist, stated once.

SymPy differentiates ``Max(0, x)`` to ``Heaviside(x)`` and evaluates ``Heaviside(0)`` to 1/2. No
layer uses 1/2: the textbook's ReLU masks ``x <= 0``, so ReLU′(0) = 0 (PyTorch agrees). symgrad
takes every step function as 0 at its jump and writes it as a ``Piecewise`` on a strict
comparison, which the code printer turns into a boolean mask.

>>> from sympy import Symbol, Max, diff
>>> x = Symbol("x")
>>> apply_conventions(diff(Max(0, x), x))
Piecewise((1, x > 0), (0, True))
"""

from __future__ import annotations

import sympy

HEAVISIDE_AT_ZERO = (
    "The derivative at a kink is taken from the side where the step function is 0: "
    "Heaviside(0) = 0, so ReLU′(0) = 0 as in the textbook's mask x <= 0."
)


def apply_conventions(expr: sympy.Expr) -> sympy.Expr:
    """Replace every ``Heaviside(u)`` by ``Piecewise((1, u > 0), (0, True))``."""
    return expr.replace(
        lambda e: isinstance(e, sympy.Heaviside),
        lambda e: sympy.Piecewise((1, e.args[0] > 0), (0, True)),
    )


def uses_step_convention(expr: sympy.Expr) -> bool:
    """True when differentiating ``expr`` produced a step function (so the convention applies)."""
    return expr.has(sympy.Heaviside)
