"""LeakyReLU with PyTorch's default slope 0.01 for x < 0 (and at 0, as PyTorch's gradient)."""

from sympy import Piecewise, Rational

from symgrad.spec import elementwise, x

SPEC = elementwise(
    "LeakyReLU",
    Piecewise((x, x > 0), (Rational(1, 100) * x, True)),
    x,
    doc="Leaky ReLU: y = x for x > 0, 0.01·x otherwise.",
)
