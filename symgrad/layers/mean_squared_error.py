"""MeanSquaredError: half the squared error of each row, averaged over the batch."""

from sympy import IndexedBase, Rational, Sum

from symgrad.spec import k, loss, n

y, t = IndexedBase("y"), IndexedBase("t")

SPEC = loss(
    "MeanSquaredError",
    Rational(1, 2) * Sum((y[k] - t[k]) ** 2, (k, 0, n - 1)),
    y,
    t,
    doc="Mean over the batch of ½·Σ_k (y[k] - t[k])² (the textbook's mean_squared_error per row).",
)
