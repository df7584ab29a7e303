"""Elementwise expressions over named axes, with sums: the algebra backward passes are written in.

Notation: an expression stands for one element, at the indices of the axes its tensors span. A
tensor appears as its scalar symbol (``xhat`` for ``xhat[n, d]``; a :class:`Scope` says which
axes each symbol spans, and symbols broadcast over the axes they lack). ``rsum(body, (n,))`` is
``Σ_n body``: a function call SymPy treats as one opaque atom, so scalar algebra (factor,
collect, cancel) works on expressions that hold sums. Sums are kept canonical by
:func:`make_sum`:

- linearity: ``Σ_n (a + b) = Σ_n a + Σ_n b``;
- factors that do not vary along the summed axes come out: ``Σ_n γ[d]·dout[n, d] =
  γ[d]·Σ_n dout[n, d]``;
- a body that does not vary at all is multiplied by the axes' size: ``Σ_n 1 = N``;
- known sums are replaced by their values (:class:`Facts`): ``Σ_n xhat = 0`` when ``xhat`` is
  centred, ``Σ_k t = 1`` when each target row sums to one.

>>> from symgrad.tensors import Tensor
>>> tensors = [Tensor("dout", ("n", "d")), Tensor("gamma", ("d",), "param")]
>>> scope = Scope.of(tensors)
>>> dout, gamma = (t.symbol for t in tensors)
>>> make_sum(gamma * dout + gamma, ("n",), scope)
N*gamma + gamma*rsum(dout, (n,))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sympy

from symgrad.tensors import Tensor, axis_size, index_axis, index_symbol, size_of


class rsum(sympy.Function):
    """``Σ_axes body``: the sum of an elementwise expression over named axes (kept opaque)."""

    nargs = 2

    @property
    def body(self) -> sympy.Expr:
        return self.args[0]

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.args[1])

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _sympystr(self, printer: object) -> str:
        return f"rsum({printer._print(self.body)}, ({', '.join(self.axes)},))"


class at(sympy.Function):
    """``at(x, i1, ..., ik)``: the element of ``x`` at the positions ``i1, ..., ik``, each an
    expression in index symbols (``stride*oh + fh - pad``) or integer tensors (``ids``): an
    index map. It is 0 where a position is not an integer inside the axis (zero padding, and
    the cells a strided gather never reads)."""

    @property
    def tensor(self) -> sympy.Symbol:
        return self.args[0]

    @property
    def indices(self) -> tuple[sympy.Expr, ...]:
        return tuple(self.args[1:])

    def _eval_is_real(self) -> bool | None:
        return True

    def _sympystr(self, printer: object) -> str:
        inner = ", ".join(printer._print(i) for i in self.indices)
        return f"{printer._print(self.tensor)}[{inner}]"

    _symgrad_text = _sympystr

    def _latex(self, printer: object) -> str:
        name = printer._print(self.tensor)
        if not self.tensor.name.isalpha() or len(self.tensor.name) > 1 or "frac" in name:
            name = rf"\left({name}\right)"
        inner = ", ".join(printer._print(i) for i in self.indices)
        return f"{name}_{{{inner}}}"


def element(tensor: Tensor, indices: Iterable[sympy.Expr]) -> sympy.Expr:
    """``tensor`` at ``indices``: its plain symbol where they are its own axes, else ``at``."""
    indices = tuple(sympy.sympify(i) for i in indices)
    if indices == tuple(index_symbol(a) for a in tensor.axes):
        return tensor.symbol
    return at(tensor.symbol, *indices)


def reindex(expr: sympy.Expr, mapping: Mapping[str, sympy.Expr], scope: Scope) -> sympy.Expr:
    """``expr`` with each axis in ``mapping`` read at another position: every tensor spanning
    one becomes ``at(tensor, ...)``, every index symbol of one its new position. Sums keep
    their own axes (a mapped axis a sum binds is left alone there)."""

    def visit(e: sympy.Basic, m: Mapping[str, sympy.Expr]) -> sympy.Basic:
        if not m:
            return e
        if isinstance(e, rsum):
            inner = {a: v for a, v in m.items() if a not in e.axes}
            brought = {index_axis(s) for v in inner.values() for s in v.free_symbols}
            if brought & set(e.axes):
                raise ValueError(f"reindexing {e} would capture the axes {set(e.axes) & brought}")
            return rsum(visit(e.body, inner), e.args[1])
        if isinstance(e, at):
            return at(e.tensor, *(visit(i, m) for i in e.indices))
        if isinstance(e, sympy.Symbol):
            tensor = scope.tensors.get(e)
            if tensor is not None:
                if set(tensor.axes) & set(m):
                    return element(tensor, [m.get(a, index_symbol(a)) for a in tensor.axes])
                return e
            axis = index_axis(e)
            return m[axis] if axis is not None and axis in m else e
        if not e.args:
            return e
        return e.func(*(visit(a, m) for a in e.args))

    return visit(expr, dict(mapping))


def axis_tuple(axes: Iterable[str]) -> sympy.Tuple:
    """Axes as the second argument of :class:`rsum`: sorted symbols, so equal sums are equal."""
    return sympy.Tuple(*sorted((sympy.Symbol(a) for a in set(axes)), key=str))


@dataclass
class Scope:
    """Which axes each tensor symbol spans (and the tensors, by symbol)."""

    tensors: dict[sympy.Symbol, Tensor] = field(default_factory=dict)

    @classmethod
    def of(cls, tensors: Iterable[Tensor]) -> Scope:
        return cls({t.symbol: t for t in tensors})

    def add(self, tensor: Tensor) -> None:
        self.tensors[tensor.symbol] = tensor

    def axes_of(self, expr: sympy.Basic) -> set[str]:
        """The axes an expression varies along: those of its tensors, less what its sums sum."""
        if isinstance(expr, rsum):
            return self.axes_of(expr.body) - set(expr.axes)
        if isinstance(expr, at):
            return set().union(*(self.axes_of(i) for i in expr.indices))
        if isinstance(expr, sympy.Symbol):
            tensor = self.tensors.get(expr)
            if tensor is not None:
                return set(tensor.axes)
            axis = index_axis(expr)
            return {axis} if axis is not None else set()
        out: set[str] = set()
        for a in expr.args:
            out |= self.axes_of(a)
        return out


@dataclass
class Facts:
    """Known values of sums: ``(body, axes) -> value`` (``Σ_k t = 1``, ``Σ_n xhat = 0``)."""

    known: dict[tuple[sympy.Expr, tuple[str, ...]], sympy.Expr] = field(default_factory=dict)

    def add(self, body: sympy.Expr, axes: Iterable[str], value: sympy.Expr) -> None:
        self.known[(body, tuple(sorted(axes)))] = value

    def get(self, body: sympy.Expr, axes: Iterable[str]) -> sympy.Expr | None:
        return self.known.get((body, tuple(sorted(axes))))


def make_sum(
    body: sympy.Expr,
    axes: Iterable[str],
    scope: Scope,
    facts: Facts | None = None,
    expand: bool = False,
) -> sympy.Expr:
    """``Σ_axes body`` in canonical form (see the module docstring). The body is split at its
    top-level terms; with ``expand`` it is multiplied out first (the compact form does, to find
    every invariant factor and fact), otherwise its factors stay as written."""
    axes = tuple(sorted(set(axes)))
    if not axes:
        return body
    total = sympy.S.Zero
    for term in sympy.Add.make_args(sympy.expand(body) if expand else body):
        total += _sum_of_term(term, axes, scope, facts)
    return total


def _sum_of_term(
    term: sympy.Expr, axes: tuple[str, ...], scope: Scope, facts: Facts | None
) -> sympy.Expr:
    outside, inside = [], []
    for factor in sympy.Mul.make_args(term):
        (inside if scope.axes_of(factor) & set(axes) else outside).append(factor)
    coefficient = sympy.Mul(*outside)
    varying = [a for a in axes if any(a in scope.axes_of(f) for f in inside)]
    constant = [a for a in axes if a not in varying]
    coefficient *= size_of(tuple(constant))
    if not inside:
        return coefficient
    body = sympy.Mul(*inside)
    if isinstance(body, rsum):  # Σ_n Σ_k e is one sum over (k, n)
        varying = [*varying, *body.axes]
        body = body.body
    known = facts.get(body, varying) if facts is not None else None
    if known is not None:
        return coefficient * known
    return coefficient * rsum(body, axis_tuple(varying))


def substitute(
    expr: sympy.Expr,
    values: Mapping[sympy.Symbol, sympy.Expr],
    scope: Scope,
    facts: Facts | None = None,
    expand: bool = True,
) -> sympy.Expr:
    """``expr`` with symbols replaced by expressions, inside sums too (sums made canonical
    again, so that factors the substitution brought in come out)."""

    def visit(e: sympy.Basic) -> sympy.Basic:
        if isinstance(e, sympy.Symbol):
            return values.get(e, e)
        if isinstance(e, rsum):
            return make_sum(visit(e.body), e.axes, scope, facts, expand)
        if isinstance(e, at):
            indices = [visit(i) for i in e.indices]
            if e.tensor in values:
                axes = scope.tensors[e.tensor].axes
                return reindex(values[e.tensor], dict(zip(axes, indices)), scope)
            return at(e.tensor, *indices)
        if not e.args:
            return e
        return e.func(*(visit(a) for a in e.args))

    return visit(expr)


def sums_in(expr: sympy.Basic) -> list[rsum]:
    """Every sum in ``expr``, innermost first."""
    found: list[rsum] = []
    for e in sympy.postorder_traversal(expr):
        if isinstance(e, rsum) and e not in found:
            found.append(e)
    return found


def mean_size(call: rsum) -> sympy.Expr:
    """The number of elements a sum adds up (``N`` for ``Σ_n``), for printing it as a mean."""
    return size_of(call.axes)


__all__ = [
    "Facts",
    "Scope",
    "at",
    "axis_size",
    "axis_tuple",
    "element",
    "make_sum",
    "mean_size",
    "reindex",
    "rsum",
    "substitute",
    "sums_in",
]
