"""Softmax over each row: y[i] = exp(x[i]) / Σ_j exp(x[j])."""

from sympy import IndexedBase, Sum, exp

from symgrad.spec import i, j, n, rowwise

x = IndexedBase("x")

SPEC = rowwise(
    "Softmax",
    exp(x[i]) / Sum(exp(x[j]), (j, 0, n - 1)),
    x,
    doc="Softmax over the last axis: y[i] = exp(x[i]) / Σ_j exp(x[j]).",
)
