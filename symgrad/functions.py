"""Named functions of the engine's vocabulary, one table entry each: σ, softplus, erf, ...

Everything symgrad knows about a named function lives in its :class:`Named` entry of
:data:`TABLE`: the SymPy class (with its derivative), how NumPy code computes it stably, how LaTeX
shows it, the module-level helper code it needs, what a call costs, the short name of its saved
value, and its elementary form (``exp``/``log``/``erf``), in which every use is proven equal and
evaluated by the mpmath oracle. The printers install the entries' printing rules from here.

- ``logistic(u) = 1/(1 + exp(-u))`` (σ) and ``softplus(u) = log(1 + exp(u))`` name the two
  compositions that appear in many layers; their NumPy forms stay finite at u = ±1000.
- ``expm1``, ``log1p`` and ``logaddexp`` are the accurate library functions of NumPy: the
  candidate forms of a derivative include them (:func:`library_forms`), so that Softplus's
  backward from its output ``y`` is ``-expm1(-y)``, exact where ``1 - exp(-y)`` loses every digit.
- ``erf`` and ``erfc``: NumPy has neither; generated code carries the few-ulp NumPy
  implementations of :mod:`symgrad.special`.

>>> from sympy import Symbol, exp, diff
>>> u = Symbol("u")
>>> diff(logistic(u), u)
(1 - logistic(u))*logistic(u)
>>> logistic(u).rewrite(exp)
1/(1 + exp(-u))
>>> logistic(-u)  # kept as written: 1 - σ(u) would round to 0 where σ(-u) is 1e-18
logistic(-u)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy
from sympy import Function, exp, log
from sympy.codegen.cfunctions import expm1, log1p


class logistic(Function):
    """The logistic sigmoid σ(u) = 1/(1 + exp(-u))."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return self * (1 - self)

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return (1 / (1 + exp(-self.args[0])))._eval_evalf(prec)

    def _eval_rewrite_as_exp(self, u: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return 1 / (1 + exp(-u))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_real


class softplus(Function):
    """softplus(u) = log(1 + exp(u))."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return logistic(self.args[0])

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return log(1 + exp(self.args[0]))._eval_evalf(prec)

    def _eval_rewrite_as_exp(self, u: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return log(1 + exp(u))

    def _eval_rewrite_as_log(self, u: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return log(1 + exp(u))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class logaddexp(Function):
    """logaddexp(a, b) = log(exp(a) + exp(b)), finite for any real a, b."""

    nargs = 2

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        a, b = self.args
        return logistic(a - b) if argindex == 1 else logistic(b - a)

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        a, b = self.args
        return log(exp(a) + exp(b))._eval_evalf(prec)

    def _eval_rewrite_as_exp(self, a: sympy.Expr, b: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return log(exp(a) + exp(b))

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real and self.args[1].is_real


class erfc(sympy.erfc):
    """erfc kept as written: SymPy turns ``erfc(-u)`` into ``2 - erfc(u)``, which cancels to 0 in
    float64 where erfc(-u) is about 2e-87 (u = 14)."""

    @classmethod
    def eval(cls, arg: sympy.Expr) -> sympy.Expr | None:
        return super().eval(arg) if arg.is_Number else None


# --- the table --------------------------------------------------------------------------------


Print = Callable[[Any, sympy.Expr], str]


@dataclass(frozen=True)
class Named:
    """What symgrad knows about one named function."""

    function: type
    short: str
    latex: Print
    elementary: Callable[..., sympy.Expr]
    numpy: Print | None = None
    call: str = ""
    cost: int = 10  # passes over memory, in symgrad.ufunc_costs' unit
    helpers: str = ""

    def numpy_code(self, printer: Any, e: sympy.Expr) -> str:
        """The NumPy code of a call: its own rule, or ``call(args)``."""
        if self.numpy is not None:
            return self.numpy(printer, e)
        return f"{self.call}({', '.join(printer._print(a) for a in e.args)})"


def _numpy_logistic(p: Any, e: sympy.Expr) -> str:
    return f"(1 / (1 + np.exp({p._print(-e.args[0])})))"


def _numpy_softplus(p: Any, e: sympy.Expr) -> str:
    u = p._print(e.args[0])
    return f"(np.maximum({u}, 0) + np.log1p(np.exp(-np.abs({u}))))"


def _latex_call(name: str) -> Print:
    def show(p: Any, e: sympy.Expr) -> str:
        args = ", ".join(p._print(a) for a in e.args)
        return rf"{name}\left({args}\right)"

    return show


TABLE: dict[type, Named] = {
    entry.function: entry
    for entry in (
        Named(
            logistic,
            "sig",
            _latex_call(r"\sigma"),
            lambda u: 1 / (1 + exp(-u)),
            numpy=_numpy_logistic,
        ),
        Named(
            softplus,
            "sp",
            _latex_call(r"\operatorname{softplus}"),
            lambda u: log(1 + exp(u)),
            numpy=_numpy_softplus,
        ),
        Named(
            logaddexp,
            "lse",
            _latex_call(r"\operatorname{logaddexp}"),
            lambda a, b: log(exp(a) + exp(b)),
            call="np.logaddexp",
            cost=100,  # passes (symgrad.ufunc_costs), measured by benchmarks/bench_ufuncs.py
        ),
        Named(
            expm1,
            "em1",
            _latex_call(r"\operatorname{expm1}"),
            lambda u: exp(u) - 1,
            call="np.expm1",
            cost=3,  # passes (symgrad.ufunc_costs), measured by benchmarks/bench_ufuncs.py
        ),
        Named(
            log1p,
            "l1p",
            _latex_call(r"\operatorname{log1p}"),
            lambda u: log(1 + u),
            call="np.log1p",
            cost=3,
        ),
        Named(
            sympy.erf,
            "ef",
            _latex_call(r"\operatorname{erf}"),
            sympy.erf,
            call="erf",
            cost=300,  # the generated helper: ~300 multiplies' time (bench_ufuncs.py)
            helpers="special",
        ),
        Named(
            erfc,
            "efc",
            _latex_call(r"\operatorname{erfc}"),
            lambda u: 1 - sympy.erf(u),
            call="erfc",
            cost=300,
            helpers="special",
        ),
    )
}

CALL_COSTS = {f.call: f.cost for f in TABLE.values() if f.call}
"""What one call of a named function costs, by the name generated code calls it with."""

SHORT_NAMES = {"tanh": "th", "exp": "ex", **{f.function.__name__: f.short for f in TABLE.values()}}
"""The name a saved value of each function gets in generated code (``sig = σ(x)``)."""


def to_elementary(expr: sympy.Basic) -> sympy.Basic:
    """Every named function written out in ``exp``/``log``/``erf`` (for proofs and oracles)."""
    named = tuple(f for f in TABLE if TABLE[f].elementary is not f)
    return expr.replace(
        lambda e: isinstance(e, named), lambda e: TABLE[type(e)].elementary(*e.args)
    )


def helpers_of(expr: sympy.Basic) -> set[str]:
    """The helper modules (``"special"``) that the NumPy code of ``expr`` needs."""
    return {TABLE[type(e)].helpers for e in expr.atoms(sympy.Function) if type(e) in TABLE} - {""}


# --- naming compositions, and the accurate library forms --------------------------------------


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
    -softplus(-x)
    """

    def visit(e: sympy.Basic) -> sympy.Basic:
        if not e.args:
            return e
        e = e.func(*(visit(a) for a in e.args))
        if not e.free_symbols:  # a number stays a number (max(sigmoid(3), x) compares it)
            return e
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


def canonical(expr: sympy.Expr) -> sympy.Expr:
    """``σ(-u)`` as ``1 - σ(u)`` and ``softplus(-u)`` as ``softplus(u) - u``, so that sums of
    such terms cancel under simplification (the forms are exact; which one is accurate in float64
    is the numerics' question, not this one's).

    >>> from sympy import Symbol
    >>> u = Symbol("u")
    >>> canonical(logistic(-u) + logistic(u)), canonical(softplus(-u) - softplus(u))
    (1, -u)
    """

    def rewrite(e: sympy.Expr) -> sympy.Expr:
        (u,) = e.args
        if not u.could_extract_minus_sign():
            return e
        return 1 - logistic(-u) if isinstance(e, logistic) else softplus(-u) + u

    return expr.replace(lambda e: isinstance(e, (logistic, softplus)), rewrite)


def softplus_tails_merged(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with each ``softplus(u)`` written as ``max(u, 0) + log1p(exp(-|u|))`` and the
    ``log1p`` tails of equal ``|u|`` collected: binary cross-entropy
    ``(1 - t)·softplus(x) + t·softplus(-x)`` becomes
    ``(1 - t)·max(x, 0) + t·max(-x, 0) + log1p(exp(-|x|))``, one exp where it had two, and still a
    sum of terms that are never negative (no cancellation).

    >>> from sympy import Symbol
    >>> x, t = Symbol("x"), Symbol("t")
    >>> softplus_tails_merged((1 - t) * softplus(x) + t * softplus(-x))
    t*Max(0, -x) + (1 - t)*Max(0, x) + log1p(exp(-Abs(x)))
    """
    calls = sorted(expr.atoms(softplus), key=sympy.default_sort_key)
    if not calls:
        return expr
    tails: dict[sympy.Expr, sympy.Dummy] = {}
    for call in calls:
        tails.setdefault(sympy.Abs(call.args[0]), sympy.Dummy("tail"))
    written = expr.xreplace(
        {c: sympy.Max(c.args[0], 0) + tails[sympy.Abs(c.args[0])] for c in calls}
    )
    for magnitude, tail in tails.items():
        weight = sympy.cancel(sympy.expand(sympy.diff(written, tail)))
        written = written.subs(tail, 0) + weight * log1p(exp(-magnitude))
    return written


def _one_plus_exp_arg(e: sympy.Basic) -> sympy.Expr | None:
    """Return u when ``e`` is ``1 + exp(u)``, else None."""
    if isinstance(e, sympy.Add) and len(e.args) == 2 and sympy.S.One in e.args:
        (other,) = (a for a in e.args if a != sympy.S.One)
        if isinstance(other, exp):
            return other.args[0]
    return None


def library_forms(expr: sympy.Expr) -> list[sympy.Expr]:
    """``expr`` rewritten with the accurate library functions, each rewrite exact (callers
    still prove every form equal): ``exp(u) - 1`` as ``expm1(u)``, ``log(1 + u)`` as
    ``log1p(u)``, ``1 - σ(u)`` as ``σ(-u)``, ``log(exp(a) + exp(b))`` as ``logaddexp(a, b)``,
    ``1 + tanh(u)`` as ``2σ(2u)``, ``1 ± erf(u)`` as ``erfc(∓u)``.

    >>> from sympy import Symbol, exp, log
    >>> y = Symbol("y")
    >>> library_forms(1 - exp(-y))
    [-expm1(-y)]
    >>> library_forms(log(1 + y**2))
    [log1p(y**2)]
    """
    rules = (_expm1, _log1p, _sigma_of_minus, _logaddexp, _tanh_as_sigma, _erfc)
    forms = []
    for rule in rules:
        rewritten = expr.replace(lambda e, r=rule: r(e) is not None, lambda e, r=rule: r(e))
        if rewritten != expr:
            forms.append(rewritten)
    if len(forms) > 1:  # every rule together as well
        combined = expr
        for rule in rules:
            combined = combined.replace(lambda e, r=rule: r(e) is not None, lambda e, r=rule: r(e))
        forms.append(combined)
    return list(dict.fromkeys(forms))


def _pairs_with_one(e: sympy.Basic, kind: type) -> tuple[sympy.Expr, int, sympy.Expr] | None:
    """For a sum holding ``±1`` and ``c·kind(u)`` with c = ∓1: (the rest, sign, the call)."""
    if not isinstance(e, sympy.Add):
        return None
    ones = [a for a in e.args if a in (sympy.S.One, sympy.S.NegativeOne)]
    for term in e.args:
        coeff, call = term.as_coeff_Mul()
        if isinstance(call, kind) and ones and coeff == -ones[0]:
            rest = sympy.Add(*[a for a in e.args if a is not term and a is not ones[0]])
            return rest, int(coeff), call
    return None


def _expm1(e: sympy.Basic) -> sympy.Expr | None:
    found = _pairs_with_one(e, exp)
    if found is None:
        return None
    rest, sign, call = found
    return rest + sign * expm1(call.args[0])


def _erfc(e: sympy.Basic) -> sympy.Expr | None:
    """``1 - erf(u)`` is ``erfc(u)``, ``1 + erf(u)`` is ``erfc(-u)``: accurate in the tails."""
    if not isinstance(e, sympy.Add) or sympy.S.One not in e.args:
        return None
    for term in e.args:
        coeff, call = term.as_coeff_Mul()
        if isinstance(call, sympy.erf) and coeff in (sympy.S.One, sympy.S.NegativeOne):
            rest = sympy.Add(*[a for a in e.args if a is not term and a != sympy.S.One])
            return rest + erfc(-coeff * call.args[0])
    return None


def _sigma_of_minus(e: sympy.Basic) -> sympy.Expr | None:
    found = _pairs_with_one(e, logistic)
    if found is None or found[1] != -1:
        return None
    rest, _, call = found
    return rest + logistic(-call.args[0])


def _tanh_as_sigma(e: sympy.Basic) -> sympy.Expr | None:
    if not isinstance(e, sympy.Add) or sympy.S.One not in e.args:
        return None
    calls = [a for a in e.args if isinstance(a, sympy.tanh)]
    if not calls:
        return None
    rest = sympy.Add(*[a for a in e.args if a is not calls[0] and a != sympy.S.One])
    return rest + 2 * logistic(2 * calls[0].args[0])


def _log1p(e: sympy.Basic) -> sympy.Expr | None:
    if not isinstance(e, sympy.log):
        return None
    inner = e.args[0]
    if isinstance(inner, sympy.Add) and sympy.S.One in inner.args:
        rest = inner - 1
        if not isinstance(rest, exp):  # log(1 + exp(u)) is softplus
            return log1p(rest)
    return None


def _logaddexp(e: sympy.Basic) -> sympy.Expr | None:
    if not isinstance(e, sympy.log):
        return None
    inner = e.args[0]
    pair = isinstance(inner, sympy.Add) and len(inner.args) == 2
    if pair and all(isinstance(a, exp) for a in inner.args):
        a, b = (t.args[0] for t in inner.args)
        return logaddexp(a, b)
    return None
