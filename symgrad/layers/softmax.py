"""Softmax over the last axis: y[k] = exp(x[k]) / Σ_j exp(x[j])."""

from symgrad.spec import layer

SPEC = layer(
    "Softmax",
    "y[..., k] = exp(x[..., k]) / sum_j(exp(x[..., j]))",
    doc="Softmax over the last axis: y[k] = exp(x[k]) / Σ_j exp(x[j]).",
)
