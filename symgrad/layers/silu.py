"""SiLU (swish): y = x·sigmoid(x) = x/(1 + exp(-x))."""

from sympy import exp

from symgrad.spec import elementwise, x

SPEC = elementwise(
    "SiLU", x / (1 + exp(-x)), x, doc="Sigmoid-weighted linear unit: y = x/(1 + exp(-x))."
)
