"""RMSNorm: each sample divided by the root mean square of its last axis, then scaled."""

from symgrad.spec import layer

SPEC = layer(
    "RMSNorm",
    """
    ms[...] = mean_d(x[..., d]**2)
    rms[...] = sqrt(ms[...] + eps)
    xhat[..., d] = x[..., d] / rms[...]
    y[..., d] = gamma[d] * xhat[..., d]
    """,
    params=("gamma",),
    constants={"eps": 1e-6},
    doc="Root-mean-square normalisation over the last axis: y = γ·x/√(mean(x²) + ε).",
)
