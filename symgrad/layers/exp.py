"""Exp: y = exp(x)."""

from sympy import exp

from symgrad.spec import elementwise, x

SPEC = elementwise("Exp", exp(x), x, doc="Exponential: y = exp(x).")
