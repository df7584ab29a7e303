"""MatMul: y = x·W."""

from symgrad.spec import layer

SPEC = layer(
    "MatMul", "y[n, m] = sum_d(x[n, d] * W[d, m])", params=("W",), doc="Matrix product: y = x·W."
)
