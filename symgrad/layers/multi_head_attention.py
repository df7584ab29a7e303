"""Multi-head self-attention: y = concat_h(softmax(q_h·k_hᵀ/√E)·v_h)·Wo, E = C // heads."""

from symgrad.spec import layer

SPEC = layer(
    "MultiHeadAttention",
    """
    x[n, t, d]
    Wq[d, c]
    Wk[d, c]
    Wv[d, c]
    Wo[c, m]
    q[n, h, t, e] = sum_d(x[n, t, d] * Wq[d, h*E + e])
    k[n, h, s, e] = sum_d(x[n, s, d] * Wk[d, h*E + e])
    v[n, h, s, e] = sum_d(x[n, s, d] * Wv[d, h*E + e])
    scores[n, h, t, s] = sum_e(q[n, h, t, e] * k[n, h, s, e]) / sqrt(E)
    keep[t, s] = where(s > t, 1 - causal, 1)
    w[n, h, t, s] = where(keep[t, s] > 0, exp(scores[n, h, t, s]), 0)
    p[n, h, t, s] = w[n, h, t, s] / sum_j(w[n, h, t, j])
    o[n, h, t, e] = sum_s(p[n, h, t, s] * v[n, h, s, e])
    y[n, t, m] = sum_(h, e)(o[n, h, t, e] * Wo[h*E + e, m])
    """,
    params=("Wq", "Wk", "Wv", "Wo"),
    constants={"heads": None, "causal": False},
    sizes={"h": "heads", "e": "C // heads", "s": "T"},
    doc=(
        "Multi-head self-attention without biases: x of shape (N, T, D), Wq, Wk, Wv of shape "
        "(D, C), Wo of shape (C, M); head h takes columns h*E:(h+1)*E (E = C // heads)."
    ),
)
