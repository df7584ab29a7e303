"""PReLU: y = x for x > 0, α·x otherwise, with a learnable α per channel (axis 1) or shared."""

from symgrad.spec import layer

SPEC = layer(
    "PReLU",
    "y[n, c, ...] = where(x[n, c, ...] > 0, x[n, c, ...], alpha[c] * x[n, c, ...])",
    params=("alpha",),
    shared=("alpha",),
    doc=(
        "Parametric ReLU: y = x for x > 0, α·x otherwise; α of shape (C,) for inputs (N, C, ...), "
        "or of shape () shared by every channel."
    ),
)
