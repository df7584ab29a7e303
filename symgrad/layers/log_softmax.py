"""LogSoftmax over the last axis: y[k] = x[k] - log Σ_j exp(x[j])."""

from symgrad.spec import layer

SPEC = layer(
    "LogSoftmax",
    "y[..., k] = x[..., k] - log(sum_j(exp(x[..., j])))",
    doc="Log of the softmax over the last axis: y[k] = x[k] - log Σ_j exp(x[j]).",
)
