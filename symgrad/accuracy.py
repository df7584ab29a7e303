"""How accurate generated code is, by the measure of :mod:`symgrad.numerics`, on a dense grid.

Elementwise layers: ``points`` points from -1000 to 1000 (0, and ±10^k for k from -8 to 3,
log-spaced; a grid of every 50th of them for two inputs), forward and backward against mpmath.
Row-wise layers and losses: rows of logits at scales 1, 30 and 1000, each row a probe point, the
saved softmax as float64 computed it. Matrix layers: relative to the sum of the absolute
products, the scale a dot product's rounding is bounded by. Used by
``benchmarks/bench_accuracy.py`` and by the tests.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import mpmath
import numpy as np
import sympy

from symgrad.numerics import Probes
from symgrad.spec import dout, i


def measure(d: Any, cls: type, points: int = 241) -> tuple[float, float, str]:
    """(worst forward error, worst backward error, where measured) of a generated class."""
    kind = d.spec.kind
    if kind == "elementwise":
        return elementwise(d, cls(), points)
    if kind == "matrix":
        return matrix(d, cls)
    return rowwise(d, cls())


def elementwise(d: Any, layer: Any, points: int) -> tuple[float, float, str]:
    half = np.geomspace(1e-8, 1000, (points - 1) // 2)
    line = np.concatenate([-half[::-1], [0.0], half])
    if len(d.spec.inputs) == 1:
        inputs = [line]
    else:
        side = line[:: max(1, len(line) // 41)]
        grid = np.array(list(itertools.product(side, repeat=len(d.spec.inputs))))
        inputs = [grid[:, k].copy() for k in range(len(d.spec.inputs))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = layer.forward(*[a.copy() for a in inputs])
        grads = layer.backward(np.ones_like(inputs[0]))
    grads = grads if isinstance(grads, tuple) else (grads,)
    probes = Probes(d.spec.inputs, {v.name: a for v, a in zip(d.spec.inputs, inputs)})
    forward = probes.forward_error(np.asarray(y, float), d.spec.forward)
    saved = {sympy.Symbol(s.name): np.asarray(getattr(layer, s.name), float) for s in d.saved}
    backward = max(
        probes.backward_error(g.expr.subs(dout, 1), g.plain, saved, np.asarray(got, float))
        for g, got in zip(d.gradients, grads)
    )
    return forward, backward, f"{probes.size} points"


def rowwise(d: Any, layer: Any) -> tuple[float, float, str]:
    """Each row is a probe point; the columns' gradients are judged by the engine's measure,
    with the saved softmax as float64 computed it (the loss forward relative, directly)."""
    from symgrad.row_engine import _concrete, instantiate

    rng = np.random.default_rng(0)
    spec = d.spec
    size, rows = 4, 6
    worst_f = worst_b = 0.0
    for scale in (1.0, 30.0, 1000.0):
        x = rng.standard_normal((rows, size)) * scale
        t = np.eye(size)[rng.integers(0, size, rows)] if spec.is_loss else None
        up = rng.standard_normal(x.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = layer.forward(x.copy(), t.copy()) if t is not None else layer.forward(x.copy())
            g = layer.backward(1.0) if t is not None else layer.backward(up.copy())
        columns = {spec.inputs[0].name: x, "dout": up}
        if spec.is_loss:
            columns[spec.targets[0].name] = t
        names = {b: [sympy.Symbol(f"{b}_{c}") for c in range(size)] for b in columns}
        inputs = tuple(v for b in columns if columns[b] is not None for v in names[b])
        env = {
            v.name: columns[b][:, c]
            for b in columns
            if columns[b] is not None
            for c, v in enumerate(names[b])
        }
        probes = Probes(inputs, env, sources=tuple(names[spec.inputs[0].name]))
        saved = {}
        for s in d.saved:
            values = np.asarray(getattr(layer, s.name), float)
            names[s.name] = [sympy.Symbol(f"{s.name}_{c}") for c in range(size)]
            saved.update({names[s.name][c]: values[:, c] for c in range(size)})

        def plain(e: sympy.Expr, names: dict = names) -> sympy.Expr:
            return e.replace(
                lambda a: isinstance(a, sympy.Indexed),
                lambda a: names[a.base.name][int(a.indices[0])],
            )

        for c in range(size):
            form = plain(_concrete(d.gradients[0].local.subs(i, c), size))
            truth = plain(instantiate(d, d.gradients[0].local, size, c))
            got = g[:, c] * (rows if spec.is_loss else 1)
            worst_b = max(worst_b, probes.backward_error(form, truth, saved, got))
            if not spec.is_loss:
                forward = plain(_concrete(spec.forward.subs(i, c), size))
                worst_f = max(worst_f, probes.forward_error(np.asarray(y)[:, c], forward))
        if spec.is_loss:
            row_loss = plain(_concrete(spec.forward, size))
            want = float(np.mean(probes.exact(row_loss)))
            worst_f = max(worst_f, abs(y - want) / max(abs(want), 1e-300))
    return worst_f, worst_b, "rows at scales 1, 30, 1000 (each row a probe point)"


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
