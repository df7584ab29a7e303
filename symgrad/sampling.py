"""Random inputs and parameters that suit a derived layer, inside its domain.

Every axis gets a small size of its own (:func:`dims`: the first 4, the next 5, then 3, 6, 2,
so that no two axes are confused), the ``...`` group two axes (3, 2) beside other axes and (4, 5)
alone. Inputs and parameters are ``2·N(0, 1)``; a target whose rows sum to one gets one-hot rows,
any other target uniform values in (0, 1). A layer whose maps are defined only on part of the
reals (:mod:`symgrad.domain`: ``log(x)`` needs x > 0) gets its input elements redrawn until every
one is inside.

>>> import numpy as np, symgrad
>>> params, (x,) = sample(symgrad.derive(symgrad.elementwise("L", "log(x)", "x")),
...                       np.random.default_rng(0))
>>> x.shape, bool((x > 0).all())
((4, 5), True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy

from symgrad.concrete import label_values, structural_values
from symgrad.domain import restrictions
from symgrad.i18n import tr
from symgrad.numerics import evaluate
from symgrad.program import Layer
from symgrad.statements import Gather, Map
from symgrad.tensors import ELLIPSIS, Tensor

SIZES = (4, 5, 3, 6, 2, 7)
ROUNDS = 50


def dims(layer: Layer, sizes: dict[str, int] | None = None) -> dict[str, tuple[int, ...]]:
    """The dimensions each axis of the layer stands for; ``sizes`` overrides some. Axes a
    window slides along get 7 and 8, the window axes 3 and 2, the others small: a
    convolution's output is then several cells wide, not square, its filters not square."""
    axes = list(dict.fromkeys(a for t in layer.tensors for a in t.axes if a != ELLIPSIS))
    out = {a: (s,) for a, s in zip(axes, SIZES * (1 + len(axes) // len(SIZES)))}
    sliding = [a for s in layer.statements if isinstance(s, Gather) for a in s.sliding()]
    if sliding:
        out = {a: (s,) for a, s in zip(axes, (2, 3, 4, 5, 6) * (1 + len(axes) // 5))}
        windows = [a for s in layer.statements if isinstance(s, Gather) for a in s.windows()]
        for a, s in zip(dict.fromkeys(sliding), (7, 8, 9)):
            out[a] = (s,)
        for a, s in zip(dict.fromkeys(windows), (3, 2, 4)):
            out[a] = (s,)
    out[ELLIPSIS] = (3, 2) if axes else (4, 5)
    for a, s in (sizes or {}).items():
        out[a] = (s,) if isinstance(s, int) else tuple(s)
    return _declared(layer, out, sizes or {})


def even_sizes(layer: Layer, size: int = 3) -> dict[str, int]:
    """Every axis of the layer's arguments at ``size``, but where the layer declares a size
    from others (a weight's ``c`` a multiple of ``heads``, a head's ``e = C // heads``)."""
    out = _declared(layer, {a: (size,) for t in layer.tensors for a in t.axes}, {})
    return {a: v[0] for a, v in out.items() if len(v) == 1}


def _declared(layer: Layer, out: dict, given: dict) -> dict[str, tuple[int, ...]]:
    """An argument's axis whose size the layer declares from others (a weight's ``c =
    heads * E``) gets that size, so that the arrays fit one another."""
    from symgrad.concrete import derived_sizes, structural_values

    mine = {a for t in layer.tensors for a in t.axes}
    fixed = structural_values(layer)
    for _, e in layer.sizes:  # e = C // heads: C a multiple of heads, so that a reshape fits
        if isinstance(e, sympy.floor) and e.args[0].is_Mul:
            top, bottom = sympy.fraction(e.args[0])
            axis = _axis_of(top)
            k = bottom.xreplace({sympy.Symbol(c): sympy.Integer(v) for c, v in fixed.items()})
            if axis in mine and axis not in given and k.is_Integer and len(out[axis]) == 1:
                out[axis] = (int(k) * max(1, out[axis][0] // int(k)),)
    wanted = [a for a, _ in layer.sizes if a in mine and a not in given]
    if not wanted:
        return out
    others = sorted({a for t in layer.values() for a in t.axes} - set(out) - {ELLIPSIS})
    plain = {a: v[0] for a, v in out.items() if a != ELLIPSIS and len(v) == 1}
    plain |= {a: s for a, s in zip(others, SIZES * (1 + len(others)))}
    derived = derived_sizes(layer, plain, fixed)
    return out | {a: (derived[a],) for a in wanted}


def _axis_of(size: sympy.Expr) -> str | None:
    """The axis a size symbol stands for (``C`` is ``c``), else None."""
    if isinstance(size, sympy.Symbol) and size.is_integer and size.name.isupper():
        return size.name.lower()
    return None


def shape_of(t: Tensor, axes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(d for a in t.axes for d in axes[a])


def sample(
    d: Any,
    rng: np.random.Generator,
    dtype: type = np.float64,
    sizes: dict[str, Any] | None = None,
    at_kinks: bool = False,
) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Random parameters and forward arguments that suit the layer: (params by name, the
    inputs and targets in the order ``forward`` takes them).

    With ``at_kinks`` a layer whose gradient branches on a comparison gets a quarter of its
    first input exactly at 0, where numerical checks cannot look.
    """
    layer: Layer = d.spec
    axes = dims(layer, sizes)
    params = {p.name: (rng.standard_normal(shape_of(p, axes))).astype(dtype) for p in layer.params}
    args = []
    inputs = [np.asarray(rng.standard_normal(shape_of(t, axes)) * 2) for t in layer.inputs]
    inputs = _inside(layer, inputs, rng)
    if at_kinks and getattr(d, "masks", None):
        inputs[0].flat[:: max(1, inputs[0].size // 4)] = 0.0
    given = dict(zip((t.name for t in layer.inputs), inputs))
    labels = {t.name: t for t in layer.index_tensors()}
    for t in layer.with_role("input", "target"):
        if t.role == "input":
            args.append(given[t.name].astype(dtype))
        elif t.name in labels:
            args.append(_labels(layer, t, axes, rng))
        else:
            args.append(_target(layer, t, axes, rng).astype(dtype))
    return params, args


def _labels(layer: Layer, t: Tensor, axes: dict, rng: np.random.Generator) -> np.ndarray:
    """Integer labels for a tensor read as positions, with repeats (and every label once
    where there are enough)."""
    axis = layer.label_axis(t)
    shape = shape_of(t, axes)
    return np.array(label_values(int(np.prod(shape)), axes[axis][0])).reshape(shape)


def _target(layer: Layer, t: Tensor, axes: dict, rng: np.random.Generator) -> np.ndarray:
    shape = shape_of(t, axes)
    for f in layer.facts:
        if f.tensor == t.name and f.value == 1 and len(f.axes) == 1:
            where = t.axes.index(f.axes[0])
            labels = rng.integers(0, shape[where], shape[:where] + shape[where + 1 :])
            return np.moveaxis(np.eye(shape[where])[labels], -1, where)
    return rng.uniform(0, 1, shape)


def _inside(layer: Layer, inputs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Redraw the elements that fall outside the domain of the maps that read only inputs."""
    constants = {name: float(v) for name, v in layer.constants if v is not None}
    conditions = [
        c
        for s in layer.statements
        if isinstance(s, Map) and all(o.role in ("input", "const") for o in s.operands)
        for c in restrictions(s.body)
    ]
    if not conditions or len({a.shape for a in inputs}) != 1:
        return inputs
    for _ in range(ROUNDS):
        env = {**constants, **{v.name: a for v, a in zip(layer.inputs, inputs)}}
        good = np.ones(inputs[0].shape, dtype=bool)
        for c in conditions:
            good &= np.broadcast_to(evaluate(c, env).astype(bool), good.shape)
        if good.all():
            return inputs
        for a in inputs:
            a[~good] = rng.standard_normal(int((~good).sum())) * 2
    # TRANSLATORS: {conditions} lists the domain's conditions, as [x > 0].
    raise ValueError(
        tr("{layer}: cannot draw inputs inside the domain ({conditions})").format(
            layer=layer.name, conditions=conditions
        )
    )


def build(cls: type, d: Any, params: dict[str, np.ndarray], **constants: Any) -> Any:
    """An instance of a generated or hand-written class, with copies of the parameters and
    the constants that it requires (a pooling window: 3 × 2) or that are given."""
    required = {c for c, v in d.spec.constants if v is None}
    window = {c: v for c, v in structural_values(d.spec).items() if c in required}
    kwargs = {**window, **constants}
    return cls(*(params[p.name].copy() for p in d.spec.params), **kwargs)
