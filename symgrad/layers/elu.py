"""ELU: y = x for x > 0, α·(exp(x) - 1) otherwise (α = 1, as PyTorch's default)."""

from symgrad.spec import layer

SPEC = layer(
    "ELU",
    "y[...] = where(x[...] > 0, x[...], alpha * (exp(x[...]) - 1))",
    constants={"alpha": 1.0},
    doc="Exponential linear unit: y = x for x > 0, α·(exp(x) - 1) otherwise.",
)
