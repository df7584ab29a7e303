"""Backward bugs, injected into correct layers, and three checkers that try to catch them.

Each mutation is a subclass of a generated (correct) layer class that breaks its backward the
way people do: a dropped ``dout``, a wrong sign, a missing transpose, a wrong sum axis, a
missing 1/N, an off-by-constant factor, swapped Mul gradients, a stale cache, the gradient of
the wrong input, the wrong side of a kink, a float32 parameter gradient, a gradient 0.1% off,
one element off, and no local derivative at all. The checkers:

- ``symgrad``: :func:`symgrad.verify.check_layer` plus :func:`symgrad.compare` against the
  derived layer;
- ``textbook``: the book's ``gradient_check.py`` re-implemented for a layer: central differences
  with h = 1e-4 element by element, upstream gradient random, verdict "mean absolute difference
  below 1e-5" (the book prints ~1e-6 to 2e-5 for its correct network and draws no line);
- ``all-ones``: DeZero's ``gradient_check``: upstream gradient all ones, ``np.allclose`` with
  atol 1e-5, rtol 1e-4.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

import symgrad
from symgrad.check import build, sample
from symgrad.codegen import generate, load
from symgrad.verify import check_layer

SHAPE = (3, 4)
SQUARE = 4  # matrix layers: N = D = M, so a missing transpose or a wrong axis still fits


@dataclass(frozen=True)
class Mutation:
    name: str
    applies: Callable[[Any], bool]
    methods: Callable[[type], dict[str, Callable]]


def _grads(result: Any) -> tuple:
    if result is None:  # no input gradient (Embedding): only the parameters'
        return ()
    return result if isinstance(result, tuple) else (result,)


def _same_kind(result: Any, grads: list) -> Any:
    if result is None:
        return None
    return tuple(grads) if isinstance(result, tuple) else grads[0]


def _map_backward(fn: Callable[[np.ndarray, Any], np.ndarray], params_too: bool = True) -> Callable:
    def methods(base: type) -> dict[str, Callable]:
        def backward(self: Any, dout: Any = 1.0) -> Any:
            result = base.backward(self, dout)
            for p in ("W", "b"):
                if params_too and getattr(self, f"d{p}", None) is not None:
                    setattr(self, f"d{p}", fn(getattr(self, f"d{p}"), self))
            return _same_kind(result, [fn(g, self) for g in _grads(result)])

        return {"backward": backward}

    return methods


def _dropped_dout(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any = 1.0) -> Any:
        return base.backward(self, np.ones_like(dout) if np.ndim(dout) else 1.0)

    return {"backward": backward}


def _missing_transpose(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any) -> Any:
        dx = base.backward(self, dout)
        return (dout @ self.W).reshape(dx.shape)

    return {"backward": backward}


def _wrong_sum_axis(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any) -> Any:
        dx = base.backward(self, dout)
        self.db = dout.sum(axis=1)
        return dx

    return {"backward": backward}


def _missing_1_over_n(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any = 1.0) -> Any:
        dx = base.backward(self, dout)
        return dx * dx.reshape(dx.shape[0] if dx.ndim > 1 else 1, -1).shape[0]

    return {"backward": backward}


def _swapped(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any) -> Any:
        dx, dy = base.backward(self, dout)
        return dy, dx

    return {"backward": backward}


def _wrong_input(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any) -> Any:
        return dout * self.x, dout * self.y  # the classic: forgot to swap x and y

    return {"backward": backward}


def _stale_cache(base: type) -> dict[str, Callable]:
    def forward(self: Any, *inputs: Any) -> Any:
        if getattr(self, "_seen", False):
            return base.forward(copy.copy(self), *inputs)  # the cache keeps the first call
        self._seen = True
        return base.forward(self, *inputs)

    return {"forward": forward}


def _wrong_point(base: type) -> dict[str, Callable]:
    def forward(self: Any, x: Any, *rest: Any) -> Any:
        out = base.forward(self, x, *rest)
        shadow = copy.copy(self)
        base.forward(shadow, np.asarray(x) * 1.1 + 0.1, *rest)
        vars(self).update({k: v for k, v in vars(shadow).items() if not k.startswith("d")})
        return out

    return {"forward": forward}


def _wrong_kink_side(base: type) -> dict[str, Callable]:
    def forward(self: Any, x: Any) -> Any:
        out = base.forward(self, x)
        self.mask = x >= 0  # the derivative at 0 taken from the right
        return out

    return {"forward": forward}


def _float32_parameter_gradient(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any) -> Any:
        dx = base.backward(self, dout)
        self.dW = self.dW.astype(np.float32)
        return dx

    return {"backward": backward}


def _one_element_off(g: np.ndarray, _: Any) -> np.ndarray:
    g = np.array(g, copy=True)
    g.flat[int(np.argmax(np.abs(g)))] *= 1.01  # the largest entry: never a zero gradient
    return g


def _as_shape(dout: Any, shape: tuple) -> np.ndarray:
    """``dout`` passed on as the gradient: broadcast, or its values refilled into the input's
    shape where it does not broadcast (a convolution's)."""
    try:
        return np.broadcast_to(dout, shape).copy()
    except ValueError:
        return np.resize(dout, shape)


def _identity(base: type) -> dict[str, Callable]:
    def backward(self: Any, dout: Any = 1.0) -> Any:
        result = base.backward(self, dout)
        return _same_kind(result, [_as_shape(dout, np.shape(g)) for g in _grads(result)])

    return {"backward": backward}


def _matrix(d: Any) -> bool:
    """A layer with a weight matrix ``W`` that a contraction reads (Affine, MatMul; not a
    convolution's filters, nor an embedding's table)."""
    weights = [p for p in d.spec.params if p.name == "W"]
    contracts = any(s.kind == "contract" for s in d.spec.statements)
    return bool(weights) and len(weights[0].axes) == 2 and contracts


def _loss(d: Any) -> bool:
    return d.spec.is_loss


def _has_mask(d: Any) -> bool:
    """A kink at x = 0 (``mask = x > 0``) where the derivative jumps: taking it from the other
    side is a bug a check at the kink can see (ELU with α = 1 has no jump there)."""
    if not d.is_map or [s.body for s in d.masks] != [sympy.Symbol("x") > 0]:
        return False
    local = d.gradients[0].local.local
    pieces = (
        [v for v, _ in local.atoms(sympy.Piecewise).pop().args]
        if local.has(sympy.Piecewise)
        else []
    )
    constants = {sympy.Symbol(n): v for n, v in d.spec.constants}
    at_zero = {sympy.Symbol("x"): 0, **constants}
    return len({sympy.nsimplify(p.subs(at_zero)) for p in pieces}) > 1


def _not_identity(d: Any) -> bool:
    """The backward reads something the forward saved from its inputs: not AddLayer's nor
    AvgPooling's (nothing saved), not Dropout's (only the drawn mask), not Embedding's (only
    the ids)."""
    return any(t.role in ("input", "value") for t in d.saved)


def _order_matters(d: Any) -> bool:
    """The backward reads more than where the maxima are: moving every input by the same
    increasing map (x ↦ 1.1x + 0.1) keeps max pooling's first maxima, so its derivative."""
    masks = {s.target.name for s in d.forward if s.kind == "first_max"}
    return _not_identity(d) and not {t.name for t in d.saved} <= masks


MUTATIONS = (
    Mutation("dropped dout", lambda d: True, _dropped_dout),
    Mutation("wrong sign", lambda d: True, _map_backward(lambda g, _: -g)),
    Mutation("missing transpose", _matrix, _missing_transpose),
    Mutation("wrong sum axis", lambda d: d.name == "Affine", _wrong_sum_axis),
    Mutation("missing 1/N", _loss, _missing_1_over_n),
    Mutation("off by a factor of 2", lambda d: True, _map_backward(lambda g, _: 2 * g)),
    Mutation("swapped Mul gradients", lambda d: d.name == "MulLayer", _swapped),
    Mutation("stale cache", _not_identity, _stale_cache),
    Mutation("gradient of the wrong input", lambda d: d.name == "MulLayer", _wrong_input),
    Mutation("derivative at the wrong point", _order_matters, _wrong_point),
    Mutation("wrong kink side", _has_mask, _wrong_kink_side),
    Mutation("float32 parameter gradient", _matrix, _float32_parameter_gradient),
    Mutation("0.1% off", lambda d: True, _map_backward(lambda g, _: g * 1.001)),
    Mutation("one element 1% off", lambda d: True, _map_backward(_one_element_off)),
    Mutation("no local derivative", _not_identity, _identity),
)


def generated_module() -> Any:
    return load(generate(list(symgrad.catalog)))


def mutant(base: type, mutation: Mutation) -> type:
    return type(f"{base.__name__}", (base,), mutation.methods(base))


def inputs_for(d: Any, seed: int, dtype: type) -> tuple[dict, list]:
    """Parameters and inputs; square matrices, and layers with a kink get inputs at it."""
    sizes = {"n": SQUARE, "d": SQUARE, "m": SQUARE, "...": SHAPE}
    rng = np.random.default_rng(seed)
    params, inputs = sample(d, rng, dtype, sizes=sizes, at_kinks=True)
    x = inputs[0]
    if d.masks and ((x >= 0).all() or (x <= 0).all()):  # both sides of a kink, every seed
        x.flat[1::2] *= -1
    return params, inputs


# --- the three checkers: each returns True when it finds the layer correct -------------------


def symgrad_says_ok(
    make: Callable[[], Any], inputs: list, name: str, seed: int, fast: bool = False
) -> bool:
    if not check_layer(make(), *inputs, seed=seed, fast=fast).passed:
        return False
    return symgrad.compare(make(), name, *inputs, seed=seed).passed


def _numeric(make: Callable[[], Any], inputs: list, g: Any, h: float) -> list[np.ndarray]:
    grads = []
    n = len(_grads(_backward_of(make, inputs, g)))
    for k in range(n):
        x = np.array(inputs[k], copy=True)
        grad = np.zeros(x.shape, dtype=x.dtype)
        for i in np.ndindex(x.shape):
            orig = x[i]
            x[i] = orig + h
            fp = np.sum(g * make().forward(*_replace(inputs, k, x)))
            x[i] = orig - h
            fm = np.sum(g * make().forward(*_replace(inputs, k, x)))
            x[i] = orig
            grad[i] = (fp - fm) / (2 * h)
        grads.append(grad)
    return grads


def _replace(inputs: list, k: int, x: np.ndarray) -> list:
    return [x.copy() if i == k else np.array(a, copy=True) for i, a in enumerate(inputs)]


def _backward_of(make: Callable[[], Any], inputs: list, g: Any) -> Any:
    layer = make()
    layer.forward(*[np.array(a, copy=True) for a in inputs])
    return layer.backward(np.array(g, copy=True) if np.ndim(g) else g)


def _upstream(make: Callable[[], Any], inputs: list, ones: bool, seed: int) -> Any:
    out = make().forward(*[np.array(a, copy=True) for a in inputs])
    if ones:
        return np.ones_like(out) if np.ndim(out) else 1.0
    g = np.random.default_rng(seed).standard_normal(np.shape(out)).astype(np.asarray(out).dtype)
    return g if np.ndim(out) else float(g)


def textbook_says_ok(make: Callable[[], Any], inputs: list, seed: int) -> bool:
    g = _upstream(make, inputs, ones=False, seed=seed)
    analytic = _grads(_backward_of(make, inputs, g))
    numeric = _numeric(make, inputs, g, 1e-4)
    return all(np.mean(np.abs(a - b)) < 1e-5 for a, b in zip(analytic, numeric))


def all_ones_says_ok(make: Callable[[], Any], inputs: list, seed: int) -> bool:
    g = _upstream(make, inputs, ones=True, seed=seed)
    analytic = _grads(_backward_of(make, inputs, g))
    numeric = _numeric(make, inputs, g, 1e-4)
    return all(np.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(analytic, numeric))


@dataclass(frozen=True)
class Trial:
    layer: str
    mutation: str  # "" for the correct layer
    dtype: str
    seed: int
    verdicts: dict[str, bool]  # checker -> "found it correct"


def run_trials(
    seeds: range,
    dtypes: tuple = (np.float32, np.float64),
    checkers: tuple = ("symgrad",),
    fast: bool = False,
) -> list[Trial]:
    module = generated_module()
    trials = []
    for name in symgrad.catalog:
        d = symgrad.derive(name)
        base = getattr(module, name)
        if d.spec.draws:  # Dropout: the same mask on every call, as a gradient check needs
            base = symgrad.codegen.seeded(base)
        cases = [("", base)] + [(m.name, mutant(base, m)) for m in MUTATIONS if m.applies(d)]
        for dtype in dtypes:
            for seed in seeds:
                params, inputs = inputs_for(d, seed, dtype)
                for label, cls in cases:
                    make = functools.partial(build, cls, d, params)
                    verdicts = {}
                    if "symgrad" in checkers:
                        verdicts["symgrad"] = symgrad_says_ok(make, inputs, name, seed, fast)
                    if "textbook" in checkers:
                        verdicts["textbook"] = textbook_says_ok(make, inputs, seed)
                    if "all-ones" in checkers:
                        verdicts["all-ones"] = all_ones_says_ok(make, inputs, seed)
                    trials.append(Trial(name, label, np.dtype(dtype).name, seed, verdicts))
    return trials


def rates(trials: list[Trial], checker: str) -> tuple[float, float, int, int]:
    """(catch rate over mutants, false-alarm rate over correct layers, #mutants, #correct)."""
    bugs = [t for t in trials if t.mutation]
    good = [t for t in trials if not t.mutation]
    caught = sum(not t.verdicts[checker] for t in bugs)
    alarms = sum(not t.verdicts[checker] for t in good)
    return caught / max(len(bugs), 1), alarms / max(len(good), 1), len(bugs), len(good)
