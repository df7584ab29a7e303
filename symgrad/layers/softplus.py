"""Softplus: y = log(1 + exp(x)), a smooth ReLU."""

from sympy import exp, log

from symgrad.spec import elementwise, x

SPEC = elementwise("Softplus", log(1 + exp(x)), x, doc="Softplus: y = log(1 + exp(x)).")
