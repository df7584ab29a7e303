"""One pre-norm transformer block, built from layers whose backward formulas symgrad derived.

The block of GPT-2 and most transformers since::

    h = x + MultiHeadAttention(LayerNorm1(x))       (causal, 4 heads, Wq Wk Wv Wo)
    y = h + W2 · GELU(W1 · LayerNorm2(h) + b1) + b2 (MLP, 4x wider)

assembled from the classes in ``examples/transformer_layers.py``, which symgrad generates::

    symgrad codegen LayerNorm MultiHeadAttention Affine GELU -o examples/transformer_layers.py

No backward is written here: the generated ``MultiHeadAttention`` sets ``dWq``, ``dWk``,
``dWv`` and ``dWo`` (its heads are reshapes of the weights' columns), and the residual
connections add the gradients of the two paths. ``gradcheck`` compares every parameter's
gradient and the input's with central differences of the loss ``sum(y * G)`` (``G`` fixed
and random), in float64, as the book's ``gradient_check.py`` does for its networks::

    python examples/transformer_block.py gradcheck   # exit 1 if a mean difference is >= 1e-7
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

LAYERS_PATH = Path(__file__).resolve().parent / "transformer_layers.py"
CODEGEN_HINT = (
    "symgrad codegen LayerNorm MultiHeadAttention Affine GELU -o examples/transformer_layers.py"
)
GRADCHECK_TOLERANCE = 1e-7
PARAM_NAMES = (
    "gamma1", "beta1", "Wq", "Wk", "Wv", "Wo", "gamma2", "beta2", "W1", "b1", "W2", "b2",
)  # fmt: skip

BATCH, TOKENS, WIDTH, HEADS = 2, 5, 8, 4  # the gradient check's sizes (N, T, D, heads)


class SetupError(RuntimeError):
    """Something the example needs is missing; the message says how to get it."""


def load_layers(path: Path = LAYERS_PATH) -> ModuleType:
    if not path.exists():
        raise SetupError(f"{path} is missing; generate it with: {CODEGEN_HINT}")
    spec = importlib.util.spec_from_file_location("transformer_layers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TransformerBlock:
    """Pre-norm block: x + attention(LayerNorm(x)), then + MLP(LayerNorm(.)); x of shape
    (N, T, D). ``params`` holds the twelve arrays by name; ``grads`` their gradients after
    ``backward``."""

    def __init__(self, layers: ModuleType, params: dict[str, Array], heads: int) -> None:
        self.params = params
        self.heads = heads
        p = params
        self.norm1 = layers.LayerNorm(p["gamma1"], p["beta1"])
        weights = (p["Wq"], p["Wk"], p["Wv"], p["Wo"])
        self.attention = layers.MultiHeadAttention(*weights, heads, causal=True)
        self.norm2 = layers.LayerNorm(p["gamma2"], p["beta2"])
        self.fc1 = layers.Affine(p["W1"], p["b1"])
        self.gelu = layers.GELU()
        self.fc2 = layers.Affine(p["W2"], p["b2"])
        self.grads: dict[str, Array] = {}

    def forward(self, x: Array) -> Array:
        n, t, d = x.shape
        self.shape = x.shape
        x = x + self.attention.forward(self.norm1.forward(x))
        h = self.norm2.forward(x).reshape(n * t, d)  # rows: one per token
        mlp = self.fc2.forward(self.gelu.forward(self.fc1.forward(h)))
        return x + mlp.reshape(n, t, d)

    def backward(self, dout: Array) -> Array:
        n, t, d = self.shape
        dmlp = self.fc1.backward(self.gelu.backward(self.fc2.backward(dout.reshape(n * t, d))))
        dx = dout + self.norm2.backward(dmlp.reshape(n, t, d))  # the residual adds its path
        dx = dx + self.norm1.backward(self.attention.backward(dx))
        a = self.attention
        self.grads = {
            "gamma1": self.norm1.dgamma,
            "beta1": self.norm1.dbeta,
            "Wq": a.dWq,
            "Wk": a.dWk,
            "Wv": a.dWv,
            "Wo": a.dWo,
            "gamma2": self.norm2.dgamma,
            "beta2": self.norm2.dbeta,
            "W1": self.fc1.dW,
            "b1": self.fc1.db,
            "W2": self.fc2.dW,
            "b2": self.fc2.db,
        }
        return dx


def init_params(width: int, rng: np.random.Generator) -> dict[str, Array]:
    """Weights ~ N(0, 1/fan_in), biases and LayerNorm shifts small and random (so that their
    gradients are checked away from a special point), LayerNorm scales near 1."""

    def dense(a: int, b: int) -> Array:
        return rng.standard_normal((a, b)) / np.sqrt(a)

    def near(value: float, size: int) -> Array:
        return value + 0.1 * rng.standard_normal(size)

    wide = 4 * width
    return {
        "gamma1": near(1.0, width),
        "beta1": near(0.0, width),
        **{w: dense(width, width) for w in ("Wq", "Wk", "Wv", "Wo")},
        "gamma2": near(1.0, width),
        "beta2": near(0.0, width),
        "W1": dense(width, wide),
        "b1": near(0.0, wide),
        "W2": dense(wide, width),
        "b2": near(0.0, width),
    }


def numerical_gradient(f: Any, a: Array, h: float = 1e-5) -> Array:
    """Central differences of f() with respect to each element of a, changed in place."""
    grad = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        kept = a[index]
        a[index] = kept + h
        up = f()
        a[index] = kept - h
        down = f()
        a[index] = kept
        grad[index] = (up - down) / (2 * h)
    return grad


def gradcheck(layers: ModuleType, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """(mean and largest |backprop - numerical|, mean |grad|) for x and every parameter."""
    rng = np.random.default_rng(seed)
    params = init_params(WIDTH, rng)
    x = rng.standard_normal((BATCH, TOKENS, WIDTH))
    G = rng.standard_normal((BATCH, TOKENS, WIDTH))
    block = TransformerBlock(layers, params, HEADS)
    block.forward(x)
    dx = block.backward(G.copy())
    analytic = {"x": dx, **block.grads}

    def loss() -> float:
        return float(np.sum(TransformerBlock(layers, params, HEADS).forward(x) * G))

    out = {}
    for name in ("x", *PARAM_NAMES):
        numeric = numerical_gradient(loss, x if name == "x" else params[name])
        diff = np.abs(analytic[name] - numeric)
        out[name] = (float(diff.mean()), float(diff.max()), float(np.abs(numeric).mean()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["gradcheck"])
    args = parser.parse_args(argv)
    try:
        layers = load_layers()
    except SetupError as err:
        print(f"transformer_block.py: {err}", file=sys.stderr)
        return 2
    if args.command == "gradcheck":
        results = gradcheck(layers)
        for name, (mean, worst, scale) in results.items():
            print(f"{name}: mean {mean:.3e} max {worst:.3e} (mean |grad| {scale:.3e})")
        bad = [n for n, (mean, _, _) in results.items() if not mean < GRADCHECK_TOLERANCE]
        if bad:
            print(f"gradient check failed for {', '.join(bad)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
