"""ReLU: y = max(0, x). The derivative at 0 is taken as 0, the textbook's mask ``x <= 0``."""

from sympy import Max

from symgrad.spec import elementwise, x

SPEC = elementwise("Relu", Max(0, x), x, doc="Rectified linear unit: y = max(0, x).")
