"""A choice at a kink of value 0 computed without ``np.where``: ``f(max(u, 0)) + g(min(u, 0))``
(``symgrad.local.clamped``), chosen by cost, equal to the choice in floating point."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgrad
from symgrad.codegen import load
from symgrad.functions import expm1, log1p
from symgrad.local import clamped
from symgrad.numpy_printer import numpy_code

x, a = sympy.Symbol("x"), sympy.Symbol("alpha")
GENERATED = load(symgrad.generate(["ELU", "PReLU"]))
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 88.0, 89.0, -1e30, 1e30]


def values(dtype: type, n: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 3, n)
    return np.concatenate([SPECIAL, v]).astype(dtype)


def same(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal, nan where nan; a zero's sign may differ (the docstring says so)."""
    return bool(np.all((got == want) | (np.isnan(got) & np.isnan(want))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_and_prelu_forward_equal_the_choice(dtype) -> None:
    v = values(dtype)
    with np.errstate(over="ignore"):
        elu = np.where(v > 0, v, dtype(1.0) * np.expm1(v))
    assert same(GENERATED.ELU().forward(v), elu)
    alpha = np.array([0.25, -0.5, 3.0], dtype=dtype)
    xs = v[: 3 * 1000].reshape(1000, 3)
    prelu = np.where(xs > 0, xs, alpha * xs)
    got = GENERATED.PReLU(alpha).forward(xs)
    assert got.dtype == dtype and same(got, prelu)


def test_generated_code_has_no_where_in_these_forwards() -> None:
    source = symgrad.generate(["ELU", "PReLU"])
    for name in ("ELU", "PReLU"):
        forward = source.split(f"class {name}")[1].split("def forward")[1].split("def backward")[0]
        assert "np.where" not in forward and "np.maximum(x, 0)" in forward


@pytest.mark.parametrize(
    "piecewise",
    [
        sympy.Piecewise((x, x > 0), (sympy.exp(x), True)),  # g(0) = 1
        sympy.Piecewise((1 + x, x > 0), (a * x, True)),  # f(0) = 1
        sympy.Piecewise((x, x >= 0), (a * x, True)),  # >=: not this rule's
        sympy.Piecewise((x, x > 1), (a * x, True)),  # the kink is not at 0
    ],
)
def test_a_choice_that_is_not_zero_at_a_kink_at_zero_is_kept(piecewise) -> None:
    assert clamped(piecewise) == piecewise


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(
        [
            (x, a * expm1(x)),
            (x**2, a * x),
            (sympy.tanh(x), log1p(x * x) * a),
            (x * sympy.exp(x), a * sympy.sin(x)),
        ]
    ),
    hnp.arrays(np.float64, 64, elements=st.floats(-50, 50)),
    st.floats(0.01, 10),
)
def test_the_clamped_form_computes_the_choice(branches, v, alpha) -> None:
    f, g = branches
    e = sympy.Piecewise((f, x > 0), (g, True))
    rewritten = clamped(e)
    assert rewritten != e, "cheaper than np.where"
    env = {"np": np, "x": v, "alpha": alpha, "expm1": np.expm1, "log1p": np.log1p}
    with np.errstate(all="ignore"):
        want = eval(numpy_code(e), env)  # our own printed code
        got = eval(numpy_code(rewritten), env)
    assert same(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prelu_backward_equals_the_choices_it_replaces(dtype) -> None:
    """dα = dout·min(x, 0) (the clamped ``np.where(x > 0, 0, x)``), and dx, at special values
    too."""
    v = values(dtype)
    alpha = np.array([0.25, -0.5, 3.0], dtype=dtype)
    xs = v[: 3 * 1000].reshape(1000, 3)
    dout = np.random.default_rng(1).standard_normal(xs.shape).astype(dtype)
    layer = GENERATED.PReLU(alpha)
    layer.forward(xs)
    dx = layer.backward(dout)
    assert dx.dtype == dtype and same(dx, dout * np.where(xs > 0, 1, alpha))
    want = (dout * np.where(xs > 0, 0, xs)).sum(axis=0)
    assert layer.dalpha.dtype == dtype and same(layer.dalpha, want)


def test_prelus_dalpha_has_no_where() -> None:
    source = symgrad.generate(["PReLU"])
    lines = source.split("def backward")[1].splitlines()
    (dalpha,) = [line for line in lines if "dalpha = (" in line]
    assert "np.where" not in dalpha and "np.minimum(x, 0)" in dalpha


# --- Huber's gradient: a band choice as np.clip -------------------------------------------------

HUBER = load(symgrad.generate(["HuberLoss"]))


@settings(max_examples=60, deadline=None)
@given(
    delta=st.floats(1e-30, 1e30) | st.sampled_from([1.0, 0.5, 2.0, 1e-45, 3e38]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_huber_backward_is_the_choice_it_replaces(delta: float, dtype: type) -> None:
    """dx = dout·clip(x - t, -δ, δ)/N is bit for bit the derivative's choice, np.where(|x - t|
    < δ, x - t, δ·sign(x - t)), for every δ > 0 and every finite x, t."""
    v = values(dtype)
    x, t = v[np.isfinite(v)], np.roll(v[np.isfinite(v)], 7)
    loss = HUBER.HuberLoss(delta=delta)
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            loss.forward(x, t)
        except ValueError:  # the loss overflowed: the layer says so, and keeps nothing
            return
        u = x - t
        want = 1.0 * np.where(np.abs(u) < dtype(delta), u, dtype(delta) * np.sign(u)) / u.size
    got = loss.backward()
    assert got.dtype == dtype and same(got, want)


@pytest.mark.parametrize("delta", [0.0, -1.0, float("nan")])
def test_huber_refuses_a_delta_that_is_not_positive(delta: float) -> None:
    x = np.ones(3)
    with pytest.raises(ValueError, match="HuberLoss: delta must be positive"):
        HUBER.HuberLoss(delta=delta).forward(x, x)


def test_the_band_rule_needs_a_positive_constant_and_the_exact_pattern() -> None:
    from symgrad.local import _clipped

    w, d = sympy.Symbol("w"), sympy.Symbol("delta")
    band = d > sympy.Abs(w)
    assert _clipped(w, band, d * sympy.sign(w), ("delta",)) == sympy.Min(sympy.Max(w, -d), d)
    assert _clipped(w, band, d * sympy.sign(w), ()) is None  # δ may be negative
    assert _clipped(w, band, -d * sympy.sign(w), ("delta",)) is None  # not continuous
    assert _clipped(2 * w, band, d * sympy.sign(w), ("delta",)) is None
    assert _clipped(w, d > w, d * sympy.sign(w), ("delta",)) is None  # no |w|


def test_positive_must_name_a_constant_with_a_positive_default() -> None:
    from symgrad.errors import SymgradError
    from symgrad.spec import layer

    text = "y[...] = where(abs(x[...]) < delta, x[...], delta)"
    for kwargs in ({"positive": ("x",)}, {"constants": {"delta": -1.0}, "positive": ("delta",)}):
        with pytest.raises(SymgradError, match="declared positive"):
            layer("Band", text, **{"constants": {"delta": 1.0}, **kwargs})
