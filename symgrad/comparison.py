"""``symgrad.compare``: a user's layer against symgrad's derived layer, on the same inputs.

Where :func:`symgrad.gradcheck` asks "is this backward the gradient of this forward?",
``compare`` asks "does this layer compute what the declared forward means, and does its backward
agree with the derived one?". It runs both layers on identical inputs (with exact zeros among
them when the layer has a kink, where numerical checks cannot look), the same parameters and the
same random upstream gradient, and reports every output that differs beyond rounding.

>>> import numpy as np
>>> class MySigmoid:
...     def forward(self, x):
...         self.out = 1 / (1 + np.exp(-x))
...         return self.out
...     def backward(self, dout):
...         return dout * self.out * (1 - self.out)
>>> compare(MySigmoid(), "Sigmoid").passed
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.check import build, sample
from symgrad.codegen import generate, load
from symgrad.engine import derive
from symgrad.i18n import tr
from symgrad.names import gradient_of
from symgrad.verify import _input_names

RTOL = {
    np.dtype(np.float64): 1e-7,
    np.dtype(np.float32): 1e-4,
}  # far above rounding, far below bugs


@dataclass(frozen=True)
class Difference:
    what: str
    index: tuple[int, ...]
    expected: float
    got: float
    rel_error: float


@dataclass
class Comparison:
    """The verdict of :func:`compare`; ``text()`` says where the layers differ."""

    layer: str
    spec: str
    checked: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences

    def text(self) -> str:
        checked = ", ".join(_shown(what) for what in self.checked)
        if self.passed:
            # TRANSLATORS: {layer} is the user's class, {spec} symgrad's layer; {compared}
            # lists what was compared ("forward, dx, dW").
            head = tr("{layer} vs symgrad's {spec}: compared {compared}: all agree")
            return head.format(layer=self.layer, spec=self.spec, compared=checked)
        head = tr("{layer} vs symgrad's {spec}: compared {compared}:")
        rows = [head.format(layer=self.layer, spec=self.spec, compared=checked)]
        # TRANSLATORS: "symgrad" is the value symgrad's layer computes, "yours" the user's.
        row = tr(
            "{what} differs at {index}: symgrad {expected:.10g}, yours {got:.10g} "
            "(relative error {error:.1e})"
        )
        rows += [
            "  "
            + row.format(
                what=_shown(d.what),
                index=d.index,
                expected=d.expected,
                got=d.got,
                error=d.rel_error,
            )
            for d in self.differences
        ]
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"<Comparison {self.layer} vs {self.spec}: {'agree' if self.passed else 'differ'}>"


def compare(
    layer: Any, spec: Any, *inputs: Any, seed: int = 0, rtol: float | None = None
) -> Comparison:
    """Compare ``layer`` with the layer symgrad derives for ``spec`` (a spec or catalog name).

    Without ``inputs``, random ones that suit the spec are drawn (for layers whose derivative
    has a kink, some entries are exactly at it). Parameters (``W``, ``b``) are taken from
    ``layer`` so both compute with the same values. Values agree when they are within ``rtol``
    relative (default 1e-7 in float64, 1e-4 when either layer computes in float32). For a
    layer that draws random tensors (Dropout), NumPy's global random state is set to 0
    before each forward, so that both draw the same mask when they draw it the same way.
    """
    d = derive(spec)
    reference_cls = _reference_class(d.spec)
    rng = np.random.default_rng(seed)
    params, sampled = sample(d, rng, at_kinks=True)
    inputs = inputs or tuple(sampled)
    params = {p: np.array(getattr(layer, p, v), copy=True) for p, v in params.items()}
    reference = build(reference_cls, d, params)
    result = Comparison(type(layer).__name__, d.name)
    draws = bool(d.spec.draws)
    ours = _run(reference, inputs, rng, seed, draws)
    theirs = _run(layer, inputs, rng, seed, draws)
    if rtol is None:
        precisions = [np.asarray(v).dtype for v in (*ours.values(), *theirs.values())]
        rtol = max(RTOL.get(np.dtype(p), RTOL[np.dtype(np.float64)]) for p in precisions)
    for what in ours:
        result.checked.append(what)
        diff = _difference(what, ours[what], theirs.get(what), rtol)
        if diff is not None:
            result.differences.append(diff)
    return result


@functools.lru_cache(maxsize=64)
def _reference_class(spec: Any) -> type:
    """symgrad's generated class for a spec, generated once per process."""
    return getattr(load(generate([spec])), spec.name)


def _run(
    layer: Any, inputs: tuple, rng: np.random.Generator, seed: int, draws: bool = False
) -> dict[str, np.ndarray]:
    """Forward and backward with a fixed upstream gradient; every output by name."""
    if draws:
        np.random.seed(0)
    out = layer.forward(*[np.array(a, copy=True) for a in inputs])
    upstream = np.random.default_rng(seed + 1).standard_normal(np.shape(out))
    dout = float(upstream) if np.ndim(out) == 0 else upstream
    grads = layer.backward(dout)
    grads = grads if isinstance(grads, tuple) else (grads,)
    names = _input_names(layer, len(grads))
    results = {"forward": np.asarray(out)}
    for k, g in enumerate(grads):
        results[f"d{names[k]}" if k < len(names) else f"gradient {k}"] = np.asarray(g)
    for name in sorted(vars(layer)):
        if gradient_of(name) in vars(layer) and vars(layer)[name] is not None:
            results[name] = np.asarray(vars(layer)[name])
    return results


def _shown(what: str) -> str:
    """An output's name as :meth:`Comparison.text` shows it: ``forward`` and ``gradient 1``
    (English keys) translated, gradient names (``dx``, ``dW``) as they are."""
    if what == "forward":
        return tr("forward")
    head, _, number = what.partition(" ")
    if head == "gradient" and number.isdigit():
        # TRANSLATORS: the k-th gradient backward returned, where forward's argument has no name.
        return tr("gradient {number}").format(number=number)
    return what


def _difference(what: str, want: np.ndarray, got: Any, rtol: float) -> Difference | None:
    if got is None:
        return Difference(what, (), float("nan"), float("nan"), float("inf"))
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        shapes = tr("{what} (shape {got}, expected {wanted})").format(
            what=_shown(what), got=got.shape, wanted=want.shape
        )
        return Difference(shapes, (), 0, 0, np.inf)
    scale = np.abs(want) + np.abs(got)
    err = np.abs(want - got)
    bad = err > rtol * scale + 1e-300
    if not bad.any():
        return None
    rel = np.where(bad, err / np.maximum(scale, 1e-300), 0.0)
    index = np.unravel_index(int(np.argmax(rel)), rel.shape)
    return Difference(
        what, tuple(int(i) for i in index), float(want[index]), float(got[index]), float(rel[index])
    )
