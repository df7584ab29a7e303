"""From the staged backward to one compact formula per gradient, rewritten in saved values.

Notation as in :mod:`symgrad.tensor_algebra`. For each input and parameter the engine

1. **inlines** the staged backward (:mod:`symgrad.reverse`): every intermediate gradient
   ``d<t>`` is replaced by its own expression until only ``dout``, the forward's tensors and sums
   remain; sums stay canonical (factors that do not vary come out);
2. **uses facts**: declared ones (each target row sums to one) and ones it finds: a sum without
   ``dout`` whose value at concrete sizes is the same number whatever the inputs (a centred
   tensor sums to 0 over its batch axis, a softmax to 1 over its row), proven exactly there;
3. **rewrites in saved values**: a forward statement ``t = f(a, ...)`` that can be inverted for
   ``a`` without dividing by a tensor gives ``a`` in terms of ``t`` (``xc = xhat·std``); each such
   rewrite is kept when it leaves fewer arrays of the layer's full size to save, or a cheaper
   formula, or the same with later values (closer to the output, as the book saves ``xhat``);
4. **tidies**: the cheapest of the expanded form and its common factors taken out, by the cost
   of the NumPy code it prints as.

What comes out is checked against plain differentiation at concrete sizes by the engine, never
trusted as it stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from symgrad.concrete import Concrete, sizes_for
from symgrad.inversion import invert_chain
from symgrad.program import Layer
from symgrad.reverse import Backward
from symgrad.statements import Map
from symgrad.tensor_algebra import Facts, Scope, make_sum, rsum, substitute, sums_in
from symgrad.tensors import Tensor


@dataclass(frozen=True)
class Compact:
    """One gradient's compact formula, the facts it used and the rewrites it took."""

    expr: sympy.Expr
    facts: tuple[str, ...]
    rewrites: tuple[str, ...]


def inline(
    backward: Backward,
    name: str,
    scope: Scope,
    facts: Facts,
    keep: frozenset[sympy.Symbol] = frozenset(),
) -> sympy.Expr:
    """The gradient of ``name`` with every intermediate gradient written out (but those in
    ``keep``)."""
    expr = backward.gradients.get(name, sympy.S.Zero)
    replace = {
        backward.grad_tensors[t].symbol: e
        for t, e in backward.gradients.items()
        if t in backward.grad_tensors and backward.grad_tensors[t].symbol not in keep
    }
    for _ in range(200):
        present = {s for s in expr.free_symbols if s in replace}
        if not present:
            return expr
        expr = substitute(expr, {s: replace[s] for s in present}, scope, facts)
    raise RuntimeError("the staged backward does not end")


def find_facts(
    layer: Layer,
    expr: sympy.Expr,
    scope: Scope,
    facts: Facts,
    keep: frozenset[sympy.Symbol] = frozenset(),
) -> list[str]:
    """Sums in ``expr`` (without ``dout`` or a gradient kept by name) that are the same
    number for any inputs, at two concrete sizes: added to ``facts``; their statements
    returned."""
    found = []
    upstream = {"dout"} | {s.name for s in keep}
    for call in sums_in(expr):
        if upstream & {s.name for s in call.free_symbols} or facts.get(call.body, call.axes):
            continue
        value = _constant_value(layer, call)
        if value is not None:
            facts.add(call.body, call.axes, value)
            found.append(f"Σ_{','.join(call.axes)} {call.body} = {value}")
    return found


def _constant_value(layer: Layer, call: rsum) -> sympy.Expr | None:
    """The number a sum always equals (checked exactly at sizes 2 and 3), else None."""
    values = set()
    for size in (2, 3):
        c = Concrete.of(layer, sizes_for(layer, size))
        free = tuple(sorted(set(_axes(c, call.body)) - set(call.axes)))
        for index in c.indices(free)[:2]:
            value = c.evaluate(call, dict(zip(free, index)))
            simplified = sympy.cancel(sympy.together(sympy.expand(value)))
            if simplified.free_symbols:
                simplified = sympy.simplify(simplified)
            if simplified.free_symbols:
                return None
            values.add(simplified)
    return values.pop() if len(values) == 1 else None


def _axes(c: Concrete, expr: sympy.Expr) -> set[str]:
    out: set[str] = set()
    for s in expr.free_symbols:
        out |= set(c.axes.get(s.name, ()))
    return out


def refacts(expr: sympy.Expr, scope: Scope, facts: Facts) -> sympy.Expr:
    """``expr`` with every sum made canonical again under ``facts``."""
    return substitute(expr, {}, scope, facts)


# --- rewriting in saved values ---------------------------------------------------------------


def rewrites(layer: Layer) -> list[tuple[sympy.Symbol, sympy.Expr, str]]:
    """``(a, value, text)``: the forward's maps inverted for one operand, no division."""
    out = []
    for s in layer.statements:
        if not isinstance(s, Map):
            continue
        for a in s.operands:
            if a.role in ("const", "target") or _count(s.body, a.symbol) != 1:
                continue
            inverse = invert_chain(s.body, a.symbol, s.target.symbol)
            if inverse is None or _divides_by_tensor(inverse, layer):
                continue
            out.append((a.symbol, inverse, f"{a.name} = {inverse}"))
    return out


def _count(expr: sympy.Expr, symbol: sympy.Symbol) -> int:
    return sum(1 for e in sympy.preorder_traversal(expr) if e == symbol)


def _divides_by_tensor(expr: sympy.Expr, layer: Layer) -> bool:
    names = {t.name for t in (*layer.tensors, *layer.values()) if t.role != "const"}
    for e in sympy.preorder_traversal(expr):
        if (
            isinstance(e, sympy.Pow)
            and e.exp.is_negative
            and {s.name for s in e.base.free_symbols} & names
        ):
            return True
    return False


def saved_score(expr: sympy.Expr, layer: Layer, cost: object) -> tuple[int, int, int, int]:
    """Lower is better: full-size arrays to save, arrays to save, cost, earliness."""
    order = {t.name: k for k, t in enumerate((*layer.tensors, *layer.values()))}
    full = max((len(t.axes) for t in (*layer.tensors, *layer.values())), default=0)
    saved = [s.name for s in expr.free_symbols if s.name in order and s.name != "dout"]
    tensors = {t.name: t for t in (*layer.tensors, *layer.values())}
    big = sum(1 for n in saved if len(tensors[n].axes) == full and tensors[n].role != "param")
    lateness = -sum(order[n] for n in saved)
    return big, len(saved), cost(expr), lateness


def rewritten(
    expr: sympy.Expr,
    layer: Layer,
    scope: Scope,
    facts: Facts,
    cost: object,
) -> tuple[sympy.Expr, list[str]]:
    """Greedy rewrites in saved values (see the module docstring), with the texts taken."""
    taken: list[str] = []
    options = rewrites(layer)
    current = tidy(expr, cost)
    for _ in range(len(options) + 1):
        best = None
        for a, value, text in options:
            if a not in current.free_symbols and not _inside_sums(current, a):
                continue
            candidate = tidy(
                refacts(substitute(current, {a: value}, scope, facts), scope, facts), cost
            )
            score = saved_score(candidate, layer, cost)
            better = score < saved_score(current, layer, cost)
            if better and (best is None or score < saved_score(best[0], layer, cost)):
                best = (candidate, text)
        if best is None:
            break
        current, text = best
        taken.append(text)
    return current, taken


def _inside_sums(expr: sympy.Expr, a: sympy.Symbol) -> bool:
    return any(a in call.body.free_symbols for call in sums_in(expr))


def tidy(expr: sympy.Expr, cost: object) -> sympy.Expr:
    """The cheapest of ``expr``, its expansion and its common factors taken out."""
    expanded = sympy.expand(expr)
    forms = [expr, expanded, sympy.factor_terms(expanded), sympy.factor_terms(expr)]
    return min(dict.fromkeys(forms), key=lambda e: (cost(e), sympy.count_ops(e), str(e)))


def compact(
    layer: Layer,
    backward: Backward,
    tensor: Tensor,
    scope: Scope,
    facts: Facts,
    cost: object,
    keep: frozenset[sympy.Symbol] = frozenset(),
) -> Compact:
    """The compact formula of ``tensor``'s gradient (see the module docstring), the
    intermediate gradients in ``keep`` left named."""
    expr = inline(backward, tensor.name, scope, facts, keep)
    found = find_facts(layer, expr, scope, facts, keep)
    expr = refacts(expr, scope, facts)
    expr, taken = rewritten(expr, layer, scope, facts, cost)
    found += find_facts(layer, expr, scope, facts, keep)
    if found:
        expr = tidy(refacts(expr, scope, facts), cost)
    return Compact(expr, tuple(found), tuple(taken))


def sums_with(expr: sympy.Expr, names: Mapping[str, object]) -> list[rsum]:
    return [c for c in sums_in(expr) if any(s.name in names for s in c.free_symbols)]


__all__ = ["Compact", "compact", "find_facts", "inline", "make_sum", "rewrites", "tidy"]
