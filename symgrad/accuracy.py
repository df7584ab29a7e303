"""How accurate generated code is, by the measure of :mod:`symgrad.numerics`, on a dense grid.

One-map layers (elementwise): ``points`` points from -1000 to 1000 (0, and ±10^k for k from -8
to 3, log-spaced; a grid of every 50th of them for two inputs), forward and backward against
mpmath, by the engine's measure. Layers with a contraction (Affine, MatMul): each output and
input gradient relative to the sum of the absolute products, the scale a dot product's rounding
is bounded by; products between several inputs (attention) the same way, each gradient
relative to its formula with every term by its absolute value. Every other layer (softmax rows,
losses, normalisations): small random tensors
with inputs at scales 1, 30 and 1000 against the declared program evaluated and
differentiated exactly: the forward *normwise* (the largest error over the tensor relative to
its largest exact element), each gradient element by the engine's measure, with the saved
values as float64 computed them. Used by ``benchmarks/bench_accuracy.py`` and by the tests.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import mpmath
import numpy as np
import sympy

from symgrad.i18n import tr
from symgrad.numerics import Probes
from symgrad.statements import Contract, Gather
from symgrad.tensors import dout


def measure(d: Any, cls: type, points: int = 241) -> tuple[float, float, str]:
    """(worst forward error, worst backward error, where measured) of a generated class."""
    if d.is_map and not d.spec.params:
        return elementwise(d, cls(), points)
    kinds = {type(s) for s in d.spec.statements}
    one_product = Contract in kinds and Gather not in kinds and len(d.spec.inputs) == 1
    if one_product and d.spec.params:  # x @ W (+ b) on (N, D) rows
        return matrix(d, cls)
    if Contract in kinds and all(_reads_as_is(s) for s in d.spec.statements):
        return products(d, cls)  # products of several inputs (attention, its heads)
    return program(d, cls)


def _reads_as_is(s: Any) -> bool:
    """Not a gather, or one that copies nothing: a reshape of a weight into heads, a read
    along a renamed axis."""
    from symgrad.statements.gather import rename_of, reshape_of

    return not isinstance(s, Gather) or rename_of(s) is not None or reshape_of(s) is not None


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
    return forward, backward, tr("{count} points").format(count=probes.size)


def program(d: Any, cls: type) -> tuple[float, float, str]:
    """Each element against the declared program (module docstring): the forward normwise
    (the largest error over the tensor relative to its largest exact element: log-softmax's
    largest entry, -log(1 + Σ tiny), rounds to 0 in float64, as in every library), each
    gradient element by the engine's measure.

    Every axis has size 3 (the ``...`` group one axis of 3); each of nine draws (inputs at
    scales 1, 30 and 1000, three seeds) is one probe point, each element's symbol one probe
    input. A gradient element is judged as the engine judges a map's: its form in the saved
    values (written out at that element) against the exact derivative, with the allowance for
    what rounding the saved values already cost."""
    from symgrad.concrete import Concrete, plain_gradient
    from symgrad.sampling import even_sizes

    layer = d.spec
    sizes = even_sizes(layer)
    dims = sizes | {"...": (3,)}
    declared = Concrete.of(layer, sizes)
    computed = Concrete.of(replace(layer, statements=d.forward), sizes)
    saved_symbols = _as_symbols(computed, [s.name for s in d.saved if s.role == "value"])
    columns: dict[sympy.Symbol, list[float]] = {}
    saved: dict[sympy.Symbol, list[float]] = {}
    got: dict[str, list[np.ndarray]] = {}
    for params, args, up, results, instance in _draws(d, cls, dims):
        for key, value in results.items():
            got.setdefault(key, []).append(np.asarray(value, float).reshape(-1))
        arrays = {t.name: a for t, a in zip(_args(layer), args)} | params | {"dout": up}
        for name, elements in declared.elements.items():
            if name in arrays:
                for index, symbol in elements.items():
                    value = np.asarray(arrays[name], float)
                    columns.setdefault(symbol, []).append(
                        float(value[index] if value.ndim else value)
                    )
        for name, elements in saved_symbols.items():
            flat = np.asarray(getattr(instance, name), float).reshape(-1)  # size-1 axes too
            for k, (_, symbol) in enumerate(sorted(elements.items())):
                saved.setdefault(symbol, []).append(float(flat[k]))
    constants = {
        next(iter(declared.elements[n].values())): v
        for n, v in layer.constants
        if n in declared.elements
    }
    inputs_ = tuple(columns)
    sources = tuple(s for t in layer.inputs for s in declared.elements[t.name].values())
    probes = Probes(inputs_, {s.name: np.array(v) for s, v in columns.items()}, sources)
    probes.fixed = {s: v for s, v in constants.items()}
    saved_env = {s: np.array(v) for s, v in saved.items()}
    exact = np.array(
        [probes.exact(truth) for _, truth in sorted(declared.values[layer.output.name].items())]
    )  # (elements, draws)
    computed_f = np.array(got["forward"]).T
    scale = np.maximum(np.max(np.abs(exact), axis=0), 1e-300)
    worst_f = float(np.max(np.abs(computed_f - exact) / scale))
    worst_b = 0.0
    for g in d.gradients:
        plain = plain_gradient(declared, g.wrt.name)
        for k, (index, truth) in enumerate(sorted(plain.items())):
            at = dict(zip(g.wrt.axes, index))
            form = _written(computed, saved_symbols, g.expr, at, d.stages)
            values = np.array([row[k] for row in got[g.name]])
            worst_b = max(worst_b, probes.backward_error(form, truth, saved_env, values))
    return worst_f, worst_b, tr("tensors at scales 1, 30, 1000 (each element a probe input)")


def _as_symbols(c: Any, names: list[str]) -> dict[str, dict[tuple, sympy.Symbol]]:
    """Element symbols for the saved values (``y_0_1``), so that a form reads them as saved."""
    out = {}
    for name in names:
        out[name] = {
            index: sympy.Symbol(f"{name}_" + "_".join(map(str, index)), real=True)
            for index in c.values[name]
        }
    return out


def _written(c: Any, saved: dict, expr: sympy.Expr, at: dict, stages: tuple = ()) -> sympy.Expr:
    """``expr`` at one index with the saved values as their element symbols (and the stages
    it reads, ``dscores``, computed from them)."""
    kept = {name: dict(c.values[name]) for name in saved}
    try:
        for name, elements in saved.items():
            c.values[name] = dict(elements)
        c.with_stages(stages)
        return c.evaluate(expr, at)
    finally:
        c.values.update(kept)
        for st in stages:
            c.values.pop(st.name, None)


def _args(layer: Any) -> tuple:
    return layer.with_role("input", "target")


def products(d: Any, cls: type) -> tuple[float, float, str]:
    """A layer of matrix products between its inputs (attention), measured as Affine is: the
    forward normwise, each gradient element relative to the size of its terms, the derived
    formula with every term of every sum taken by its absolute value (``Σ|terms|``, what float64
    rounding of a sum is bounded by; a saturated softmax makes every element of ``dq`` a
    cancellation, tiny beside its terms in any implementation). Every axis has size 3; inputs at
    scales 1, 30 and 1000, three draws each; exact values from the declared program in 40
    digits; a scale below float64's smallest normal number counts as that number."""
    from symgrad.concrete import Concrete
    from symgrad.identity import real_values
    from symgrad.sampling import even_sizes

    layer = d.spec
    sizes = even_sizes(layer)
    declared = Concrete.of(layer, sizes)
    computed = Concrete.of(replace(layer, statements=d.forward), sizes)
    computed.with_stages(d.stages)
    out = declared.values[layer.output.name]
    outputs = [v for _, v in sorted(out.items())]
    loss = sympy.Add(*(declared.values["dout"][k] * v for k, v in out.items()))
    wrt = {
        g.name: [s for _, s in sorted(declared.elements[g.wrt.name].items())] for g in d.gradients
    }
    symbols = [s for group in wrt.values() for s in group]
    scales = [  # Σ|terms| of each gradient element, in the order of wrt
        _magnitude(computed.evaluate(g.expr, dict(zip(g.wrt.axes, index))))
        for g in d.gradients
        for index in sorted(declared.elements[g.wrt.name])
    ]
    worst_f = worst_b = 0.0
    for params, args, up, got, _ in _draws(d, cls, sizes | {"...": (3,)}):
        arrays = {t.name: a for t, a in zip(_args(layer), args)} | params | {"dout": up}
        point = {
            symbol: sympy.Float(float(np.asarray(arrays[name])[index]), 40)
            for name, elements in declared.elements.items()
            for index, symbol in elements.items()
        }
        # the exact forward, bounds and plain reverse-mode gradient, in 40 digits
        values, slopes = real_values(point, [*outputs, *scales], loss, symbols)
        want, bounds = values[: len(outputs)], values[len(outputs) :]
        value = np.asarray(got["forward"], float).reshape(-1)
        top = max(abs(w) for w in want) or 1
        worst_f = max(worst_f, max(float(abs(v - w) / top) for v, w in zip(value, want)))
        start = 0
        for name, group in wrt.items():
            value = np.asarray(got[name], float).reshape(-1)
            part = slice(start, start + len(group))
            for v, w, b in zip(value, slopes[part], bounds[part]):  # below float64's range: 0
                worst_b = max(worst_b, float(abs(v - w) / max(b, _TINY)))
            start += len(group)
    # TRANSLATORS: Σ|terms| is the sum of the absolute values of the terms of each gradient.
    where = tr("tensors at scales 1, 30, 1000 (gradients relative to Σ|terms|)")
    return worst_f, worst_b, where


_TINY = float(np.finfo(np.float64).tiny)
"""The smallest normal float64: a scale below it is float64's underflow, not the formula's."""


def _draws(d: Any, cls: type, dims: dict) -> Iterator[tuple[dict, list, Any, dict, Any]]:
    """Nine runs of the generated class (inputs at scales 1, 30 and 1000, three seeds each):
    ``(params, args, dout, results by name, the instance)``, the results the forward output
    and every gradient."""
    from symgrad.sampling import build, sample

    rng = np.random.default_rng(0)
    inputs = [g for g in d.gradients if g.wrt.role == "input"]
    for scale in (1.0, 30.0, 1000.0):
        for _ in range(3):
            params, args = sample(d, rng, sizes=dims)
            args = [a * scale if t.role == "input" else a for a, t in zip(args, _args(d.spec))]
            instance = build(cls, d, params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = instance.forward(*[a.copy() for a in args])
                up = rng.standard_normal(np.shape(y))
                grads = instance.backward(float(up) if np.ndim(y) == 0 else up.copy())
            grads = grads if isinstance(grads, tuple) else (grads,)
            results = {"forward": y} | {g.name: v for g, v in zip(inputs, grads)}
            results |= {
                g.name: getattr(instance, g.name) for g in d.gradients if g.wrt.role == "param"
            }
            yield params, args, up, results, instance


def _magnitude(e: sympy.Expr) -> sympy.Expr:
    """``e`` with every term of every sum and every factor by its absolute value: the scale
    the rounding error of computing ``e`` as written is bounded by."""
    if e.is_Add:
        return sympy.Add(*(_magnitude(a) for a in e.args))
    if e.is_Mul:
        return sympy.Mul(*(_magnitude(a) for a in e.args))
    if e.is_Pow and e.exp.is_Integer:
        return _magnitude(e.base) ** e.exp
    return sympy.Abs(e)


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
    return worst_f, worst_b, tr("x at scales 1, 1e3, 1e6 (relative to Σ|terms|)")


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
