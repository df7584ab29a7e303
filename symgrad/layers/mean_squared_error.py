"""MeanSquaredError: half the squared error of each row, averaged over the batch."""

from symgrad.spec import layer

SPEC = layer(
    "MeanSquaredError",
    "loss = mean_n(sum_k((y[n, k] - t[n, k])**2)) / 2",
    targets=("t",),
    doc="Mean over the batch of ½·Σ_k (y[k] - t[k])² (the textbook's mean_squared_error per row).",
)
