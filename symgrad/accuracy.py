"""How accurate generated code is, by the measure of :mod:`symgrad.numerics`, on a dense grid.

One-map layers (elementwise): ``points`` points from -1000 to 1000 (0, and ±10^k for k from -8
to 3, log-spaced; a grid of every 50th of them for two inputs), forward and backward against
mpmath, by the engine's measure. Layers with a contraction (Affine, MatMul): each output and
input gradient relative to the sum of the absolute products, the scale a dot product's rounding
is bounded by. Every other layer (softmax rows, losses, normalisations): small random tensors
with inputs at scales 1, 30 and 1000, the output and each gradient against the declared
program differentiated exactly and evaluated in 30 digits, *normwise*: the largest error over
the tensor relative to the tensor's largest exact element. Used by ``benchmarks/bench_accuracy.py``
and by the tests.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import mpmath
import numpy as np
import sympy

from symgrad.numerics import Probes
from symgrad.statements import Contract
from symgrad.tensors import dout


def measure(d: Any, cls: type, points: int = 241) -> tuple[float, float, str]:
    """(worst forward error, worst backward error, where measured) of a generated class."""
    from symgrad.sampling import build, sample

    if d.is_map:
        return elementwise(d, cls(), points)
    params, _ = sample(d, np.random.default_rng(0))
    if any(isinstance(s, Contract) for s in d.spec.statements):
        return matrix(d, cls)
    return program(d, lambda: build(cls, d, params), params)


def elementwise(d: Any, layer: Any, points: int) -> tuple[float, float, str]:
    half = np.geomspace(1e-8, 1000, (points - 1) // 2)
    line = np.concatenate([-half[::-1], [0.0], half])
    (statement,) = d.spec.statements
    inputs_ = [t.symbol for t in d.spec.inputs]
    if len(inputs_) == 1:
        inputs = [line]
    else:
        side = line[:: max(1, len(line) // 41)]
        grid = np.array(list(itertools.product(side, repeat=len(inputs_))))
        inputs = [grid[:, k].copy() for k in range(len(inputs_))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = layer.forward(*[a.copy() for a in inputs])
        grads = layer.backward(np.ones_like(inputs[0]))
    grads = grads if isinstance(grads, tuple) else (grads,)
    fixed = {sympy.Symbol(n): v for n, v in d.spec.constants}
    probes = Probes(tuple(inputs_), {v.name: a for v, a in zip(inputs_, inputs)})
    probes.fixed = fixed
    forward = probes.forward_error(np.asarray(y, float), statement.body)
    saved = {sympy.Symbol(s.name): np.asarray(getattr(layer, s.name), float) for s in d.saved}
    backward = max(
        probes.backward_error(
            g.expr.subs(dout, 1), g.local.plain.subs(dout, 1), saved, np.asarray(got, float)
        )
        for g, got in zip(d.gradients, grads)
    )
    return forward, backward, f"{probes.size} points"


def program(d: Any, make: Any, params: dict) -> tuple[float, float, str]:
    """Normwise errors against the declared program, differentiated exactly (module docstring)."""
    from symgrad.concrete import Concrete, plain_gradient
    from symgrad.sampling import sample

    layer = d.spec
    sizes = {a: 3 for t in layer.tensors for a in t.axes}
    concrete = Concrete.of(layer, sizes)
    symbols = concrete.arguments()
    exact = {"forward": concrete.values[layer.output.name]}
    for g in d.gradients:
        exact[g.name] = plain_gradient(concrete, g.wrt.name)
    functions = {
        key: {i: sympy.lambdify(symbols, e, "mpmath") for i, e in values.items()}
        for key, values in exact.items()
    }
    worst_f = worst_b = 0.0
    rng = np.random.default_rng(0)
    dims = {a: 3 for a in sizes} | {"...": (3,)}
    for scale in (1.0, 30.0, 1000.0):
        _, args = sample(d, rng, sizes=dims)
        args = [a * scale if t.role == "input" else a for a, t in zip(args, _args(layer))]
        instance = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = instance.forward(*[a.copy() for a in args])
            up = rng.standard_normal(np.shape(y))
            grads = instance.backward(float(up) if np.ndim(y) == 0 else up.copy())
        grads = grads if isinstance(grads, tuple) else (grads,)
        got = {"forward": np.asarray(y, float)}
        inputs = [g for g in d.gradients if g.wrt.role == "input"]
        got |= {g.name: np.asarray(v, float) for g, v in zip(inputs, grads)}
        got |= {
            g.name: np.asarray(getattr(instance, g.name), float)
            for g in d.gradients
            if g.wrt.role == "param"
        }
        values = _point(concrete, symbols, args, params, up, d)
        with mpmath.workdps(30):
            for key, fns in functions.items():
                want = {i: fn(*values) for i, fn in fns.items()}
                error = _normwise(got[key], want)
                if key == "forward":
                    worst_f = max(worst_f, error)
                else:
                    worst_b = max(worst_b, error)
    return worst_f, worst_b, "tensors at scales 1, 30, 1000 (normwise)"


def _args(layer: Any) -> tuple:
    return layer.with_role("input", "target")


def _point(concrete: Any, symbols: list, args: list, params: dict, up: Any, d: Any) -> list:
    arrays = {t.name: a for t, a in zip(_args(d.spec), args)} | params | {"dout": np.asarray(up)}
    arrays |= {n: np.asarray(float(v)) for n, v in d.spec.constants}
    lookup = {}
    for name, elements in concrete.elements.items():
        for index, symbol in elements.items():
            value = arrays[name]
            lookup[symbol] = mpmath.mpf(float(value[index] if np.ndim(value) else value))
    return [lookup[s] for s in symbols]


def _normwise(got: np.ndarray, want: dict) -> float:
    if not want:
        return 0.0
    scale = max(abs(v) for v in want.values()) or 1
    flat = np.asarray(got).reshape(-1) if np.ndim(got) else np.asarray([got])
    items = sorted(want.items())
    return max(float(abs(mpmath.mpf(float(flat[k])) - v) / scale) for k, (_, v) in enumerate(items))


def matrix(d: Any, layer_cls: type) -> tuple[float, float, str]:
    """Affine and MatMul: each output and input gradient relative to Σ|terms| of its dot
    product (the scale float64 rounding of a dot product is bounded by)."""
    rng = np.random.default_rng(0)
    worst_f = worst_b = 0.0
    for scale in (1.0, 1e3, 1e6):
        W, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
        x = rng.standard_normal((4, 5)) * scale
        params = [W, b][: len(d.spec.params)]
        layer = layer_cls(*[p.copy() for p in params])
        y = layer.forward(x.copy())
        g = rng.standard_normal(y.shape)
        dx = layer.backward(g.copy())
        bias = params[1] if len(params) > 1 else np.zeros(3)
        exact_y = _exact_product(x, W) + np.array([mpmath.mpf(v) for v in bias])
        worst_f = max(worst_f, _worst(y, exact_y, np.abs(x) @ np.abs(W) + np.abs(bias)))
        exact_dx = _exact_product(g, W.T)
        worst_b = max(worst_b, _worst(dx, exact_dx, np.abs(g) @ np.abs(W).T))
    return worst_f, worst_b, "x at scales 1, 1e3, 1e6 (relative to Σ|terms|)"


def _exact_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in 60-digit arithmetic (exact for these float64 entries)."""
    with mpmath.workdps(60):
        return np.array(
            [
                [
                    mpmath.fsum(
                        mpmath.mpf(a[r, k]) * mpmath.mpf(b[k, c]) for k in range(a.shape[1])
                    )
                    for c in range(b.shape[1])
                ]
                for r in range(a.shape[0])
            ],
            dtype=object,
        )


def _worst(got: np.ndarray, exact: np.ndarray, scale: np.ndarray) -> float:
    return max(float(abs(g - e) / s) for g, e, s in zip(got.flat, exact.flat, scale.flat))
