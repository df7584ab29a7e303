"""erf and erfc in NumPy alone, accurate to a few ulps, for generated code (NumPy has neither).

Notation: ``a = |x|``. The pieces, each a polynomial in ``t ∈ [-1, 1]`` (Horner's rule, highest
power first) fitted in 40-digit arithmetic by :func:`fit_tables` and stored in
:mod:`symgrad.special_tables` (``python tools/fit_special.py`` rewrites that file; a test checks
it is what the fit gives):

- ``a < 1``: ``erf(x) = x·P(t)`` with ``t = 2x² - 1``;
- ``1 <= a < 2``: ``erfc(a) = exp(-a²)·Q1(t)`` with ``t = 2a - 3``;
- ``2 <= a < 4``: ``erfc(a) = exp(-a²)/a·Q2(t)`` with ``u = 1/a²``, ``t = (u - 5/32)/(3/32)``;
- ``a >= 4``: ``erfc(a) = exp(-a²)/a·Q3(t)`` with ``u = 1/a²``, ``t = 32u - 1`` (the tail to
  infinity, where erfc underflows gradually as float64 does).

``exp(-a²)`` is computed as ``exp(-h²)·exp(-(a - h)(a + h))`` with ``h`` the float32 rounding of
``a``, so that ``h²`` is exact and the large exponent carries no rounding error. ``erf`` is
``1 - erfc`` for ``a >= 1`` and ``erfc`` is ``1 - erf`` for ``a < 1``; both are accurate there
because the other value is at most 0.85. The relative accuracy over [-30, 30] is tested against
mpmath.

>>> import numpy as np
>>> ns = namespace()
>>> float(ns["erf"](np.array(0.5))), float(ns["erfc"](np.array(10.0)))
(0.5204998778130465, 2.088487583762545e-45)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

PIECES = {
    "ERF_SMALL": ("erf(x)/x as a function of t = 2x² - 1, |x| < 1", 0.0, 1.0),
    "ERFC_1_2": ("erfc(a)·exp(a²) as a function of t = 2a - 3, 1 <= a < 2", 1.0, 2.0),
    "ERFC_2_4": ("erfc(a)·exp(a²)·a as a function of t = (1/a² - 5/32)/(3/32)", 1 / 16, 1 / 4),
    "ERFC_TAIL": ("erfc(a)·exp(a²)·a as a function of t = 32/a² - 1, a >= 4", 0.0, 1 / 16),
}

SOURCE = '''\
def _horner(coefficients: tuple[float, ...], t: np.ndarray) -> np.ndarray:
    out = np.full_like(t, coefficients[0])
    for c in coefficients[1:]:
        out = out * t + c
    return out


def _exp_minus_square(a: np.ndarray) -> np.ndarray:
    """exp(-a**2) without the rounding error of a**2 (h**2 is exact for a float32 h)."""
    h = a.astype(np.float32).astype(np.float64)
    return np.exp(-h * h) * np.exp(-(a - h) * (a + h))


def _erfc_large(a: np.ndarray) -> np.ndarray:
    """erfc(a) for a >= 1."""
    out = np.empty_like(a)
    near = a < 2
    middle = (a >= 2) & (a < 4)
    far = a >= 4
    out[near] = _exp_minus_square(a[near]) * _horner(ERFC_1_2, 2 * a[near] - 3)
    for mask, table, t in (
        (middle, ERFC_2_4, lambda u: (u - 0.15625) / 0.09375),
        (far, ERFC_TAIL, lambda u: 32 * u - 1),
    ):
        b = a[mask]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[mask] = _exp_minus_square(b) / b * _horner(table, t(1 / (b * b)))
    return np.where(np.isinf(a), 0.0, out)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise (float64 inside, the input's float dtype out)."""
    x = np.asarray(x)
    a = np.abs(x.astype(np.float64))
    out = np.empty_like(a)
    small = a < 1
    out[small] = a[small] * _horner(ERF_SMALL, 2 * a[small] ** 2 - 1)
    out[~small] = 1 - _erfc_large(a[~small])
    out = np.where(np.isnan(a), np.nan, np.copysign(out, x))
    return out.astype(np.result_type(x, np.float32))


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(x), elementwise, accurate in both tails."""
    x = np.asarray(x)
    a = np.abs(x.astype(np.float64))
    out = np.empty_like(a)
    small = a < 1
    out[small] = 1 - a[small] * _horner(ERF_SMALL, 2 * a[small] ** 2 - 1)
    out[~small] = _erfc_large(a[~small])
    out = np.where(x < 0, 2 - out, out)
    out = np.where(np.isnan(a), np.nan, out)
    return out.astype(np.result_type(x, np.float32))
'''
"""The helpers as they appear in a generated module (after the tables)."""


def source() -> str:
    """The coefficient tables and the helper functions, as module-level source."""
    from symgrad import special_tables

    tables = []
    for name in PIECES:
        values = getattr(special_tables, name)
        rows = "\n".join(f"    {float(v)!r}," for v in values)
        tables.append(f"{name} = (\n{rows}\n)")
    return "\n".join(tables) + "\n\n\n" + SOURCE


@functools.lru_cache(maxsize=1)
def namespace() -> dict[str, Any]:
    """``np``, ``erf`` and ``erfc`` as the generated code defines them (for evaluation)."""
    ns: dict[str, Any] = {"np": np}
    exec(compile(source(), "<symgrad-special>", "exec"), ns)
    return ns


def fit_tables(digits: int = 40, tolerance: float = 2e-18) -> dict[str, list[float]]:
    """Fit every piece in ``digits``-digit arithmetic (mpmath's Chebyshev fit), raising the
    degree until the relative error bound is below ``tolerance``; coefficients highest power
    first, rounded to float64."""
    import mpmath

    with mpmath.workdps(digits):
        functions = {
            "ERF_SMALL": lambda t: _erf_over_x(mpmath, (t + 1) / 2),
            "ERFC_1_2": lambda t: _scaled_erfc(mpmath, (t + 3) / 2),
            "ERFC_2_4": lambda t: _tail(mpmath, mpmath.mpf(5) / 32 + t * mpmath.mpf(3) / 32),
            "ERFC_TAIL": lambda t: _tail(mpmath, (t + 1) / 32),
        }
        return {name: _fit(mpmath, f, tolerance) for name, f in functions.items()}


def _erf_over_x(mp: Any, square: Any) -> Any:
    if square == 0:
        return 2 / mp.sqrt(mp.pi)
    root = mp.sqrt(square)
    return mp.erf(root) / root


def _scaled_erfc(mp: Any, a: Any) -> Any:
    return mp.erfc(a) * mp.exp(a * a)


def _tail(mp: Any, u: Any) -> Any:
    if u == 0:
        return 1 / mp.sqrt(mp.pi)
    a = 1 / mp.sqrt(u)
    return mp.erfc(a) * mp.exp(a * a) * a


def _fit(mp: Any, f: Any, tolerance: float) -> list[float]:
    smallest = min(abs(f(t)) for t in mp.linspace(-1, 1, 41))
    for degree in range(4, 40):
        coefficients, error = mp.chebyfit(f, [-1, 1], degree, error=True)
        if error / smallest < tolerance:
            return [float(c) for c in coefficients]
    raise RuntimeError("no polynomial of degree < 40 reaches the tolerance")


def tables_source(tables: dict[str, list[float]]) -> str:
    """The text of :mod:`symgrad.special_tables` for ``tables``."""
    lines = [
        '"""Coefficients of symgrad.special, fitted by `python tools/fit_special.py`. Do not edit.',
        "",
        "Each table is a polynomial in t on [-1, 1], highest power first (see symgrad.special).",
        '"""',
        "",
    ]
    for name, values in tables.items():
        lines += [f"# {PIECES[name][0]}", f"{name} = ("]
        lines += [f"    {v!r}," for v in values]
        lines += [")", ""]
    return "\n".join(lines)
