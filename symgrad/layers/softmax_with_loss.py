"""SoftmaxWithLoss (textbook ch. 5): cross-entropy of softmax(x) against t, mean over the batch."""

from symgrad.spec import layer

SPEC = layer(
    "SoftmaxWithLoss",
    """
    y[n, k] = exp(x[n, k]) / sum_j(exp(x[n, j]))
    loss = -mean_n(sum_k(t[n, k] * log(y[n, k])))
    """,
    targets=("t",),
    facts=[("t", "k", 1)],
    doc="Softmax followed by cross-entropy, averaged over the batch; t one-hot rows or labels.",
)
