"""Equality of large concrete expressions by evaluation: exact in a finite field, 40 digits in
the reals, and plain reverse-mode derivatives in both.

At concrete sizes a composite layer's elements are large expressions (one element of
multi-head attention's ``dWq`` reads every input and weight), and SymPy's ``diff`` and
``cancel`` on them take seconds each. This module evaluates instead. Notation: an expression is
a SymPy tree over symbols; a *point* gives every symbol a value; an :class:`Evaluator` computes
values at one point, each shared subtree once, and the derivative of a scalar ``loss`` with
respect to any of its symbols in one reverse sweep (the chain rule on the tree, node by node:
plain differentiation, as SymPy's ``diff`` does it, but at a number).

Two arithmetics:

- :class:`Real`: 40-digit ``mpmath`` numbers, ``exp`` and ``log`` as themselves;
- :class:`Modular`: the integers modulo the prime ``P = 2**61 - 1``. An exponential, logarithm
  or non-integer power has no value there, so each is *named*: it gets a random value of its
  own, one per value of its argument (``exp(-u)`` is ``1/exp(u)``), as :mod:`symgrad.proofs`
  names ``exp(u)`` by a symbol.
  A square root is a true one: ``u**(p/2)`` is ``R**p`` with ``R² = u`` modulo ``P`` (a point
  where a base is not a square is drawn again), so ``1/√u`` and ``√u/u`` agree. Another
  power ``u**(p/q)`` is ``R**p`` with ``R`` the named ``q``-th root of ``u`` (a number's
  written as SymPy writes it, ``n**w·R**m``, ``p = w·q + m``, ``0 ≤ m < q``). A derivative
  keeps the relation that defines the function (``exp' = exp``, ``log'(u) = 1/u``,
  ``(u**r)' = r·u**(r - 1)``).

**Polynomial identity testing** (Schwartz–Zippel). A rational function whose numerator is a
nonzero polynomial of total degree at most ``d`` in its symbols and named functions is 0 at a
uniformly random point modulo ``P`` with probability at most ``d/P``. :func:`identities` bounds
``d`` from the trees (:class:`Degrees`; numerator and denominator degrees added, since an
``exp(-u)`` is evaluated as ``1/exp(u)``; times ``4**m`` for ``m`` square roots: the norm over
their signs has ``2**m`` times the degree, and only a point where every base is a square is
kept), evaluates at as many independent random points as make
the chance that a nonzero difference is 0 at all of them below :data:`ERROR` (``2**-100``), and
answers per pair. A ``True`` is a proof up to that chance; a ``False`` is certain for the named
form, in which related functions are independent (``exp(2u)`` and ``exp(u)**2`` are two names):
callers then fall back to :mod:`symgrad.proofs`. Anything else in a tree (a maximum, a
``Piecewise``, ``erf``) is :class:`Unsupported`.

>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> loss = sympy.exp(x * y) / (1 + x**2)
>>> identities([], loss=loss, derivatives=[(sympy.diff(loss, x), x), (y * loss, y)])
[True, False]
>>> identities([((x + 1) ** 2, x**2 + 2 * x + 1), (sympy.exp(x + y), sympy.exp(x) * sympy.exp(y))])
[True, False]
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy

P = 2**61 - 1
"""The prime of the modular arithmetic (a Mersenne prime: 61-bit residues, exact)."""
ERROR = 2.0**-100
"""The largest chance that :func:`identities` calls a nonzero difference zero."""
DIGITS = 40


class Unsupported(Exception):
    """An expression holds something the evaluators do not compute (a maximum, a ``Piecewise``,
    a named function without a rule here)."""


class Singular(Exception):
    """A division by zero at this point (another point is drawn)."""


# --- arithmetics ------------------------------------------------------------------------------


class Real:
    """40-digit real numbers: ``exp`` and ``log`` as themselves."""

    def __init__(self) -> None:
        self.ctx = mpmath.mp.clone()
        self.ctx.dps = DIGITS + 5

    def symbol(self, s: sympy.Symbol) -> Any:
        raise Unsupported(f"no value for {s}")

    def number(self, e: sympy.Expr) -> Any:
        if e.is_Rational:
            return self.ctx.mpf(e.p) / e.q
        if e.is_Float or e.is_NumberSymbol:
            return self.ctx.mpf(sympy.Float(e, DIGITS + 5)._mpf_)
        raise Unsupported(f"the number {e}")

    def inverse(self, v: Any) -> Any:
        if v == 0:
            raise Singular
        return 1 / v

    def integer_power(self, v: Any, n: int) -> Any:
        return v**n if n >= 0 else self.inverse(v) ** -n

    def power(self, v: Any, r: sympy.Rational, number: bool = False) -> Any:
        if v <= 0:
            raise Unsupported(f"a power {r} of a value that is not positive")
        return self.ctx.power(v, self.ctx.mpf(r.p) / r.q)

    def exp(self, v: Any) -> Any:
        return self.ctx.exp(v)

    def log(self, v: Any) -> Any:
        if v <= 0:
            raise Unsupported("a logarithm of a value that is not positive")
        return self.ctx.log(v)

    def reduce(self, v: Any) -> Any:
        return v

    def abs(self, v: Any) -> Any:
        return abs(v)


class Modular:
    """The integers modulo :data:`P`. Every symbol, and every exponential, logarithm,
    non-integer power and constant like ``pi``, is named: a random residue, one per symbol and
    one per (function, value of its argument)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: dict[tuple, int] = {}
        self.roots: set[int] = set()

    def named(self, key: tuple) -> int:
        if key not in self.names:
            self.names[key] = self.rng.randrange(1, P)
        return self.names[key]

    def symbol(self, s: sympy.Symbol) -> int:
        return self.named(("symbol", s))

    def number(self, e: sympy.Expr) -> int:
        if e.is_Rational:
            return e.p * self.inverse(e.q) % P
        if e.is_NumberSymbol:
            return self.named(("number", e))
        raise Unsupported(f"the number {e} in modular arithmetic")

    def inverse(self, v: int) -> int:
        if v % P == 0:
            raise Singular
        return pow(v, -1, P)

    def integer_power(self, v: int, n: int) -> int:
        return pow(v, n, P) if n >= 0 else pow(self.inverse(v), -n, P)

    def power(self, v: int, r: sympy.Rational, number: bool = False) -> int:
        # u**(p/2): R**p with R a true square root of u modulo P (R² = u holds); a point where
        # a base has none is drawn again. Else u**(p/q) is R**p, R the named q-th root of u;
        # a number's as SymPy writes it, n**w·R**m with p = w·q + m, 0 <= m < q
        if r.q == 2:
            root = self.square_root(v, number)
            if root is not None:
                return self.integer_power(root, int(r.p))
        root = self.named(("root", v, int(r.q)))
        if not number:
            return self.integer_power(root, int(r.p))
        whole, rest = divmod(int(r.p), int(r.q))
        return self.integer_power(v, whole) * self.integer_power(root, rest) % P

    def square_root(self, v: int, number: bool) -> int | None:
        """A square root of ``v`` modulo P (P ≡ 3 mod 4: ``v**((P+1)/4)``), the same for every
        power of ``v``; where there is none, Singular (a number's: None, a named root)."""
        v %= P
        if v == 0:
            raise Singular
        if pow(v, (P - 1) // 2, P) == 1:
            self.roots.add(v)
            return pow(v, (P + 1) // 4, P)
        if number:
            return None
        raise Singular

    def exp(self, v: int) -> int:
        if ("exp", -v % P) in self.names:  # exp(-u) = 1/exp(u)
            return self.inverse(self.names[("exp", -v % P)])
        return self.named(("exp", v))

    def log(self, v: int) -> int:
        return self.named(("log", v))

    def reduce(self, v: int) -> int:
        return v % P

    def abs(self, v: int) -> int:
        raise Unsupported("an absolute value in modular arithmetic")


# --- evaluation at one point ------------------------------------------------------------------


def postorder(roots: Sequence[sympy.Basic]) -> list[sympy.Basic]:
    """Every distinct subtree of ``roots`` (an exponent that is a number not one of them),
    each after its arguments."""
    seen: set[sympy.Basic] = set()
    order: list[sympy.Basic] = []
    stack: list[tuple[sympy.Basic, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((a, False) for a in reversed(_arguments(node)) if a not in seen)
    return order


def _arguments(node: sympy.Basic) -> tuple[sympy.Basic, ...]:
    if isinstance(node, sympy.Pow) and node.exp.is_Rational:
        return (node.base,)
    return () if node.is_Atom else node.args


@dataclass
class Evaluator:
    """Values of expressions at one point in one arithmetic, each subtree computed once, and
    derivatives of a scalar by one reverse sweep."""

    arithmetic: Real | Modular
    point: Mapping[sympy.Symbol, Any]
    values: dict[sympy.Basic, Any] = field(default_factory=dict)

    def value(self, e: sympy.Expr) -> Any:
        if e not in self.values:
            for node in postorder([e]):
                if node not in self.values:
                    self.values[node] = self._node(node)
        return self.values[e]

    def _node(self, node: sympy.Basic) -> Any:
        a, v = self.arithmetic, self.values
        if node.is_Symbol:
            return self.point[node] if node in self.point else a.symbol(node)
        if node.is_Number or node.is_NumberSymbol:
            return a.number(node)
        if node.is_Add:
            return a.reduce(sum(v[x] for x in node.args))
        if node.is_Mul:
            out = 1
            for x in node.args:
                out = a.reduce(out * v[x])
            return out
        if isinstance(node, sympy.Pow) and node.exp.is_Integer:
            return a.integer_power(v[node.base], int(node.exp))
        if isinstance(node, sympy.Pow) and node.exp.is_Rational:
            return a.power(v[node.base], node.exp, node.base.is_Number)
        if isinstance(node, sympy.exp):
            return a.exp(v[node.args[0]])
        if isinstance(node, sympy.log) and len(node.args) == 1:
            return a.log(v[node.args[0]])
        if isinstance(node, sympy.Abs):  # a value only (a bound's terms), not differentiated
            return a.abs(v[node.args[0]])
        raise Unsupported(type(node).__name__)

    def gradient(self, loss: sympy.Expr, wrt: Sequence[sympy.Symbol]) -> list[Any]:
        """``∂loss/∂s`` at the point for each ``s`` in ``wrt``, by one reverse sweep."""
        self.value(loss)
        reduce = self.arithmetic.reduce
        adjoint: dict[sympy.Basic, Any] = {loss: 1}
        for node in reversed(postorder([loss])):
            bar = adjoint.get(node)
            if bar is None or node.is_Atom:
                continue
            for arg, local in self._locals(node):
                adjoint[arg] = reduce(adjoint.get(arg, 0) + reduce(bar * local))
        return [adjoint.get(s, 0) for s in wrt]

    def _locals(self, node: sympy.Basic) -> list[tuple[sympy.Basic, Any]]:
        """Each argument of ``node`` with ``∂node/∂argument`` at the point."""
        a, v = self.arithmetic, self.values
        if node.is_Add:
            return [(x, 1) for x in node.args]
        if node.is_Mul:  # the product of the others: prefix and suffix products, no division
            args = node.args
            before, after = [1] * len(args), [1] * len(args)
            for i in range(1, len(args)):
                before[i] = a.reduce(before[i - 1] * v[args[i - 1]])
                after[-1 - i] = a.reduce(after[-i] * v[args[-i]])
            return [(x, a.reduce(before[i] * after[i])) for i, x in enumerate(args)]
        if isinstance(node, sympy.Pow) and node.exp.is_Integer:
            n = int(node.exp)
            return [(node.base, a.reduce(n * a.integer_power(v[node.base], n - 1)))]
        if isinstance(node, sympy.Pow):  # d(u**r) = r·u**(r - 1), as SymPy writes it
            r = node.exp
            local = a.power(v[node.base], r - 1, node.base.is_Number)
            return [(node.base, a.reduce(a.number(r) * local))]
        if isinstance(node, sympy.exp):
            return [(node.args[0], v[node])]
        if isinstance(node, sympy.log):
            return [(node.args[0], a.inverse(v[node.args[0]]))]
        raise Unsupported(type(node).__name__)


# --- degree bounds ----------------------------------------------------------------------------

Degree = tuple[int, int]
"""Bounds on the total degrees of a rational function's numerator and denominator, in its
symbols and named functions."""


def _add(terms: Sequence[Degree]) -> Degree:
    den = sum(d for _, d in terms)
    return max((n + den - d for n, d in terms), default=0), den


def _flip(t: Degree) -> Degree:
    return t[1], t[0]


def _scale(t: Degree, k: int) -> Degree:
    return (k * t[0], k * t[1]) if k >= 0 else (-k * t[1], -k * t[0])


def _times(*terms: Degree) -> Degree:
    return sum(n for n, _ in terms), sum(d for _, d in terms)


@dataclass
class Degrees:
    """Degree bounds of subtrees (:data:`Degree`): of the value, and of its derivative with
    respect to any one symbol."""

    value: dict[sympy.Basic, Degree] = field(default_factory=dict)
    slope: dict[sympy.Basic, Degree] = field(default_factory=dict)
    named_arguments: list[Degree] = field(default_factory=list)
    square_roots: set[sympy.Basic] = field(default_factory=set)

    def of(self, e: sympy.Expr) -> Degree:
        self._visit(e)
        return self.value[e]

    def of_derivative(self, e: sympy.Expr) -> Degree:
        self._visit(e)
        return self.slope[e]

    def _visit(self, e: sympy.Expr) -> None:
        for node in postorder([e]):
            if node not in self.value:
                self.value[node], self.slope[node] = self._node(node)

    def _node(self, node: sympy.Basic) -> tuple[Degree, Degree]:
        v, s = self.value, self.slope
        if node.is_Symbol:
            return (1, 0), (0, 0)
        if node.is_Number:
            return (0, 0), (0, 0)
        if node.is_NumberSymbol:
            return (1, 0), (0, 0)
        args = _arguments(node)
        if node.is_Add:
            return _add([v[x] for x in args]), _add([s[x] for x in args])
        if node.is_Mul:
            total = _times(*(v[x] for x in args))
            terms = [_times(s[x], (total[0] - v[x][0], total[1] - v[x][1])) for x in args]
            return total, _add(terms)
        if isinstance(node, sympy.Pow) and node.exp.is_Integer:
            n, base = int(node.exp), node.base
            return _scale(v[base], n), _times(_scale(v[base], n - 1), s[base])
        if not isinstance(node, (sympy.exp, sympy.log, sympy.Pow)) or len(args) != 1:
            raise Unsupported(type(node).__name__)
        (u,) = args
        self.named_arguments.append(v[u])
        if isinstance(node, sympy.exp):  # T' = T·u'
            return (1, 0), _times((1, 0), s[u])
        if isinstance(node, sympy.log):  # log(u)' = u'/u
            return (1, 0), _times(s[u], _flip(v[u]))
        if isinstance(node, sympy.Pow) and u.is_Number:  # n**w·R**m, a constant
            return _scale((1, 0), int(node.exp.p) % int(node.exp.q)), (0, 0)
        if isinstance(node, sympy.Pow):  # u**(p/q) = R**p; (u**r)' = r·R**(p - q)·u'
            r = node.exp
            if r.q == 2:
                self.square_roots.add(u)
            return _scale((1, 0), int(r.p)), _times(_scale((1, 0), int(r.p - r.q)), s[u])


# --- the tests --------------------------------------------------------------------------------


def identities(
    pairs: Sequence[tuple[sympy.Expr, sympy.Expr]],
    loss: sympy.Expr | None = None,
    derivatives: Sequence[tuple[sympy.Expr, sympy.Symbol]] = (),
    seed: int = 0,
) -> list[bool]:
    """Per pair ``(a, b)``, and per ``(a, s)`` in ``derivatives`` (``a = ∂loss/∂s``): True when
    the difference is identically 0 (wrong with probability below :data:`ERROR`), False when it
    is not 0 as a function of independent named functions (module docstring). Raises
    :class:`Unsupported` for what the evaluators do not compute."""
    degrees = Degrees()
    bounds = [sum(_add([degrees.of(a), degrees.of(b)])) for a, b in pairs]
    if derivatives:
        slope = degrees.of_derivative(loss)
        bounds += [sum(_add([degrees.of(a), slope])) for a, _ in derivatives]
    named = len(degrees.named_arguments)
    argument = max((_add([d, d])[0] for d in degrees.named_arguments), default=0)
    # m true square roots: the norm over their signs has 2**m times the degree, and a point
    # is kept only where every base is a square (chance 2**-m), so 4**m
    roots = 4 ** len(degrees.square_roots)
    chance = roots * (max(bounds, default=0) + named * named * argument) / P  # per point
    if chance >= 2.0**-20:
        raise Unsupported(f"degree {max(bounds)} too high to test modulo {P}")
    points = max(1, math.ceil(math.log(ERROR) / math.log(chance))) if chance > 0 else 1
    zero = [True] * (len(pairs) + len(derivatives))
    rng = random.Random(seed)
    done = 0
    # a point with a division by 0, or a base that is not a square, is drawn again
    for _ in range(points + 20 + min(4 * 2 ** len(degrees.square_roots), 2000)):
        if done == points:
            return zero
        try:
            at = Evaluator(Modular(rng), {})
            slopes = at.gradient(loss, [s for _, s in derivatives]) if derivatives else []
            got = [at.value(a) for a, _ in pairs] + [at.value(a) for a, _ in derivatives]
            want = [at.value(b) for _, b in pairs] + slopes
        except Singular:
            continue
        zero = [z and x == y for z, x, y in zip(zero, got, want)]
        done += 1
    raise Unsupported("no point without a division by 0 or a base that is not a square")


def real_values(
    point: Mapping[sympy.Symbol, sympy.Expr],
    expressions: Sequence[sympy.Expr],
    loss: sympy.Expr | None = None,
    wrt: Sequence[sympy.Symbol] = (),
) -> tuple[list[Any], list[Any]]:
    """The values of ``expressions`` and of ``∂loss/∂s`` for ``s`` in ``wrt`` at ``point``, in
    40-digit arithmetic. Raises :class:`Unsupported` (a division by 0 too)."""
    real = Real()
    at = Evaluator(real, {s: real.number(sympy.Float(v, DIGITS)) for s, v in point.items()})
    try:
        slopes = at.gradient(loss, wrt) if wrt else []
        return [at.value(e) for e in expressions], slopes
    except Singular as err:
        raise Unsupported("a division by 0 at the point") from err


__all__ = ["ERROR", "Degrees", "Evaluator", "P", "Unsupported", "identities", "real_values"]
