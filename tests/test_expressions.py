"""Every expression the parser accepts derives, generates and verifies, or fails with one line.

Hypothesis draws expressions from the parser's grammar (all its functions, division, powers,
decimal and integer constants, one or two variables). For each one:

- ``symgrad derive``, ``codegen`` and ``graph`` (run in-process through ``symgrad.cli.main``)
  either succeed or exit with status 2 and one line on stderr, never a traceback;
- when the layer generates, its forward and backward are compared at points inside the domain
  with an independent oracle: SymPy's own parser (``sympify(..., rational=True)``, not symgrad's)
  evaluated by mpmath in 50 digits, the derivative by ``mpmath.diff``.

CI runs a fixed, bounded sample (``derandomize=True``); ``SYMGRAD_EXAMPLES=500 pytest -k
expressions`` runs more.
"""

from __future__ import annotations

import contextlib
import io
import os

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad
from symgrad.cli import main
from symgrad.codegen import load
from symgrad.errors import SymgradError
from symgrad.sampling import sample

EXAMPLES = int(os.environ.get("SYMGRAD_EXAMPLES", "25"))
UNARY = [
    "exp", "log", "sqrt", "tanh", "sinh", "cosh", "sin", "cos", "tan", "atan", "erf", "abs",
    "relu", "sigmoid", "softplus",
]  # fmt: skip
CONSTANTS = ["2", "3", "0.5", "1.5", "0.01", "0.044715", "0.7978845608"]


def _expressions(variables: list[str]) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(variables) | st.sampled_from(CONSTANTS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        )
        power = st.tuples(inner, st.sampled_from(["2", "3", "-1", "0.5"])).map(
            lambda t: f"({t[0]})**{t[1]}"
        )
        call = st.tuples(st.sampled_from(UNARY), inner).map(lambda t: f"{t[0]}({t[1]})")
        extreme = st.tuples(st.sampled_from(["max", "min"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        )
        return binary | power | call | extreme

    return st.recursive(leaves, extend, max_leaves=5).filter(
        lambda text: any(v in text for v in variables)
    )


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, list[str]]:
    variables = draw(st.sampled_from([["x"], ["x", "y"]]))
    text = draw(_expressions(variables))
    return text, [v for v in variables if v in text]


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as exit_:
            status = int(exit_.code or 0)
    return status, out.getvalue(), err.getvalue()


def _assert_clean(status: int, err: str, command: str) -> None:
    assert status in (0, 2), (command, status, err)
    assert "Traceback" not in err, (command, err)
    if status == 2:
        assert len(err.strip().splitlines()) == 1, (command, err)


_ORACLE_NAMES = {
    "sigmoid": lambda u: 1 / (1 + sympy.exp(-u)),
    "softplus": lambda u: sympy.log(1 + sympy.exp(u)),
    "relu": lambda u: sympy.Max(0, u),
    "abs": sympy.Abs,
    "max": sympy.Max,
    "min": sympy.Min,
}


def _oracle(text: str, variables: list[str]) -> tuple:
    """The forward as SymPy's own parser reads it, as an mpmath function, and its symbols."""
    symbols = [sympy.Symbol(v, real=True) for v in variables]
    expr = sympy.sympify(
        text, locals={**_ORACLE_NAMES, **dict(zip(variables, symbols))}, rational=True
    )
    return sympy.lambdify(symbols, expr, modules="mpmath"), symbols


def _compare(text: str, variables: list[str], layer: object, d: object) -> None:
    f, _ = _oracle(text, variables)
    _, inputs = sample(d, np.random.default_rng(7))
    points = [tuple(float(a.flat[i]) for a in inputs) for i in range(4)]
    arrays = [np.array([p[k] for p in points]) for k in range(len(variables))]
    got = layer.forward(*[a.copy() for a in arrays])
    grads = layer.backward(np.ones(len(points)))
    grads = grads if isinstance(grads, tuple) else (grads,)
    with mpmath.workdps(50):
        for i, point in enumerate(points):
            args = [mpmath.mpf(v) for v in point]
            want = f(*args)
            assert _close(got[i], want, 1e-9), (text, point, got[i], want)
            for k in range(len(variables)):
                slope = mpmath.diff(_along(f, args, k), args[k])
                assert _close(grads[k][i], slope, 1e-8), (text, variables[k], point)


def _along(f: object, args: list, k: int) -> object:
    """``t -> f(args with args[k] = t)``."""
    return lambda t: f(*args[:k], t, *args[k + 1 :])


def _close(got: float, want: mpmath.mpf, rtol: float) -> bool:
    want = complex(want)
    if abs(want.imag) > 1e-30 * max(1.0, abs(want.real)):
        return not np.isfinite(got)  # outside the real domain: nan is the honest answer
    want = want.real
    return abs(got - want) <= rtol * max(abs(want), 1e-300) + 1e-300


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(expressions())
def test_every_accepted_expression_derives_generates_and_verifies_or_says_why(
    drawn: tuple[str, list[str]],
) -> None:
    text, variables = drawn
    var_args = [a for v in variables for a in ("--var", v)]
    for command in ("derive", "codegen"):
        status, _, err = _cli(command, "--expr", text, *var_args, "--name", "Drawn")
        _assert_clean(status, err, f"{command} {text}")
    at = [f"{v}={value}" for v, value in zip(variables, ("0.75", "1.25"))]
    status, _, err = _cli("graph", text, "--at", *at)
    _assert_clean(status, err, f"graph {text}")
    try:
        spec = symgrad.elementwise("Drawn", text, *variables)
        d = symgrad.derive(spec)
        module = load(symgrad.generate([d]))
    except SymgradError as error:
        assert "\n" not in str(error), text
        return
    _compare(text, variables, module.Drawn(), d)
