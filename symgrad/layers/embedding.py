"""Embedding (the book's sequel, vol. 2): rows of W looked up by integer ids."""

from symgrad.spec import layer

SPEC = layer(
    "Embedding",
    """
    W[v, d]
    y[..., d] = W[idx[...], d]
    """,
    params=("W",),
    targets=("idx",),
    doc=(
        "Word embedding: forward(idx) returns W[idx] for integer ids of any shape; backward "
        "adds each row of dout into dW at its id (repeated ids accumulate) and returns None."
    ),
)
