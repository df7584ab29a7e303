"""Tanh: y = tanh(x)."""

from sympy import tanh

from symgrad.spec import elementwise, x

SPEC = elementwise("Tanh", tanh(x), x, doc="Hyperbolic tangent: y = tanh(x).")
