"""Affine (textbook ch. 5): y = x·W + b, the bias broadcast over the batch."""

from symgrad.spec import layer

SPEC = layer(
    "Affine",
    "y[n, m] = sum_d(x[n, d] * W[d, m]) + b[m]",
    params=("W", "b"),
    flatten=True,
    doc="Fully connected layer: y = x·W + b (forward flattens x of shape (N, ...) to (N, D)).",
)
