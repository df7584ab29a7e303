"""SigmoidWithLoss: binary cross-entropy on logits, summed over a row, mean over the batch."""

from symgrad.spec import layer

SPEC = layer(
    "SigmoidWithLoss",
    """
    loss = -mean_n(sum_k(t[n, k] * log(sigmoid(x[n, k]))
                         + (1 - t[n, k]) * log(1 - sigmoid(x[n, k]))))
    """,
    targets=("t",),
    doc="Binary cross-entropy on logits; t has the shape of x (0/1 or probabilities).",
)
