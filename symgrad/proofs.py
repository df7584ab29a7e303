"""Proofs that two expressions are equal: cheap algebra first, numbers always, ``simplify`` last.

SymPy's ``simplify`` is slow on large expressions (a tanh-GELU derivative takes minutes in
``trigsimp``) and silently wrong in corners, so it is neither the first nor the only judge:

1. the difference, with every named function written out (:func:`symgrad.functions.to_elementary`),
   is put in a form where equality is decidable by rational arithmetic: trigonometric and
   hyperbolic functions rewritten with ``exp``, every ``exp(k·u)`` named ``T_u**k`` (so
   ``exp(u)·exp(-u)`` cancels), every other function call named by a symbol of its own. If
   ``cancel`` then gives 0, the expressions are equal; this suffices for almost every derivative;
2. the difference is evaluated at random points in 40-digit arithmetic; a symbolic zero that the
   numbers contradict is a SymPy bug and raises :class:`~symgrad.errors.DerivationError`;
3. only when the numbers agree and the cheap algebra could not decide does ``simplify`` get a
   try, and only on an expression small enough for it (``MAX_SIMPLIFY_OPS`` operations).

>>> from sympy import Symbol, exp, tanh
>>> x, y = Symbol("x"), Symbol("y")
>>> s = 1 / (1 + exp(-x))
>>> prove_equal((y * (1 - y)).subs(y, s), s.diff(x))
True
>>> prove_equal(y * (1 + y), y * (1 - y))
False
>>> prove_equal(1 + tanh(x), 2 / (1 + exp(-2 * x)))
True
"""

from __future__ import annotations

import random
from typing import Any

import sympy

from symgrad.errors import DerivationError
from symgrad.functions import to_elementary
from symgrad.i18n import tr

MAX_SIMPLIFY_OPS = 120
"""The largest difference (``count_ops``) that ``simplify`` is asked about."""


def prove_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """True when ``a - b`` is provably 0 and numerically 0 at random points."""
    difference = to_elementary(a - b)
    if difference == 0:
        return True
    if is_zero_by_algebra(difference):
        # The guard against SymPy's algebra being wrong: a nonzero function of this kind is
        # 0 at three random 40-digit points with probability 0.
        if not numerically_zero(difference, points=GUARD_POINTS):
            raise DerivationError(
                tr("SymPy reduced {left} - ({right}) to 0, but it is not 0 numerically").format(
                    left=a, right=b
                )
            )
        return True
    if not numerically_zero(difference):
        return False
    return _simplifies_to_zero(difference)


def is_zero_by_algebra(e: sympy.Expr) -> bool:
    """Decide ``e == 0`` as a rational function of named exponentials and calls (a sufficient
    test: False means "not shown", not "not zero"). A clamp ``max(u, 0)`` or ``min(u, 0)`` of
    a symbol splits the question in two, ``u > 0`` and ``u <= 0``, where it is ``u`` or 0.

    >>> from sympy import Min, Piecewise, Symbol
    >>> x = Symbol("x")
    >>> is_zero_by_algebra(Min(x, 0) - Piecewise((0, x > 0), (x, True)))
    True
    """
    clamped = sorted(_clamped_symbols(e), key=sympy.default_sort_key)
    if clamped:
        u = clamped[0]
        positive, nonnegative = sympy.Dummy(positive=True), sympy.Dummy(nonnegative=True)
        return all(is_zero_by_algebra(e.xreplace({u: v})) for v in (positive, -nonnegative))
    if e.has(sympy.Piecewise):
        folded = sympy.piecewise_fold(e)
        if isinstance(folded, sympy.Piecewise):
            return all(is_zero_by_algebra(value) for value, _ in folded.args)
        e = folded
    try:
        rational = _as_rational(e)
        return sympy.cancel(sympy.together(rational)) == 0
    except Exception:  # SymPy failing on the algebra proves nothing
        return False


def _clamped_symbols(e: sympy.Expr) -> set[sympy.Symbol]:
    """The symbols ``u`` of every ``max(u, 0)`` and ``min(u, 0)`` in ``e``."""
    return {
        a
        for m in e.atoms(sympy.Max, sympy.Min)
        if len(m.args) == 2 and 0 in m.args
        for a in m.args
        if a.is_Symbol
    }


def _as_rational(e: sympy.Expr) -> sympy.Expr:
    e = e.rewrite(sympy.exp)
    e = sympy.expand(e, power_exp=True, mul=False, multinomial=False, basic=False, log=False)
    e = _name_exponentials(e)
    calls = sorted(
        (f for f in e.atoms(sympy.Function) if not isinstance(f, sympy.exp)),
        key=sympy.default_sort_key,
    )
    return e.xreplace({f: sympy.Dummy(f"f{i}") for i, f in enumerate(calls)})


def _name_exponentials(e: sympy.Expr) -> sympy.Expr:
    """Each ``exp(r·u)`` becomes ``T**k`` with one ``T`` per base ``u``, the base chosen so that
    every rational multiple ``r`` of it in ``e`` is an integer ``k`` (``exp(√2·a)`` and
    ``exp(√2·a/2)`` are ``T**2`` and ``T``)."""
    groups: list[tuple[sympy.Expr, list[tuple[sympy.Expr, sympy.Rational]]]] = []
    for f in sorted(e.atoms(sympy.exp), key=lambda f: sympy.count_ops(f.args[0])):
        arg = sympy.expand(f.args[0])
        for representative, members in groups:
            ratio = sympy.cancel(arg / representative)
            if ratio.is_Rational:
                members.append((f, ratio))
                break
        else:
            groups.append((arg, [(f, sympy.S.One)]))
    named: dict[sympy.Expr, sympy.Expr] = {}
    for _, members in groups:
        scale = sympy.ilcm(1, *(r.q for _, r in members))
        symbol = sympy.Dummy("T", positive=True)
        named |= {f: symbol ** int(r * scale) for f, r in members}
    return e.xreplace(named)


GUARD_POINTS = 3
"""Random points at which an algebraic 0 is confirmed numerically."""

DIGITS = 40
"""The working precision of every numerical comparison."""
AGREE = sympy.Float("1e-25")
"""Two values agree when they differ by at most this, relative to the larger of 1 and ``b``."""


def agree_at(a: sympy.Expr, b: sympy.Expr, point: dict) -> bool:
    """``a`` and ``b`` are equal numbers at ``point``, in 40-digit arithmetic."""
    x, y = sympy.N(a.xreplace(point), DIGITS), sympy.N(b.xreplace(point), DIGITS)
    return bool(x.is_number and y.is_number and close(complex(x), complex(y)))


def close(a: Any, b: Any) -> bool:
    """Two 40-digit numbers agree: they differ by at most :data:`AGREE` relative to the larger
    of 1 and ``|b|``."""
    return abs(a - b) <= AGREE * max(1, abs(b))


def numerically_zero(e: sympy.Expr, points: int = 6) -> bool:
    """``e`` is 0 to 25 digits at ``points`` random points in [-3, 3] (40-digit arithmetic)."""
    symbols = sorted(e.free_symbols, key=lambda s: s.name)
    rng = random.Random(1234)
    for _ in range(points):
        values = {s: sympy.Float(rng.uniform(-3, 3), 40) for s in symbols}
        try:
            value = sympy.N(e.xreplace(values), 40)  # evalf(subs=...) is far slower
        except (ZeroDivisionError, ValueError, TypeError):
            return False
        if not value.is_number or value.has(sympy.nan, sympy.zoo):
            return False
        if abs(complex(value)) > 1e-25:
            return False
    return True


def _simplifies_to_zero(e: sympy.Expr) -> bool:
    if sympy.count_ops(e) > MAX_SIMPLIFY_OPS:
        return False
    try:
        return sympy.simplify(e) == 0 or sympy.simplify(e.rewrite(sympy.exp)) == 0
    except Exception:  # SymPy failing to simplify proves nothing
        return False
