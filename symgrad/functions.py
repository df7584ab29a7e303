"""Named functions of the engine's vocabulary: the logistic sigmoid and softplus.

``1/(1 + exp(-u))`` and ``log(1 + exp(u))`` appear in many layers. Giving them names lets the
engine differentiate them into short, stable forms (``logistic(u)*(1 - logistic(u))`` instead of
``exp(-u)/(1 + exp(-u))**2``, which is ``inf/inf`` at u = -1000) and lets the printers choose a
stable evaluation. Both rewrite to ``exp``/``log`` so every use can be proven equal to the plain
form.

>>> from sympy import Symbol, exp, diff
>>> u = Symbol("u")
>>> diff(logistic(u), u)
(1 - logistic(u))*logistic(u)
>>> logistic(u).rewrite(exp)
1/(1 + exp(-u))
"""

from __future__ import annotations

import sympy
from sympy import Function, exp, log


class logistic(Function):
    """The logistic sigmoid σ(u) = 1/(1 + exp(-u))."""

    nargs = 1

    @classmethod
    def eval(cls, u: sympy.Expr) -> sympy.Expr | None:
        # Canonical form σ(-u) = 1 - σ(u), so that sums of σ terms cancel.
        if u.could_extract_minus_sign():
            return 1 - cls(-u)
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, u: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return 1 / (1 + exp(-u))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_real


class softplus(Function):
    """softplus(u) = log(1 + exp(u))."""

    nargs = 1

    @classmethod
    def eval(cls, u: sympy.Expr) -> sympy.Expr | None:
        # Canonical form softplus(-u) = softplus(u) - u.
        if u.could_extract_minus_sign():
            return cls(-u) + u
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return logistic(self.args[0])

    def _eval_rewrite_as_exp(self, u: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return log(1 + exp(u))

    def _eval_rewrite_as_log(self, u: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return log(1 + exp(u))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


def name_known_functions(expr: sympy.Expr) -> sympy.Expr:
    """Replace ``1/(1 + exp(-u))`` by ``logistic(u)`` and ``log(1 + exp(u))`` by ``softplus(u)``.

    The replacement is literal pattern matching on SymPy's canonical tree, so it is exact; callers
    still prove the result equal.

    >>> from sympy import Symbol, exp, log, tanh
    >>> x = Symbol("x")
    >>> name_known_functions(x * tanh(log(1 + exp(x))))
    x*tanh(softplus(x))
    >>> name_known_functions(x / (1 + exp(-x)))
    x*logistic(x)
    >>> name_known_functions(log(1 - 1 / (1 + exp(-x))))
    -softplus(x)
    >>> name_known_functions(log(1 / (1 + exp(-x))))
    x - softplus(x)
    """

    def visit(e: sympy.Basic) -> sympy.Basic:
        if not e.args:
            return e
        e = e.func(*(visit(a) for a in e.args))
        if isinstance(e, sympy.Pow) and e.exp == -1:
            u = _one_plus_exp_arg(e.base)
            if u is not None:
                return logistic(-u)
        if isinstance(e, sympy.log):
            u = _one_plus_exp_arg(e.args[0])
            if u is not None:
                return softplus(u)
            inner = e.args[0]
            if isinstance(inner, logistic):  # log σ(u) = -softplus(-u)
                return -softplus(-inner.args[0])
            if inner.is_Add and (1 - inner).func is logistic:  # log(1 - σ(u)) = -softplus(u)
                return -softplus((1 - inner).args[0])
        return e

    return visit(expr)


def _one_plus_exp_arg(e: sympy.Basic) -> sympy.Expr | None:
    """Return u when ``e`` is ``1 + exp(u)``, else None."""
    if isinstance(e, sympy.Add) and len(e.args) == 2 and sympy.S.One in e.args:
        (other,) = (a for a in e.args if a != sympy.S.One)
        if isinstance(other, exp):
            return other.args[0]
    return None
