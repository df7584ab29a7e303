"""Printers, golden tables in SymPy's style: expression in, exact text out."""

from __future__ import annotations

import numpy as np
import pytest
from sympy import Max, Min, Piecewise, Rational, Symbol, exp, sqrt, tanh
from sympy.matrices.expressions import MatrixSymbol, Transpose

from symgrad.functions import logistic, softplus
from symgrad.latex_printer import latex
from symgrad.numpy_printer import numpy_code

x, y, dout, mask = (Symbol(n) for n in ("x", "y", "dout", "mask"))

NUMPY = [
    (dout * y * (1 - y), "dout * (1 - y) * y"),
    (dout * (1 - y**2), "dout * (1 - y**2)"),
    (1 / (1 + exp(-x)), "1 / (1 + np.exp(-x))"),
    (Rational(1, 100) * x, "0.01 * x"),
    (Rational(1, 3) * x, "1 / 3 * x"),
    (Max(0, x), "np.maximum(x, 0)"),
    (1 / x**2, "1 / x**2"),
    (sqrt(x), "np.sqrt(x)"),
    (Piecewise((dout, mask), (0, True)), "dout * mask"),
    (
        Piecewise((dout, x > 0), (dout / 100, True)),
        "dout * np.maximum((x > 0).astype(dout.dtype), 0.01)",
    ),
    (
        Piecewise((dout, mask), (dout / 100, True)),
        "dout * np.maximum(mask.astype(dout.dtype), 0.01)",
    ),
    (Piecewise((dout, x > 0), (2 * dout, True)), "np.where(x > 0, dout, 2 * dout)"),  # slope > 1
    (logistic(x), "1 / (1 + np.exp(-x))"),
    (x * softplus(x), "x * (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))"),
    ((1 - y) ** -2, "1 / (1 - y) ** 2"),
    (tanh(x) ** 2, "np.tanh(x) ** 2"),
]

LATEX = [
    (dout * y * (1 - y), r"\frac{\partial L}{\partial y} y \left(1 - y\right)"),
    (logistic(x), r"\sigma\left(x\right)"),
    (softplus(x), r"\operatorname{softplus}\left(x\right)"),
    (mask, r"\mathbb{1}[\text{mask}]"),
    (Transpose(MatrixSymbol("X", 2, 3)), r"X^{\mathsf{T}}"),
]


@pytest.mark.parametrize(("expr", "text"), NUMPY)
def test_numpy_printer(expr, text: str) -> None:
    assert numpy_code(expr) == text


@pytest.mark.parametrize(("expr", "text"), LATEX)
def test_latex_printer(expr, text: str) -> None:
    assert latex(expr) == text


def test_dout_is_named_after_the_output() -> None:
    assert latex(dout, "out") == r"\frac{\partial L}{\partial \mathrm{out}}"


def test_only_the_engines_masks_print_as_indicators() -> None:
    from sympy import Symbol

    from symgrad.latex_printer import latex

    assert latex(Symbol("mask")) == r"\mathbb{1}[\text{mask}]"
    assert latex(Symbol("mask2")) == r"\mathbb{1}[\text{mask2}]"
    assert latex(Symbol("masked")) == "masked"


def test_a_mask_multiplies_only_what_stays_finite() -> None:
    import numpy as np

    from symgrad.numerics import evaluate

    m, x, d = Symbol("m"), Symbol("x"), Symbol("dout")
    assert numpy_code(Piecewise((d * x, x > 0), (0, True))) == "dout * x * (x > 0)"
    overflowing = Piecewise((exp(x), m > 0), (0, True))  # inf * False would be nan
    # exp of -inf where the mask is off: exactly 0, and exp never sees what is left out
    assert numpy_code(overflowing) == "np.exp(np.where(m > 0, x, -np.inf))"
    with np.errstate(over="raise", invalid="raise"):
        value = evaluate(overflowing, {"m": np.array([-1.0, 1.0]), "x": np.array([1000.0, 0.0])})
    assert list(value) == [0.0, 1.0]
    other = Piecewise((exp(x) + 1, m > 0), (0, True))
    assert numpy_code(other) == "np.where(m > 0, np.exp(x) + 1, 0)"


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_a_leaky_choice_printed_as_a_product_is_bit_equal_to_where(dtype) -> None:
    # the oracle is np.where itself, on values that include 0, -0, inf and nan
    import numpy as np

    code = numpy_code(Piecewise((dout, mask), (dout / 100, True)))
    rng = np.random.default_rng(1)
    d = rng.standard_normal(1000).astype(dtype)
    d[:4] = [np.inf, -np.inf, np.nan, -0.0]
    m = rng.random(1000) < 0.5
    got = eval(code, {"np": np, "dout": d, "mask": m})
    want = np.where(m, d, 0.01 * d)
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", range(3, 9))
def test_an_integer_power_prints_as_products_and_stays_accurate(n: int) -> None:
    """NumPy evaluates ``x**3`` with ``pow`` on every element (hundreds of times slower than
    a multiply); the printer writes squares and products, within a rounding per product."""
    import numpy as np

    x, y = Symbol("x"), Symbol("y")
    code = numpy_code(y / x**n)
    assert f"**{n}" not in code
    values = np.random.default_rng(n).uniform(-3, 3, 10_000)
    values[0], values[1] = 0.0, -0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        got = eval(code, {"np": np, "x": values, "y": 1.0})  # our own printed code
        want = 1.0 / values.astype(np.longdouble) ** n
        rel = np.abs((got - want) / want)
    assert np.isinf(got[:2]).all()
    assert np.nanmax(rel[2:]) < 4 * n * np.finfo(np.float64).eps


def test_a_clamp_between_two_bounds_prints_as_clip_and_computes_min_of_max() -> None:
    u, lo, hi = Symbol("u"), Symbol("lo"), Symbol("hi")
    code = numpy_code(Min(Max(u, lo), hi))
    assert code.startswith("np.clip(")
    rng = np.random.default_rng(0)
    env = {n: rng.standard_normal(1000) for n in ("u", "lo", "hi")}  # lo > hi half the time
    env["u"][:3] = [np.nan, np.inf, -np.inf]
    got = eval(code, {"np": np}, env)
    want = np.minimum(np.maximum(env["u"], env["lo"]), env["hi"])
    assert np.array_equal(got, want, equal_nan=True)
