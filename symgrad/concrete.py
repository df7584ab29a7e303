"""A layer at concrete small sizes: every element a symbol, every statement written out.

Notation: sizes are given per axis (``{"n": 3, "d": 2}``; ``...`` counts as one axis). An element
of ``x[n, d]`` at ``(1, 0)`` is the symbol ``x_1_0``; a constant is a symbol too (``eps``: what is
derived holds for every value; :func:`random_point` gives it its default); ``dout``
has elements like every other tensor. :func:`forward` computes every tensor's elements as SymPy
expressions in the inputs' elements, :func:`evaluate` writes a tensor-algebra expression (with
its sums) out at one index, and :func:`plain_gradient` differentiates ``L = Σ dout ⊙ output``
element by element: the reference every derived backward is checked against.

>>> from symgrad.language import declare
>>> layer = declare("Scale", "y[n] = 2 * x[n]")
>>> c = Concrete.of(layer, {"n": 2})
>>> c.values["y"]
{(0,): 2*x_0, (1,): 2*x_1}
>>> plain_gradient(c, "x")[(1,)]
2*dout_1
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy

from symgrad.constants import exact
from symgrad.program import Layer
from symgrad.statements import Reduce, Statement
from symgrad.statements.reduce import first_max
from symgrad.tensor_algebra import at as _At  # `at` names an index in this module
from symgrad.tensor_algebra import rsum
from symgrad.tensors import Tensor, axis_size, index_axis

Index = tuple[int, ...]


@dataclass
class Concrete:
    """A layer's tensors at concrete sizes: element symbols and values, by tensor name."""

    layer: Layer
    sizes: dict[str, int]
    values: dict[str, dict[Index, sympy.Expr]] = field(default_factory=dict)
    elements: dict[str, dict[Index, sympy.Symbol]] = field(default_factory=dict)
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, layer: Layer, sizes: Mapping[str, int], fixed: Mapping[str, int] | None = None
    ) -> Concrete:
        """``layer`` at ``sizes`` (the declared sizes computed from them), with the integer
        constants that shape it (stride, padding) at ``fixed``."""
        c = cls(
            layer, dict(sizes), fixed=dict(structural_values(layer) if fixed is None else fixed)
        )
        c.sizes |= derived_sizes(layer, c.sizes, c.fixed)
        labels = {t.name for t in layer.index_tensors()}
        for t in layer.tensors:
            if t.name in c.fixed:
                continue
            if t.name in labels:
                c.labels(t)
            else:
                c.declare(t)  # constants too: a derivation holds for every value of eps
        for s in layer.statements:
            c.values[s.target.name] = c.statement(s)
            c.axes[s.target.name] = s.target.axes
        c.declare(Tensor("dout", layer.output.axes, "input"))
        return c

    def declare(self, tensor: Tensor) -> None:
        """Element symbols for an argument of the layer."""
        elements = {
            index: sympy.Symbol("_".join([tensor.name, *map(str, index)]), real=True)
            for index in self.indices(tensor.axes)
        }
        self.elements[tensor.name] = elements
        self.values[tensor.name] = dict(elements)
        self.axes[tensor.name] = tensor.axes

    def labels(self, tensor: Tensor) -> None:
        """Integer labels for a tensor read as positions: every value of the axis it indexes,
        repeated ones included, in an order fixed by the sizes."""
        axis = self.layer.label_axis(tensor)
        positions = self.indices(tensor.axes)
        labels = label_values(len(positions), self.sizes[axis])
        values = {index: sympy.Integer(v) for index, v in zip(positions, labels)}
        self.values[tensor.name] = values
        self.axes[tensor.name] = tensor.axes

    def indices(self, axes: tuple[str, ...]) -> list[Index]:
        return list(itertools.product(*(range(self.sizes[a]) for a in axes)))

    def statement(self, s: Statement) -> dict[Index, sympy.Expr]:
        out = {}
        for index in self.indices(s.target.axes):
            at = dict(zip(s.target.axes, index))
            if isinstance(s.body, first_max):
                out[index] = self.first_max(s.body, at)
            elif not s.summed:
                out[index] = self.element_of(s.body, at)
            elif isinstance(s, Reduce) and s.op == "max":
                terms = [
                    self.element_of(s.body, {**at, **dict(zip(s.summed, k))})
                    for k in self.indices(s.summed)
                ]
                out[index] = _maximum(tuple(terms))
            else:
                out[index] = sympy.Add(
                    *(
                        self.element_of(s.body, {**at, **dict(zip(s.summed, k))})
                        for k in self.indices(s.summed)
                    )
                )
        return out

    def element_of(self, expr: sympy.Expr, at: Mapping[str, int]) -> sympy.Expr:
        """``expr`` (no sums) at one index: every tensor symbol replaced by its element, every
        index map (:class:`~symgrad.tensor_algebra.at`) by the element it reads."""
        reads = sorted(expr.atoms(_At), key=lambda e: sympy.count_ops(e))
        if reads:
            expr = expr.xreplace({r: self.read(r, at) for r in reads if not r.atoms(_At) - {r}})
            return self.element_of(expr, at)
        values = {}
        for s in expr.free_symbols:
            axis = index_axis(s)
            if _is_size(s):
                values[s] = sympy.Integer(self.size(s))
            elif s.name in self.fixed:
                values[s] = sympy.Integer(self.fixed[s.name])
            elif axis is not None and axis in at:
                values[s] = sympy.Integer(at[axis])
            elif s.name in self.values:
                index = tuple(at[a] for a in self.axes[s.name])
                values[s] = self.values[s.name][index]
        return exact(expr.xreplace(values))

    def first_max(self, e: first_max, where: Mapping[str, int]) -> sympy.Expr:
        """1 at the first element of the window equal to its maximum, else 0 (ties: first)."""
        body, axes = e.args
        axes = tuple(str(a) for a in axes)
        cells = self.indices(axes)
        window = [self.element_of(body, {**where, **dict(zip(axes, k))}) for k in cells]
        top = _maximum(tuple(window))
        k = cells.index(tuple(where[a] for a in axes))
        # As differences from the maximum: a proof that puts every other element a positive
        # gap below it settles each comparison.
        equal = sympy.Eq(window[k] - top, 0, evaluate=False)
        earlier = (sympy.Ne(v - top, 0, evaluate=False) for v in window[:k])
        hit = sympy.And(equal, *earlier, evaluate=False)
        return sympy.Piecewise((1, hit), (0, True), evaluate=False)

    def read(self, e: _At, where: Mapping[str, int]) -> sympy.Expr:
        """The element ``at(x, ...)`` reads at one index: 0 outside ``x`` or off the grid."""
        name = e.tensor.name
        position = []
        for axis, i in zip(self.axes[name], e.indices):
            p = self.element_of(i, where)
            if not (p.is_Integer and 0 <= int(p) < self.sizes[axis]):
                return sympy.S.Zero
            position.append(int(p))
        return self.values[name][tuple(position)]

    def size(self, symbol: sympy.Symbol) -> int:
        axis = "..." if symbol.name == "B" else symbol.name.lower()
        return self.sizes[axis]

    def evaluate(self, expr: sympy.Expr, at: Mapping[str, int]) -> sympy.Expr:
        """A tensor-algebra expression, sums included, at one index."""

        def visit(e: sympy.Basic) -> sympy.Basic:
            if isinstance(e, rsum):
                total = sympy.S.Zero
                for k in self.indices(e.axes):
                    total += self.evaluate(e.body, {**at, **dict(zip(e.axes, k))})
                return total
            if isinstance(e, _At):
                return self.element_of(e, at)
            if isinstance(e, sympy.Symbol):
                return self.element_of(e, at)
            if not e.args:
                return e
            return e.func(*(visit(a) for a in e.args))

        return visit(expr)

    def with_stages(self, stages: Sequence[Any]) -> None:
        """The values of a derivation's stages (attention's ``dp``, then ``dscores`` from
        it), each from its formula, so that a gradient that reads them evaluates."""
        for st in stages:
            self.axes[st.name] = st.wrt.axes
            self.values[st.name] = {
                index: self.evaluate(st.expr, dict(zip(st.wrt.axes, index)))
                for index in self.indices(st.wrt.axes)
            }

    def arguments(self) -> list[sympy.Symbol]:
        """Every element symbol (inputs, parameters, targets, dout)."""
        return [s for elements in self.elements.values() for s in elements.values()]


def label_values(count: int, top: int) -> list[int]:
    """``count`` integer labels below ``top``: each once while they last, then repeats (which
    a scatter-add must add up), the same wherever a layer is checked."""
    return [k % top if k < top else (3 * k + 1) % top for k in range(count)]


@functools.lru_cache(maxsize=4096)
def _maximum(window: tuple[sympy.Expr, ...]) -> sympy.Expr:
    """The maximum of a window, left unevaluated: SymPy compares every pair of arguments
    symbolically otherwise (seconds for a 3×4 window), and nothing here needs it simplified."""
    return sympy.Max(*dict.fromkeys(window), evaluate=False) if len(set(window)) > 1 else window[0]


def structural_values(layer: Layer, k: int = 0) -> dict[str, int]:
    """The integer constants that shape the layer (stride, padding, window) at the ``k``-th
    check: their defaults, plus ``k`` (a required one 2 and 3 alternating, so that windows are
    not square). A flag (Attention's ``causal``) takes its default, then the other value."""
    defaults = dict(layer.constants)
    out = {}
    for j, c in enumerate(layer.structural()):
        base = int(defaults[c]) if defaults[c] is not None else 2 + j % 2
        out[c] = base + k
    for c in layer.flags:
        out[c] = int(defaults[c]) ^ (k % 2)
    return out


def derived_sizes(
    layer: Layer, sizes: Mapping[str, int], fixed: Mapping[str, int], least: int = 1
) -> dict:
    """The declared sizes (a convolution's output ``OH = 1 + (H + 2·pad - FH)//stride``)
    computed from the others; each must come out an integer of at least ``least``."""
    out: dict[str, int] = {}
    for axis, e in layer.sizes:
        values = {s: sympy.Integer(fixed[s.name]) for s in e.free_symbols if s.name in fixed}
        for s in e.free_symbols:
            if _is_size(s):
                a = "..." if s.name == "B" else s.name.lower()
                values[s] = sympy.Integer({**sizes, **out}[a])
        value = e.xreplace(values)
        if not (value.is_Integer and value >= least):
            raise ValueError(
                f"{layer.name}: {axis_size(axis)} = {e} is {value} at {dict(sizes)}", axis
            )
        out[axis] = int(value)
    return out


def plain_gradient(c: Concrete, name: str, raw: bool = False) -> dict[Index, sympy.Expr]:
    """``∂L/∂name`` element by element, ``L = Σ dout ⊙ output``, by plain differentiation
    (with symgrad's conventions at kinks and ties; ``raw``: SymPy's own derivative, which
    writes a maximum's as Heaviside steps, the form a proof away from ties needs)."""
    from symgrad.conventions import differentiate

    out_name = c.layer.output.name
    loss = sympy.Add(*(c.values["dout"][k] * v for k, v in c.values[out_name].items()))
    how = sympy.diff if raw else differentiate
    return {k: how(loss, s) for k, s in c.elements[name].items()}


def gradient_at(c: Concrete, name: str, point: Mapping[sympy.Symbol, sympy.Expr]) -> dict:
    """``∂L/∂name`` at one point (no ties there): each maximum replaced by the argument that is
    largest at the point, which it equals on a neighbourhood, then differentiated."""
    out_name = c.layer.output.name
    loss = sympy.Add(*(c.values["dout"][k] * v for k, v in c.values[out_name].items()))

    def winner(*args: sympy.Expr) -> sympy.Expr:
        return max(args, key=lambda a: sympy.N(a.xreplace(point), 30))

    loss = loss.replace(sympy.Max, winner)
    return {k: sympy.diff(loss, s) for k, s in c.elements[name].items()}


def random_point(c: Concrete, seed: int, positive: set[str] = frozenset()) -> dict:
    """Random values in 40 digits for every element symbol (targets as one-hot rows when the
    layer declares that they sum to one; parameters named in ``positive`` kept positive)."""
    rng = random.Random(seed)
    point = {}
    constants = dict(c.layer.constants)
    for name, elements in c.elements.items():
        for symbol in elements.values():
            if name in constants:  # a constant at its default value
                point[symbol] = sympy.Float(exact(constants[name]), 40)
                continue
            low = 0.5 if name in positive else -2.0
            point[symbol] = sympy.Float(rng.uniform(low, 2.0), 40)
    for fact in c.layer.facts:
        _satisfy(c, fact, point, rng)
    return point


def _satisfy(c: Concrete, fact: object, point: dict, rng: random.Random) -> None:
    """Make a declared sum fact hold at the point (rows of ``t`` that sum to one)."""
    tensor = c.layer.tensor(fact.tensor)
    rest = [a for a in tensor.axes if a not in fact.axes]
    for outer in c.indices(tuple(rest)):
        row = [
            c.elements[tensor.name][_index(tensor.axes, rest, outer, fact.axes, inner)]
            for inner in c.indices(fact.axes)
        ]
        weights = [sympy.Float(rng.uniform(0.1, 1.0), 40) for _ in row]
        total = sum(weights)
        for symbol, w in zip(row, weights):
            point[symbol] = w / total * exact(fact.value)


def _index(axes: tuple, rest: list, outer: tuple, summed: tuple, inner: tuple) -> tuple:
    at = dict(zip(rest, outer)) | dict(zip(summed, inner))
    return tuple(at[a] for a in axes)


def _is_size(symbol: sympy.Symbol) -> bool:
    return bool(symbol.is_integer and symbol.is_positive and symbol.name.isupper())


def sizes_for(layer: Layer, size: int) -> dict[str, int]:
    """Every axis of the layer at ``size`` (the ``...`` group and all)."""
    axes = {a for t in (*layer.tensors, *layer.values()) for a in t.axes}
    return {a: size for a in axes}


__all__ = [
    "Concrete",
    "axis_size",
    "derived_sizes",
    "plain_gradient",
    "random_point",
    "sizes_for",
    "structural_values",
]
