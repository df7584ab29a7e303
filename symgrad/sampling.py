"""Random inputs and parameters that suit a derived layer, inside its domain.

Elementwise and row inputs are ``2·N(0, 1)`` of shape (4, 5); matrix layers get ``N``, ``D``,
``M`` = 4, 5, 3; a loss gets one-hot targets when its targets sum to one, else uniform ones. An
elementwise layer whose forward is defined only on part of the reals (:mod:`symgrad.domain`:
``log(x)`` needs x > 0) gets its elements redrawn until every one is inside.

>>> import numpy as np, symgrad
>>> params, (x,) = sample(symgrad.derive(symgrad.elementwise("L", "log(x)", "x")),
...                       np.random.default_rng(0))
>>> bool((x > 0).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgrad.domain import restrictions
from symgrad.numerics import evaluate

SHAPE = (4, 5)
ROUNDS = 50


def sample(
    d: Any,
    rng: np.random.Generator,
    dtype: type = np.float64,
    shape: tuple[int, int] = SHAPE,
    sizes: dict[str, int] | None = None,
    at_kinks: bool = False,
) -> tuple[dict, list]:
    """Random parameters and inputs that suit the layer: (params by name, forward's inputs).

    ``shape`` is that of elementwise and row inputs; ``sizes`` gives N, D, M for matrix layers
    (default 4, 5, 3). With ``at_kinks`` a layer whose gradient branches on a comparison gets a
    quarter of its first input exactly at 0, where numerical checks cannot look.
    """
    spec = d.spec
    if spec.kind == "matrix":
        sizes = sizes or {"N": 4, "D": 5, "M": 3}
        params = {p.name: _matrix(p, sizes, rng, dtype) for p in spec.params}
        return params, [rng.standard_normal((sizes["N"], sizes["D"])).astype(dtype)]
    inputs = [rng.standard_normal(shape) * 2 for _ in spec.inputs]
    if spec.kind == "elementwise":
        inputs = _inside(spec, inputs, rng)
    inputs = [a.astype(dtype) for a in inputs]
    if at_kinks and getattr(d, "masks", None):
        inputs[0].flat[:: max(1, inputs[0].size // 4)] = 0.0
    if spec.kind == "loss":
        if spec.constraints:
            t = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
        else:
            t = rng.uniform(0, 1, shape).astype(dtype)
        inputs.append(t)
    return {}, inputs


def _inside(spec: Any, inputs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Redraw the elements that fall outside the forward's domain."""
    conditions = restrictions(spec.forward)
    if not conditions:
        return inputs
    for _ in range(ROUNDS):
        env = {v.name: a for v, a in zip(spec.inputs, inputs)}
        good = np.ones(inputs[0].shape, dtype=bool)
        for c in conditions:
            good &= np.broadcast_to(evaluate(c, env).astype(bool), good.shape)
        if good.all():
            return inputs
        for a in inputs:
            a[~good] = rng.standard_normal(int((~good).sum())) * 2
    raise ValueError(f"{spec.name}: cannot draw inputs inside the domain ({conditions})")


def _matrix(p: Any, sizes: dict[str, int], rng: np.random.Generator, dtype: type) -> np.ndarray:
    rows, cols = (sizes[str(s)] if not s.is_number else int(s) for s in p.shape)
    return rng.standard_normal((rows,) if cols == 1 else (rows, cols)).astype(dtype)


def build(cls: type, d: Any, params: dict) -> Any:
    """An instance of a generated or hand-written class, with copies of the parameters."""
    if d.spec.kind == "matrix":
        return cls(*(params[p.name].copy() for p in d.spec.params))
    return cls()
