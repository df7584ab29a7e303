"""Identity testing by evaluation (symgrad.identity), against SymPy's own ``diff`` and ``N``.

The oracles are independent of the module: SymPy's symbolic derivative, its 40-digit ``N``
and ``expand``. The expressions are drawn from a grammar of sums, products, integer and
rational powers, exponentials and logarithms; the engine test checks that a layer's check
really runs through the evaluation, and that a wrong gradient fails it.
"""

from __future__ import annotations

import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgrad
from symgrad import engine
from symgrad.identity import Degrees, Unsupported, identities, real_values

X, Y, Z = sympy.symbols("x y z", real=True)
SYMBOLS = (X, Y, Z)


def _positive(u: sympy.Expr) -> sympy.Expr:
    return 1 + u**2


@st.composite
def _trees(draw: st.DrawFn, depth: int = 3) -> sympy.Expr:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        leaf = draw(st.sampled_from([*SYMBOLS, sympy.Rational(3, 2), sympy.Integer(-2)]))
        return leaf
    kind = draw(st.sampled_from(["add", "mul", "pow", "root", "exp", "log", "div"]))
    a = draw(_trees(depth - 1))
    if kind in ("add", "mul", "div"):
        b = draw(_trees(depth - 1))
        if kind == "add":
            return a + b
        return a * b if kind == "mul" else a / _positive(b)
    if kind == "pow":
        return a ** draw(st.integers(2, 3))
    if kind == "root":
        return _positive(a) ** sympy.Rational(draw(st.sampled_from([1, -1, 3, -3])), 2)
    if kind == "exp":
        return sympy.exp(a / 4)
    return sympy.log(_positive(a))


def _evaluable(e: sympy.Expr) -> bool:
    """SymPy writes some draws with a power that is not a number (``exp(c·log u) = u**c``),
    which the evaluators do not compute: those draws are rejected, not passed."""
    try:
        identities([(e, e)])
    except Unsupported:
        return False
    return True


_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(_trees())
def test_sympys_derivatives_are_identities(loss: sympy.Expr) -> None:
    assume(_evaluable(loss))
    derivatives = [(sympy.diff(loss, s), s) for s in SYMBOLS]
    assert identities([], loss=loss, derivatives=derivatives) == [True] * 3


@_settings
@given(_trees(), st.sampled_from(SYMBOLS), st.integers(1, 5))
def test_a_derivative_off_by_a_term_is_not(loss: sympy.Expr, s: sympy.Symbol, k: int) -> None:
    assume(_evaluable(loss))
    wrong = sympy.diff(loss, s) + sympy.Rational(1, 10**k) * X * Y
    assert identities([], loss=loss, derivatives=[(wrong, s)]) == [False]


@_settings
@given(_trees())
def test_an_expansion_is_the_same_function_and_a_perturbed_one_is_not(e: sympy.Expr) -> None:
    assume(_evaluable(e))
    expanded = sympy.expand_mul(e)  # products of sums multiplied out, no power split
    # exp(u)·exp(u) becomes exp(2u): a new name, related to exp(u) (the documented limit)
    assume(expanded.atoms(sympy.exp) <= e.atoms(sympy.exp))
    assert identities([(e, expanded), (e, expanded + sympy.Rational(1, 10**30) * Z)]) == [
        True,
        False,
    ]


@_settings
@given(_trees())
def test_real_gradients_are_sympys_in_40_digits(loss: sympy.Expr) -> None:
    assume(_evaluable(loss))
    point = {X: sympy.Float("0.37", 40), Y: sympy.Float("-1.21", 40), Z: sympy.Float("0.83", 40)}
    values, slopes = real_values(point, [loss], loss, list(SYMBOLS))
    assert abs(values[0] - sympy.N(loss.xreplace(point), 40)) <= 1e-30 * max(1, abs(values[0]))
    for s, slope in zip(SYMBOLS, slopes):
        want = sympy.N(sympy.diff(loss, s).xreplace(point), 40)
        assert abs(slope - want) <= 1e-30 * max(1, abs(want)), s


def test_related_names_are_kept_apart_and_so_not_shown_equal() -> None:
    # exp(x + y) = exp(x)·exp(y), but as named functions they are unrelated: False, which the
    # engine answers by SymPy's algebra
    assert identities([(sympy.exp(X + Y), sympy.exp(X) * sympy.exp(Y))]) == [False]
    u = 1 + X**2  # a square root is a true one: R² = u
    written = sympy.Mul(sympy.sqrt(u), 1 / u, evaluate=False)  # SymPy would write u**(-1/2)
    assert identities([(1 / sympy.sqrt(u), written)]) == [True]
    cube = sympy.Mul(sympy.cbrt(u) ** 2, 1 / u, evaluate=False)  # other roots are names
    assert identities([(u ** sympy.Rational(-1, 3), cube)]) == [False]
    # a power and a root of one base are the same name
    root = sympy.sqrt(1 + X**2)
    assert identities([(1 / root, root / (1 + X**2)), (X / root, X * root**-1)]) == [True, True]
    assert identities([(1 / sympy.sqrt(2), sympy.sqrt(2) / 2)]) == [True]
    assert identities([(sympy.exp(-X) * (1 + sympy.exp(X)), 1 + sympy.exp(-X))]) == [True]


def test_what_it_cannot_evaluate_is_unsupported_not_false() -> None:
    for e in (sympy.Max(X, Y), sympy.erf(X), sympy.Piecewise((X, X > 0), (0, True)), X**Y):
        try:
            identities([(e, e)])
        except Unsupported:
            continue
        raise AssertionError(f"{e} was evaluated")


def test_degree_bounds_cover_the_true_degrees() -> None:
    e = (X**3 + Y) / (1 + X * Y) ** 2
    assert Degrees().of(e) == (3, 4)
    numerator, denominator = sympy.fraction(sympy.cancel(sympy.diff(e, X)))
    bound = Degrees().of_derivative(e)
    assert sympy.Poly(numerator, X, Y).total_degree() <= bound[0]
    assert sympy.Poly(denominator, X, Y).total_degree() <= bound[1]


def test_a_layer_is_proven_by_evaluation_at_both_sizes() -> None:
    d = symgrad.derive("Attention")
    assert len(d.how_checked) == 2
    assert all(h.startswith("proven by identity test") for h in d.how_checked), d.how_checked
    text = d.text()
    assert "identity test mod 2⁶¹−1" in text and "causal=1" in text


def test_a_wrong_gradient_fails_the_check_by_evaluation(monkeypatch) -> None:
    import pytest

    from symgrad.compact import Compact
    from symgrad.errors import DerivationError

    calls = []

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    def wrong(*args, **kwargs):  # a compaction that flips the sign of one term
        result = original(*args, **kwargs)
        e = result.expr
        if isinstance(e, sympy.Add):
            e = e.func(-e.args[0], *e.args[1:])
        else:
            e = e * sympy.Rational(101, 100)
        return Compact(e, result.facts, result.rewrites)

    real, original = engine.identities, engine.compact
    monkeypatch.setattr(engine, "identities", spy)
    monkeypatch.setattr(engine, "compact", wrong)
    for name in ("Attention", "LayerNorm", "Softmax"):
        engine._derive.cache_clear()
        with pytest.raises(DerivationError, match="disagrees with plain differentiation"):
            symgrad.derive(name)
    engine._derive.cache_clear()
    assert calls  # the check by evaluation ran


def test_what_the_identity_test_misses_sympys_algebra_proves(monkeypatch) -> None:
    # the modular test answering "not shown" everywhere: the first size falls back to proofs
    def unshown(pairs, loss=None, derivatives=(), seed=0):
        return [False] * (len(pairs) + len(derivatives))

    monkeypatch.setattr(engine, "identities", unshown)
    engine._derive.cache_clear()
    try:
        d = symgrad.derive("Softmax")
    finally:
        engine._derive.cache_clear()
    assert d.how_checked[0].startswith("proven by identity test mod 2⁶¹−1, error < 2⁻¹⁰⁰ and by")
    assert "0 of" in d.how_checked[1]
