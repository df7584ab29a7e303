"""CrossEntropyLoss with label smoothing: softmax cross-entropy against (1 - ε)·t + ε/K."""

from symgrad.spec import layer

SPEC = layer(
    "CrossEntropyLoss",
    """
    y[n, k] = exp(x[n, k]) / sum_j(exp(x[n, j]))
    loss = -mean_n((1 - label_smoothing) * sum_k(t[n, k] * log(y[n, k]))
                   + label_smoothing * mean_k(log(y[n, k])))
    """,
    targets=("t",),
    constants={"label_smoothing": 0.1},
    facts=[("t", "k", 1)],
    doc=(
        "Cross-entropy of softmax(x) against targets smoothed towards uniform, "
        "(1 - ε)·t + ε/K (PyTorch's CrossEntropyLoss(label_smoothing=ε)), mean over the batch."
    ),
)
