"""HuberLoss: squared error near 0, absolute error beyond δ, averaged over every element."""

from symgrad.spec import layer

SPEC = layer(
    "HuberLoss",
    "loss = mean(where(abs(x[...] - t[...]) < delta, (x[...] - t[...])**2 / 2, "
    "delta * (abs(x[...] - t[...]) - delta / 2)))",
    targets=("t",),
    constants={"delta": 1.0},
    positive=("delta",),
    doc=(
        "Huber loss (PyTorch's HuberLoss): ½(x - t)² where |x - t| < δ, δ·(|x - t| - δ/2) "
        "elsewhere, averaged over all elements."
    ),
)
