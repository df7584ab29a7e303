"""Scaled dot-product attention: y = softmax(q·kᵀ/√E + mask)·v over the last two axes."""

from symgrad.spec import layer

SPEC = layer(
    "Attention",
    """
    scores[..., t, s] = sum_e(q[..., t, e] * k[..., s, e]) / sqrt(E)
    keep[t, s] = where(s > t, 1 - causal, 1)
    w[..., t, s] = where(keep[t, s] > 0, exp(scores[..., t, s]), 0)
    p[..., t, s] = w[..., t, s] / sum_j(w[..., t, j])
    y[..., t, f] = sum_s(p[..., t, s] * v[..., s, f])
    """,
    inputs=("q", "k", "v"),
    constants={"causal": False},
    doc=(
        "Scaled dot-product attention softmax(q·kᵀ/√E + mask)·v: q of shape (..., T, E), k of "
        "shape (..., S, E), v of shape (..., S, F); with causal=True query t sees keys s ≤ t "
        "only."
    ),
)
