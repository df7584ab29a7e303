"""Inverting a forward step by step: ``v`` from ``y = f(v)`` where ``v`` occurs once in ``f``.

Used for candidate forms in the output alone (sigmoid's ``y(1 - y)``) and for rewriting a
backward in the values a forward saves (BatchNorm's ``xc = xhat·std``). No ``sympy.solve``, whose
cost nobody can bound: each step is inverted only where it is one-to-one on its whole range.
"""

from __future__ import annotations

import sympy

from symgrad.functions import logistic, softplus


def invert_chain(f: sympy.Expr, v: sympy.Symbol, y: sympy.Symbol) -> sympy.Expr | None:
    """``v`` as a function of ``y`` where ``y = f(v)`` and ``v`` occurs once in ``f``, or None
    when a step is not one-to-one.

    >>> from sympy import Symbol, exp, tanh
    >>> x, y = Symbol("x", real=True), Symbol("y", real=True)
    >>> invert_chain(1 / (1 + exp(-x)), x, y)
    -log(-1 + 1/y)
    >>> invert_chain(tanh(x) ** 3, x, y)
    atanh(Abs(y)**(1/3)*sign(y))
    >>> invert_chain(x**2, x, y) is None
    True
    """
    target: sympy.Expr = y
    while f != v:
        step = invert_step(f, v, target)
        if step is None:
            return None
        f, target = step
    return target


def invert_step(
    f: sympy.Expr, v: sympy.Symbol, y: sympy.Expr
) -> tuple[sympy.Expr, sympy.Expr] | None:
    """One step of :func:`invert_chain`: ``(inner, value)`` with ``inner = value``."""
    if isinstance(f, (sympy.Add, sympy.Mul)):
        inner = [a for a in f.args if a.has(v)]
        if len(inner) != 1:
            return None
        rest = f.func(*[a for a in f.args if not a.has(v)])
        return inner[0], (y - rest if isinstance(f, sympy.Add) else y / rest)
    if isinstance(f, sympy.Pow):
        base, power = f.args
        if not power.has(v):
            return _invert_power(base, power, y)
        return (power, sympy.log(y) / sympy.log(base)) if base.is_positive else None
    inverse = _INVERSES.get(type(f))
    if inverse is None or len(f.args) != 1:
        return None
    return f.args[0], inverse(y)


def _invert_power(
    base: sympy.Expr, power: sympy.Expr, y: sympy.Expr
) -> tuple[sympy.Expr, sympy.Expr] | None:
    if not power.is_Rational:
        return None
    if power.is_Integer and int(power) % 2 == 0:
        return None  # x**2 is two-to-one
    if power.is_Integer and int(power) % 2 == 1 and power > 0:
        return base, sympy.real_root(y, int(power))
    return base, y ** (1 / power)


_INVERSES = {
    sympy.exp: sympy.log,
    sympy.log: sympy.exp,
    sympy.tanh: sympy.atanh,
    sympy.sinh: sympy.asinh,
    sympy.atan: sympy.tan,
    logistic: lambda y: sympy.log(y / (1 - y)),
    softplus: lambda y: sympy.log(sympy.exp(y) - 1),
}
