"""BatchNormalization (textbook ch. 6): each feature normalised over the batch, then scaled."""

from symgrad.spec import layer

SPEC = layer(
    "BatchNormalization",
    """
    mu[d] = mean_n(x[n, d])
    xc[n, d] = x[n, d] - mu[d]
    var[d] = mean_n(xc[n, d]**2)
    std[d] = sqrt(var[d] + eps)
    xhat[n, d] = xc[n, d] / std[d]
    y[n, d] = gamma[d] * xhat[n, d] + beta[d]
    """,
    params=("gamma", "beta"),
    constants={"eps": 1e-6},
    flatten=True,
    eval_text="""
    xhat[n, d] = (x[n, d] - running_mean[d]) / sqrt(running_var[d] + eps)
    y[n, d] = gamma[d] * xhat[n, d] + beta[d]
    """,
    running={"running_mean": "mu", "running_var": "var"},
    doc=(
        "Batch normalisation: y = γ·(x - μ)/√(σ² + ε) + β with the batch's mean and (biased) "
        "variance in training, running averages in evaluation (forward flattens (N, ...) to "
        "(N, D), as the book's)."
    ),
)
