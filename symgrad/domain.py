"""Where a forward expression is defined, stated from its parts.

Each part that restricts its argument adds a condition: ``log(u)`` needs ``u > 0``, a
non-integer power ``u**p`` needs ``u >= 0`` (``u > 0`` when p < 0, or when the exponent is not a
number), a negative integer power (a division) needs ``u != 0``, ``tan(u)`` needs ``cos(u) != 0``.
Conditions that hold for every real input (``1 + exp(x) > 0``) are dropped. Outside the domain the
generated code computes ``nan`` or ``inf``, as NumPy does; the accuracy probes of
:mod:`symgrad.numerics` never look there.

>>> from sympy import Symbol, log, sqrt, exp
>>> x, y = Symbol("x", real=True), Symbol("y", real=True)
>>> statement(log(x) + sqrt(y))
'x > 0, y >= 0'
>>> statement(x / y), statement(log(1 + exp(x)))
('y != 0', '')
"""

from __future__ import annotations

import sympy


def restrictions(expr: sympy.Expr) -> list[sympy.Basic]:
    """The conditions on the inputs under which every part of ``expr`` is real and finite."""
    found: list[sympy.Basic] = []
    for e in sympy.preorder_traversal(expr):
        for condition in _conditions_of(e):
            if condition is not sympy.true and condition not in found:
                found.append(condition)
    return found


def _conditions_of(e: sympy.Basic) -> list[sympy.Basic]:
    if isinstance(e, sympy.log):
        return [_holds(e.args[0] > 0)]
    if isinstance(e, sympy.tan):
        return [_holds(sympy.Ne(sympy.cos(e.args[0]), 0))]
    if isinstance(e, sympy.Pow):
        base, power = e.args
        if not power.is_number:
            return [_holds(base > 0)]
        if power.is_integer:
            return [_holds(sympy.Ne(base, 0))] if power.is_negative else []
        return [_holds(base > 0 if power.is_negative else base >= 0)]
    return []


def _holds(condition: sympy.Basic) -> sympy.Basic:
    """``true`` when SymPy can tell the condition holds for all real inputs."""
    if condition in (sympy.true, sympy.false):
        return condition
    lhs, rhs = condition.lhs, condition.rhs
    difference = sympy.simplify(lhs - rhs)
    if isinstance(condition, sympy.StrictGreaterThan) and difference.is_positive:
        return sympy.true
    if isinstance(condition, sympy.GreaterThan) and difference.is_nonnegative:
        return sympy.true
    if isinstance(condition, sympy.Ne) and (difference.is_positive or difference.is_negative):
        return sympy.true
    return condition


def statement(expr: sympy.Expr) -> str:
    """The domain as text (``"x > 0, y != 0"``), or ``""`` when every real input is allowed."""
    return ", ".join(sorted(_text(c) for c in restrictions(expr)))


def _text(condition: sympy.Basic) -> str:
    if isinstance(condition, sympy.Ne):
        return f"{condition.lhs} != {condition.rhs}"
    return str(condition)
