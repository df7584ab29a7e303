"""Sigmoid (textbook ch. 5): y = 1/(1 + exp(-x))."""

from sympy import exp

from symgrad.spec import elementwise, x

SPEC = elementwise("Sigmoid", 1 / (1 + exp(-x)), x, doc="Logistic sigmoid: y = 1/(1 + exp(-x)).")
