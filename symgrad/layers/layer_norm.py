"""LayerNorm: each sample normalised over its last axis, then scaled (PyTorch's, ε = 1e-5)."""

from symgrad.spec import layer

SPEC = layer(
    "LayerNorm",
    """
    mu[...] = mean_d(x[..., d])
    xc[..., d] = x[..., d] - mu[...]
    var[...] = mean_d(xc[..., d]**2)
    std[...] = sqrt(var[...] + eps)
    xhat[..., d] = xc[..., d] / std[...]
    y[..., d] = gamma[d] * xhat[..., d] + beta[d]
    """,
    params=("gamma", "beta"),
    constants={"eps": 1e-5},
    doc="Layer normalisation over the last axis: y = γ·(x - μ)/√(σ² + ε) + β, per sample.",
)
