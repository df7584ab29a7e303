"""Floating-point behaviour of printed expressions, measured rather than hoped for.

The engine may only choose among forms it has proven equal; this module tells it which of those
forms survive float64 at extreme inputs. Each candidate is printed exactly as codegen prints it,
evaluated with NumPy at probe points from -1000 to 1000, and compared with the true derivative
evaluated in 50-digit arithmetic. ``exp(x)/(exp(x) + 1)`` is ``inf/inf = nan`` at x = 1000 and
``1 - exp(-y)`` loses every digit when y is tiny; both lose to forms that stay accurate.

>>> from sympy import Symbol, exp, log
>>> x, y = Symbol("x"), Symbol("y")
>>> f = log(1 + exp(x))
>>> truth = f.diff(x)
>>> relative_error(exp(x) / (exp(x) + 1), (x,), {}, truth) > 1
True
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy

from symgrad.numpy_printer import numpy_code

PROBE_POINTS = (-1000.0, -40.0, -3.0, -0.5, 0.0, 0.3, 2.0, 40.0, 1000.0)
_FLOAT_MAX = float(np.finfo(np.float64).max)


def evaluate(expr: sympy.Expr, env: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate ``expr`` as the NumPy code symgrad prints for it."""
    code = compile(numpy_code(expr), "<symgrad-probe>", "eval")
    with np.errstate(all="ignore"):
        return np.asarray(eval(code, {"np": np}, dict(env)), dtype=np.float64)


def probe_grid(inputs: tuple[sympy.Symbol, ...]) -> dict[str, np.ndarray]:
    """Every combination of probe points for the inputs, as flat float64 arrays."""
    points = list(itertools.product(PROBE_POINTS, repeat=len(inputs)))
    return {v.name: np.array([p[i] for p in points]) for i, v in enumerate(inputs)}


def relative_error(
    candidate: sympy.Expr,
    inputs: tuple[sympy.Symbol, ...],
    derived: dict[sympy.Symbol, sympy.Expr],
    truth: sympy.Expr,
) -> float:
    """Worst relative error of ``candidate`` in float64 over the probe grid.

    ``derived`` gives quantities the candidate uses that are computed from the inputs first
    (the saved output ``y``, evaluated as codegen evaluates it). Points where the true value
    overflows float64 are skipped: no form can represent them. Errors are relative, except that
    values below a millionth of the largest true value over the grid count as that millionth:
    ``y*(1 - y)`` returning 0 for sigmoid's 4e-18 at x = 40 is accurate, ``nan`` is not.
    """
    env = probe_grid(inputs)
    for symbol, expr in derived.items():
        env[symbol.name] = evaluate(expr, env)
    return error_against(evaluate(candidate, env), truth, inputs, env)


def error_against(
    got: np.ndarray, truth: sympy.Expr, inputs: tuple[sympy.Symbol, ...], env: dict[str, np.ndarray]
) -> float:
    """Worst error of float64 values ``got`` at the points ``env`` against ``truth``."""
    got = np.broadcast_to(got, env[inputs[0].name].shape)
    pairs = []
    for i in range(got.shape[0]):
        subs = {v: sympy.Float(env[v.name][i], 50) for v in inputs}
        exact = truth.evalf(50, subs=subs)
        if exact.is_real and abs(exact) <= _FLOAT_MAX:
            pairs.append((float(got[i]), float(exact)))
    if not all(math.isfinite(g) for g, _ in pairs):
        return math.inf
    scale = max((abs(w) for _, w in pairs), default=0.0)
    floor = max(1e-6 * scale, 1e-300)
    return max((abs(g - w) / max(abs(w), floor) for g, w in pairs), default=0.0)
