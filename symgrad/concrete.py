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

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy

from symgrad.constants import exact
from symgrad.program import Layer
from symgrad.statements import Reduce, Statement
from symgrad.tensor_algebra import rsum
from symgrad.tensors import Tensor, axis_size

Index = tuple[int, ...]


@dataclass
class Concrete:
    """A layer's tensors at concrete sizes: element symbols and values, by tensor name."""

    layer: Layer
    sizes: dict[str, int]
    values: dict[str, dict[Index, sympy.Expr]] = field(default_factory=dict)
    elements: dict[str, dict[Index, sympy.Symbol]] = field(default_factory=dict)
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, layer: Layer, sizes: Mapping[str, int]) -> Concrete:
        c = cls(layer, dict(sizes))
        for t in layer.tensors:
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

    def indices(self, axes: tuple[str, ...]) -> list[Index]:
        return list(itertools.product(*(range(self.sizes[a]) for a in axes)))

    def statement(self, s: Statement) -> dict[Index, sympy.Expr]:
        out = {}
        for index in self.indices(s.target.axes):
            at = dict(zip(s.target.axes, index))
            if not s.summed:
                out[index] = self.element_of(s.body, at)
            elif isinstance(s, Reduce) and s.op == "max":
                terms = [
                    self.element_of(s.body, {**at, **dict(zip(s.summed, k))})
                    for k in self.indices(s.summed)
                ]
                out[index] = sympy.Max(*terms)
            else:
                out[index] = sympy.Add(
                    *(
                        self.element_of(s.body, {**at, **dict(zip(s.summed, k))})
                        for k in self.indices(s.summed)
                    )
                )
        return out

    def element_of(self, expr: sympy.Expr, at: Mapping[str, int]) -> sympy.Expr:
        """``expr`` (no sums) at one index: every tensor symbol replaced by its element."""
        values = {}
        for s in expr.free_symbols:
            if s.name in self.values:
                index = tuple(at[a] for a in self.axes[s.name])
                values[s] = self.values[s.name][index]
            elif _is_size(s):
                values[s] = sympy.Integer(self.size(s))
        return exact(expr.xreplace(values))

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
            if isinstance(e, sympy.Symbol):
                return self.element_of(e, at)
            if not e.args:
                return e
            return e.func(*(visit(a) for a in e.args))

        return visit(expr)

    def arguments(self) -> list[sympy.Symbol]:
        """Every element symbol (inputs, parameters, targets, dout)."""
        return [s for elements in self.elements.values() for s in elements.values()]


def plain_gradient(c: Concrete, name: str) -> dict[Index, sympy.Expr]:
    """``∂L/∂name`` element by element, ``L = Σ dout ⊙ output``, by plain differentiation."""
    from symgrad.conventions import differentiate

    out_name = c.layer.output.name
    loss = sympy.Add(*(c.values["dout"][k] * v for k, v in c.values[out_name].items()))
    return {k: differentiate(loss, s) for k, s in c.elements[name].items()}


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


__all__ = ["Concrete", "axis_size", "plain_gradient", "random_point", "sizes_for"]
