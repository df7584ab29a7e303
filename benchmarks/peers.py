"""What an engineer would otherwise run for each catalog layer: torch CPU eager and JAX jit.

Each peer is a forward written with the framework's own ops (its native op where it has one:
``torch.sigmoid``, ``F.layer_norm``, ``jax.nn.gelu``, ...), differentiated by the framework.
A peer takes the layer's forward arguments (in ``forward``'s order), its parameters by name and
the generated layer object (for its options: ``eps``, ``alpha``, ``causal``, ...), and returns
the output. ``bench_layers.py`` checks every peer against the generated layer (forward and
gradients) before it times anything, so a peer that computes something else is caught there.

A layer with no peer is named in ``NO_PEER`` with the reason, so the benchmark can print why
its column is empty instead of leaving it out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Peer = Callable[[list[Any], dict[str, Any], Any], Any]

NO_PEER = {
    "Dropout": "the book's dropout does not rescale kept values; torch's and JAX's do, and "
    "they draw their own masks"
}


def torch_peers() -> dict[str, Peer]:
    """Layer name -> a torch eager forward (autograd differentiates it)."""
    import torch
    import torch.nn.functional as F

    def heads(x: Any, w: Any, h: int) -> Any:
        n, t, _ = x.shape
        return (x @ w).reshape(n, t, h, -1).transpose(1, 2)

    def mha(a: list, p: dict, lay: Any) -> Any:
        x, h = a[0], lay.heads
        q, k, v = (heads(x, p[w], h) for w in ("Wq", "Wk", "Wv"))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=lay.causal)
        return o.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1) @ p["Wo"]

    def smoothed(a: list, p: dict, lay: Any) -> Any:
        return F.cross_entropy(a[0], a[1], label_smoothing=lay.label_smoothing)

    return {
        "AddLayer": lambda a, p, lay: a[0] + a[1],
        "MulLayer": lambda a, p, lay: a[0] * a[1],
        "Affine": lambda a, p, lay: torch.addmm(p["b"], a[0], p["W"]),
        "MatMul": lambda a, p, lay: a[0] @ p["W"],
        "Attention": lambda a, p, lay: F.scaled_dot_product_attention(*a, is_causal=lay.causal),
        "MultiHeadAttention": mha,
        "Convolution": lambda a, p, lay: F.conv2d(a[0], p["W"], p["b"], lay.stride, lay.pad),
        "Pooling": lambda a, p, lay: F.max_pool2d(
            a[0], (lay.pool_h, lay.pool_w), lay.stride, lay.pad
        ),
        "AvgPooling": lambda a, p, lay: F.avg_pool2d(
            a[0], (lay.pool_h, lay.pool_w), lay.stride, lay.pad
        ),
        "Embedding": lambda a, p, lay: F.embedding(a[0], p["W"]),
        "BatchNormalization": lambda a, p, lay: F.batch_norm(
            a[0], None, None, p["gamma"], p["beta"], training=True, eps=lay.eps
        ),
        "LayerNorm": lambda a, p, lay: F.layer_norm(
            a[0], a[0].shape[-1:], p["gamma"], p["beta"], lay.eps
        ),
        "RMSNorm": lambda a, p, lay: F.rms_norm(a[0], a[0].shape[-1:], p["gamma"], lay.eps),
        "Softmax": lambda a, p, lay: torch.softmax(a[0], -1),
        "LogSoftmax": lambda a, p, lay: torch.log_softmax(a[0], -1),
        "SoftmaxWithLoss": lambda a, p, lay: F.cross_entropy(a[0], a[1]),
        "CrossEntropyLoss": smoothed,
        "SigmoidWithLoss": lambda a, p, lay: (
            F.binary_cross_entropy_with_logits(a[0], a[1], reduction="sum") / a[0].shape[0]
        ),
        "MeanSquaredError": lambda a, p, lay: (
            F.mse_loss(a[0], a[1], reduction="sum") / (2 * a[0].shape[0])
        ),
        "HuberLoss": lambda a, p, lay: F.huber_loss(a[0], a[1], delta=lay.delta),
        "ELU": lambda a, p, lay: F.elu(a[0], lay.alpha),
        "Exp": lambda a, p, lay: torch.exp(a[0]),
        "GELU": lambda a, p, lay: F.gelu(a[0]),
        "GELUTanh": lambda a, p, lay: F.gelu(a[0], approximate="tanh"),
        "LeakyReLU": lambda a, p, lay: F.leaky_relu(a[0], 0.01),
        "PReLU": lambda a, p, lay: F.prelu(a[0], p["alpha"]),
        "Relu": lambda a, p, lay: torch.relu(a[0]),
        "Sigmoid": lambda a, p, lay: torch.sigmoid(a[0]),
        "SiLU": lambda a, p, lay: F.silu(a[0]),
        "Softplus": lambda a, p, lay: F.softplus(a[0]),
        "Tanh": lambda a, p, lay: torch.tanh(a[0]),
    }


def jax_peers() -> dict[str, Peer]:
    """Layer name -> a jax.numpy forward (``jax.vjp`` differentiates it, under ``jit``)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def norm(x: Any, eps: float, centre: bool) -> Any:
        m = jnp.mean(x, -1, keepdims=True) if centre else 0.0
        return (x - m) * lax.rsqrt(jnp.mean(jnp.square(x - m), -1, keepdims=True) + eps)

    def batch_norm(a: list, p: dict, lay: Any) -> Any:
        x = a[0]
        m = jnp.mean(x, 0)
        return (x - m) * lax.rsqrt(jnp.var(x, 0) + lay.eps) * p["gamma"] + p["beta"]

    def window(x: Any, lay: Any, init: float, op: Callable) -> Any:
        pads = ((0, 0), (0, 0), (lay.pad, lay.pad), (lay.pad, lay.pad))
        dims = (1, 1, lay.pool_h, lay.pool_w)
        return lax.reduce_window(x, init, op, dims, (1, 1, lay.stride, lay.stride), pads)

    def conv(a: list, p: dict, lay: Any) -> Any:
        pad = [(lay.pad, lay.pad)] * 2
        y = lax.conv_general_dilated(a[0], p["W"], (lay.stride, lay.stride), pad)
        return y + p["b"][:, None, None]

    def attention(q: Any, k: Any, v: Any, causal: bool) -> Any:
        s = jnp.einsum("...te,...se->...ts", q, k) / math.sqrt(q.shape[-1])
        if causal:
            s = jnp.where(jnp.tril(jnp.ones(s.shape[-2:], bool)), s, -jnp.inf)
        return jnp.einsum("...ts,...sf->...tf", jax.nn.softmax(s, -1), v)

    def mha(a: list, p: dict, lay: Any) -> Any:
        x, h = a[0], lay.heads
        n, t, _ = x.shape
        q, k, v = ((x @ p[w]).reshape(n, t, h, -1).swapaxes(1, 2) for w in ("Wq", "Wk", "Wv"))
        o = attention(q, k, v, lay.causal).swapaxes(1, 2).reshape(n, t, -1)
        return o @ p["Wo"]

    def smoothed(a: list, p: dict, lay: Any) -> Any:
        logp, t, e = jax.nn.log_softmax(a[0], -1), a[1], lay.label_smoothing
        return -jnp.mean((1 - e) * jnp.sum(t * logp, -1) + e * jnp.mean(logp, -1))

    def huber(a: list, p: dict, lay: Any) -> Any:
        r, d = jnp.abs(a[0] - a[1]), lay.delta
        return jnp.mean(jnp.where(r < d, 0.5 * r * r, d * (r - 0.5 * d)))

    def prelu(a: list, p: dict, lay: Any) -> Any:
        x = a[0]
        alpha = p["alpha"].reshape(p["alpha"].shape + (1,) * (x.ndim - 2))
        return jnp.where(x > 0, x, alpha * x)

    def bce(a: list, p: dict, lay: Any) -> Any:
        x, t = a
        return -jnp.sum(t * jax.nn.log_sigmoid(x) + (1 - t) * jax.nn.log_sigmoid(-x)) / len(x)

    return {
        "AddLayer": lambda a, p, lay: a[0] + a[1],
        "MulLayer": lambda a, p, lay: a[0] * a[1],
        "Affine": lambda a, p, lay: a[0] @ p["W"] + p["b"],
        "MatMul": lambda a, p, lay: a[0] @ p["W"],
        "Attention": lambda a, p, lay: attention(*a, lay.causal),
        "MultiHeadAttention": mha,
        "Convolution": conv,
        "Pooling": lambda a, p, lay: window(a[0], lay, -jnp.inf, lax.max),
        "AvgPooling": lambda a, p, lay: window(a[0], lay, 0.0, lax.add) / (lay.pool_h * lay.pool_w),
        "Embedding": lambda a, p, lay: p["W"][a[0]],
        "BatchNormalization": batch_norm,
        "LayerNorm": lambda a, p, lay: norm(a[0], lay.eps, True) * p["gamma"] + p["beta"],
        "RMSNorm": lambda a, p, lay: norm(a[0], lay.eps, False) * p["gamma"],
        "Softmax": lambda a, p, lay: jax.nn.softmax(a[0], -1),
        "LogSoftmax": lambda a, p, lay: jax.nn.log_softmax(a[0], -1),
        "SoftmaxWithLoss": lambda a, p, lay: (
            -jnp.mean(jnp.sum(a[1] * jax.nn.log_softmax(a[0], -1), -1))
        ),
        "CrossEntropyLoss": smoothed,
        "SigmoidWithLoss": bce,
        "MeanSquaredError": lambda a, p, lay: jnp.sum(jnp.square(a[0] - a[1])) / (2 * len(a[0])),
        "HuberLoss": huber,
        "ELU": lambda a, p, lay: jax.nn.elu(a[0], lay.alpha),
        "Exp": lambda a, p, lay: jnp.exp(a[0]),
        "GELU": lambda a, p, lay: jax.nn.gelu(a[0], approximate=False),
        "GELUTanh": lambda a, p, lay: jax.nn.gelu(a[0], approximate=True),
        "LeakyReLU": lambda a, p, lay: jax.nn.leaky_relu(a[0], 0.01),
        "PReLU": prelu,
        "Relu": lambda a, p, lay: jax.nn.relu(a[0]),
        "Sigmoid": lambda a, p, lay: jax.nn.sigmoid(a[0]),
        "SiLU": lambda a, p, lay: jax.nn.silu(a[0]),
        "Softplus": lambda a, p, lay: jax.nn.softplus(a[0]),
        "Tanh": lambda a, p, lay: jnp.tanh(a[0]),
    }


Results = tuple[Any, list[Any], dict[str, Any]]  # output, input gradients, parameter gradients


def differentiable(layer_spec: Any) -> list[bool]:
    """For each forward argument: is it differentiated (an input), or not (a target)?"""
    return [t.role == "input" for t in layer_spec.with_role("input", "target")]


def torch_step(
    peer: Peer, args: list[Any], params: dict[str, Any], layer: Any, dout: Any, diff: list[bool]
) -> Callable[[], Results]:
    """One forward + backward through torch autograd, as a function of nothing."""
    import torch

    upstream = None if isinstance(dout, float) else torch.from_numpy(dout)

    def step() -> Results:
        xs = [torch.from_numpy(a).requires_grad_(d) for a, d in zip(args, diff, strict=True)]
        ps = {k: torch.from_numpy(v).requires_grad_() for k, v in params.items()}
        y = peer(xs, ps, layer)
        y.backward(upstream)
        return (
            y,
            [x.grad for x, d in zip(xs, diff, strict=True) if d],
            {k: p.grad for k, p in ps.items()},
        )

    return step


def jax_step(
    peer: Peer, args: list[Any], params: dict[str, Any], layer: Any, dout: Any, diff: list[bool]
) -> Callable[[], Results]:
    """One jitted forward + ``jax.vjp`` backward, as a function of nothing (blocks until done)."""
    import jax
    import jax.numpy as jnp

    fixed = [jnp.asarray(a) for a, d in zip(args, diff, strict=True) if not d]
    moving = [jnp.asarray(a) for a, d in zip(args, diff, strict=True) if d]
    pvals = {k: jnp.asarray(v) for k, v in params.items()}
    g = jnp.asarray(dout)

    def forward(xs: list, ps: dict) -> Any:
        it, fx = iter(xs), iter(fixed)
        merged = [next(it) if d else next(fx) for d in diff]
        return peer(merged, ps, layer)

    @jax.jit
    def both(xs: list, ps: dict, g: Any) -> Any:
        y, back = jax.vjp(forward, xs, ps)
        return y, *back(g.astype(y.dtype))

    def step() -> Results:
        return jax.block_until_ready(both(moving, pvals, g))

    return step


def generated_results(layer: Any, args: list[Any], dout: Any, params: dict[str, Any]) -> Results:
    """The generated layer's output, input gradients and parameter gradients."""
    y = layer.forward(*[a.copy() for a in args])
    grads = layer.backward(dout.copy() if hasattr(dout, "copy") else dout)
    grads = [g for g in (grads if isinstance(grads, tuple) else (grads,)) if g is not None]
    return y, grads, {k: getattr(layer, f"d{k}") for k in params}


def disagreements(ours: Results, theirs: Results, rtol: float) -> list[str]:
    """What differs beyond ``rtol`` (relative to each array's largest magnitude): 'y', 'dx0',
    'dW', ...; empty when everything agrees."""
    import numpy as np

    def close(a: Any, b: Any) -> bool:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(_numpy(b), dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale))

    (y, grads, pgrads), (y2, grads2, pgrads2) = ours, theirs
    bad = ["y"] * (not close(y, y2))
    if len(grads) != len(grads2):
        return [*bad, f"{len(grads)} input gradients against {len(grads2)}"]
    bad += [f"dx{i}" for i, (a, b) in enumerate(zip(grads, grads2)) if not close(a, b)]
    return bad + [f"d{k}" for k in pgrads if not close(pgrads[k], pgrads2[k])]


def _numpy(t: Any) -> Any:
    return t.detach().numpy() if hasattr(t, "detach") else t
