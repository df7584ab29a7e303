"""Row-wise layers and losses (softmax, cross-entropy, MSE), derived for any number of classes.

Notation: each row of an (N, n) array is a vector ``x[0..n-1]``; ``i`` is the column whose
gradient is taken and sums run over ``j``/``k``. A row-wise map gives ``y[i]``; a loss gives the
loss of one row, and the layer's loss is the mean over the N rows, so ``dx = dout/N · ∂l/∂x[i]``.

The engine differentiates the indexed sums for a *symbolic* n (SymPy turns ∂x[k]/∂x[i] into
Kronecker deltas and sums them), keeps the branch for columns inside the row (i < n), and then

1. writes the result in terms of the saved softmax ``y[w] = f(x[w])/Σ_j f(x[j])`` wherever a
   normalising sum appears (the sum cancels: ``exp(x[i])/Σexp`` becomes ``y[i]``);
2. applies the declared constraints (each target row sums to 1) and the normalisation Σ y = 1;
3. checks the general-n result against plain elementwise differentiation of the concrete forward
   for n = 2, 3, 4, 5 (symbolically, and numerically in 40 digits).

SoftmaxWithLoss thereby reaches ``dx = dout·(y - t)/N`` from its definition, and Softmax's
vector–Jacobian product ``y ⊙ (dout - Σ_k dout_k y_k)``.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import sympy
from sympy import IndexedBase, Sum

from symgrad.errors import DerivationError
from symgrad.functions import canonical, name_known_functions, to_elementary
from symgrad.proofs import is_zero_by_algebra
from symgrad.result import Rendered
from symgrad.spec import N, RowSpec, i, k, n

CHECK_N = (2, 3, 4, 5)
Y = IndexedBase("y")
SOFTMAX = IndexedBase("_softmax")
DOUT = IndexedBase("dout")
DOUT_SCALAR = sympy.Symbol("dout")


@dataclass(frozen=True)
class RowGradient:
    wrt: IndexedBase
    steps: tuple[tuple[str, sympy.Expr], ...]
    local: sympy.Expr
    expr: sympy.Expr

    @property
    def name(self) -> str:
        return f"d{self.wrt.name}"


@dataclass(frozen=True, repr=False)
class RowDerivation(Rendered):
    spec: RowSpec
    stable_forward: sympy.Expr
    shift_invariant: bool
    gradients: tuple[RowGradient, ...]
    saved: dict[sympy.Symbol, sympy.Expr]
    checked_n: tuple[int, ...]

    @property
    def conventions(self) -> tuple[str, ...]:
        """Statements about points without a derivative: none for this kind of layer."""
        return ()


@functools.lru_cache(maxsize=64)
def derive_rows(spec: RowSpec) -> RowDerivation:
    x = spec.inputs[0]
    named = name_known_functions(spec.forward)
    stable = canonical(named)  # σ(-u) as 1 - σ(u): sums cancel in the derivative
    objective = _objective(spec, stable)
    raw = sympy.diff(objective, x[i]).doit()
    steps: list[tuple[str, sympy.Expr]] = [("differentiate the indexed sums", raw)]
    local = _inside_row(sympy.simplify(raw))
    steps.append(("columns inside the row (i < n)", local))
    local, saved = _in_terms_of_softmax(spec, local, x)
    if saved:
        name = next(iter(saved)).name
        steps.append((f"the softmax {name} written where its normalising sum appears", local))
    constrained = _apply_constraints(spec, local, saved)
    if constrained != local:
        steps.append(("each target row sums to 1", constrained))
    local = _tidy(constrained)
    for size in CHECK_N:
        _check_concrete(spec, stable, local, saved, size)
    expr = DOUT_SCALAR * local / N if spec.is_loss else local
    gradient = RowGradient(x, tuple(steps), local, expr)
    # The forward is printed as named, not canonical: (1 - t)·softplus(x) + t·softplus(-x) has
    # no cancellation, where softplus(x) - t·x loses every digit at x = 40, t = 1.
    return RowDerivation(
        spec, named, _shift_invariant(spec.forward, x), (gradient,), saved, CHECK_N
    )


def _objective(spec: RowSpec, forward: sympy.Expr) -> sympy.Expr:
    """The scalar whose gradient is wanted: the row loss, or ⟨dout, y⟩ for a map."""
    if spec.is_loss:
        return forward
    return Sum(DOUT[k] * forward.subs(i, k), (k, 0, n - 1))


def _inside_row(e: sympy.Expr) -> sympy.Expr:
    """Take the branch of a ``Piecewise`` whose condition says ``i`` is a column of the row."""
    if isinstance(e, sympy.Piecewise):
        for value, cond in e.args:
            if cond != sympy.true and _means_in_row(cond):
                return value
        raise DerivationError(f"unexpected branches in {e}")
    if e.is_Add or e.is_Mul:
        return e.func(*(_inside_row(a) for a in e.args))
    return e


def _means_in_row(cond: sympy.Basic) -> bool:
    return all(bool(cond.subs({i: v, n: size})) for size in (1, 3, 7) for v in range(size))


def _in_terms_of_softmax(
    spec: RowSpec, e: sympy.Expr, x: IndexedBase
) -> tuple[sympy.Expr, dict[sympy.Symbol, sympy.Expr]]:
    """Replace ``f(x[w])/Σ_j f(x[j])`` by a saved softmax when the normalising sum then cancels.

    The softmax is called ``y`` when it is the layer's output (Softmax) or the layer is a loss
    (the book's SoftmaxWithLoss keeps ``self.y``); otherwise it is ``p``, a value the forward
    computes besides its output (LogSoftmax's output is not the softmax)."""
    sums = [s for s in e.atoms(Sum) if s.has(x) and not s.has(DOUT)]
    for s in sums:
        (index, _, _), body = s.limits[0], s.function
        w = sympy.Wild("w")
        pattern = body.xreplace({index: w})
        total = sympy.Dummy("S")
        candidate = e.xreplace({s: total}).replace(pattern, SOFTMAX[w] * total)
        candidate = sympy.simplify(candidate)
        if not candidate.has(total) and not candidate.has(x):
            definition = body.xreplace({index: i}) / s
            name = "y" if spec.is_loss or _same_row_map(definition, spec.forward, x) else "p"
            named = IndexedBase(name)
            candidate = candidate.replace(
                lambda a: isinstance(a, sympy.Indexed) and a.base == SOFTMAX,
                lambda a, named=named: named[a.indices],
            )
            return candidate, {sympy.Symbol(name): definition}
    return e, {}


def _same_row_map(a: sympy.Expr, b: sympy.Expr, x: IndexedBase) -> bool:
    """Do two row maps agree (at n = 3, every column, random rows in 30 digits)?"""
    rng = random.Random(11)
    values = {x[c]: sympy.Float(rng.uniform(-2, 2), 30) for c in range(3)}
    for col in range(3):
        pa, pb = (_concrete(e.subs(i, col), 3).xreplace(values).evalf(30) for e in (a, b))
        if abs(complex(pa - pb)) > 1e-20:
            return False
    return True


def _apply_constraints(
    spec: RowSpec, e: sympy.Expr, saved: dict[sympy.Symbol, sympy.Expr]
) -> sympy.Expr:
    """Use the declared facts (Σ_k t[k] = 1) and the softmax normalisation (Σ_k y[k] = 1)."""
    facts = list(spec.constraints)
    for name in saved:
        facts.append((Sum(IndexedBase(name.name)[k], (k, 0, n - 1)), sympy.S.One))
    for total, value in facts:
        e = e.replace(
            functools.partial(_is_sum_like, total=total), functools.partial(_const, value)
        )
    return e


def _is_sum_like(s: sympy.Basic, total: Sum) -> bool:
    return isinstance(s, Sum) and _same_sum(s, total)


def _const(value: sympy.Expr, _: sympy.Basic) -> sympy.Expr:
    return value


def _same_sum(s: Sum, total: Sum) -> bool:
    (a, lo, hi), (b, lo2, hi2) = s.limits[0], total.limits[0]
    return (lo, hi) == (lo2, hi2) and s.function.xreplace({a: b}) == total.function


def _tidy(e: sympy.Expr) -> sympy.Expr:
    """Prefer the factored form when it is no larger (``y[i]*(dout[i] - Σ ...)``)."""
    forms = [sympy.expand(e), sympy.factor_terms(e), e]
    return min(forms, key=lambda f: (sympy.count_ops(f), str(f)))


def _shift_invariant(forward: sympy.Expr, x: IndexedBase) -> bool:
    """Is the forward unchanged when a constant is added to every entry of a row (softmax)?

    Proven symbolically: shift every ``x[.]`` by ``c``, pull ``exp(c)`` out of the sums and
    ``c`` out of the logarithms, and simplify the difference to 0.
    """
    if not forward.has(sympy.exp) or not _numerically_shift_invariant(forward, x):
        return False
    c = sympy.Symbol("c", real=True)
    shifted = forward.replace(
        lambda e: isinstance(e, sympy.Indexed) and e.base == x, lambda e: e + c
    )
    shifted = sympy.expand(shifted, power_exp=True, mul=False, multinomial=False)
    shifted = shifted.replace(lambda e: isinstance(e, Sum), lambda e: sympy.simplify(e))
    difference = sympy.expand_log(shifted - forward, force=True)
    difference = difference.replace(lambda e: isinstance(e, Sum), lambda e: e.expand())
    difference = difference.replace(lambda e: isinstance(e, Sum), lambda e: sympy.simplify(e))
    return sympy.simplify(sympy.expand(difference)) == 0


def _numerically_shift_invariant(forward: sympy.Expr, x: IndexedBase) -> bool:
    """A quick refutation before the proof: compare the forward at n = 3 before and after a
    shift, at random points in 30-digit arithmetic."""
    concrete = _concrete(forward.subs(i, 1), 3)
    rng = random.Random(7)
    values = {a: sympy.Float(rng.uniform(-2, 2), 30) for a in concrete.atoms(sympy.Indexed)}
    shifted = {a: v + (sympy.Float(0.75, 30) if a.base == x else 0) for a, v in values.items()}
    difference = concrete.xreplace(shifted).evalf(30) - concrete.xreplace(values).evalf(30)
    return abs(complex(difference)) < 1e-20


def _concrete(e: sympy.Expr, size: int) -> sympy.Expr:
    return e.subs(n, size).doit()


def _check_concrete(
    spec: RowSpec,
    stable: sympy.Expr,
    local: sympy.Expr,
    saved: dict[sympy.Symbol, sympy.Expr],
    size: int,
) -> None:
    """The general formula against elementwise differentiation of the forward at n = size."""
    x = spec.inputs[0]
    objective = _concrete(_objective(spec, spec.forward), size)
    target_facts = _target_facts(spec, size)
    rng = random.Random(size)
    for col in range(size):
        want = sympy.diff(objective, x[col]).xreplace(target_facts)
        got = _concrete(local.subs(i, col), size)
        if saved:
            got = _softmax_written_out(got, saved, size)
        got = got.xreplace(target_facts)
        difference = to_elementary(got - want)
        values = {s: sympy.Float(rng.uniform(-2, 2), 40) for s in difference.free_symbols}
        values.update(
            {s: sympy.Float(rng.uniform(-2, 2), 40) for s in difference.atoms(sympy.Indexed)}
        )
        numeric = difference.xreplace(values).evalf(40)
        if abs(complex(numeric)) > 1e-25 or not _is_zero(difference):
            raise DerivationError(
                f"{spec.name}: the general formula disagrees with elementwise differentiation "
                f"at n = {size}, column {col}"
            )


def instantiate(d: RowDerivation, expr: sympy.Expr, size: int, col: int) -> sympy.Expr:
    """``expr`` (a gradient in ``y``, ``t``, ``dout`` and ``x``) at n = size for column ``col``,
    with the softmax ``y`` written out and the last target eliminated by the constraints; for
    comparing two general formulas at concrete sizes."""
    e = _concrete(expr.subs(i, col), size)
    if d.saved:
        e = _softmax_written_out(e, d.saved, size)
    return e.xreplace(_target_facts(d.spec, size))


def _softmax_written_out(
    e: sympy.Expr, saved: dict[sympy.Symbol, sympy.Expr], size: int
) -> sympy.Expr:
    """Replace each entry of the saved softmax (``y[c]`` or ``p[c]``) by its definition."""
    ((name, definition),) = saved.items()
    ys = [a for a in e.atoms(sympy.Indexed) if a.base.name == name.name]
    return e.xreplace({a: _concrete(definition.subs(i, a.indices[0]), size) for a in ys})


def _is_zero(e: sympy.Expr) -> bool:
    """Decide ``e == 0``: by rational algebra in named exponentials
    (:func:`symgrad.proofs.is_zero_by_algebra`), else ``simplify``."""
    return is_zero_by_algebra(e) or sympy.simplify(e) == 0


def _target_facts(spec: RowSpec, size: int) -> dict[sympy.Expr, sympy.Expr]:
    """For n concrete: the last target entry is 1 minus the others when targets sum to 1."""
    if not spec.constraints:
        return {}
    t = spec.targets[0]
    return {t[size - 1]: 1 - sum(t[c] for c in range(size - 1))}
