"""SigmoidWithLoss: binary cross-entropy on logits, summed over a row, mean over the batch."""

from sympy import IndexedBase, Sum, exp, log

from symgrad.spec import k, loss, n

x, t = IndexedBase("x"), IndexedBase("t")
p = 1 / (1 + exp(-x[k]))

SPEC = loss(
    "SigmoidWithLoss",
    -Sum(t[k] * log(p) + (1 - t[k]) * log(1 - p), (k, 0, n - 1)),
    x,
    t,
    doc="Binary cross-entropy on logits; t has the shape of x (0/1 or probabilities).",
)
