"""Floating-point accuracy of printed expressions, measured against high-precision arithmetic.

The engine may only choose among forms it has proven equal; this module tells it which of those
forms survive float64. Each form is printed exactly as codegen prints it, evaluated with NumPy at
probe points, and compared with the exact value computed by mpmath in 50 digits, or in as many
more as it takes for two precisions to agree (``log(1 + exp(-100))`` cancels 44 digits).

**The measure** (the README states it; ``ACCURATE`` is the bound):

- *forward*: the relative error ``|ŷ - y| / |y|`` at every probe point in the domain. Near
  underflow, where float64 arithmetic cannot keep relative accuracy (a true value below
  ``UNDERFLOW`` = 2.2e-296), the error is absolute instead: being within ``TINY`` = 2.2e-308, the
  smallest normal float64, of the truth passes. A point whose true value overflows float64 is
  skipped.
- *backward*: let ``t`` be the exact derivative, ``g`` the float64 result and ``A`` what rounding
  has cost before the form is evaluated: one ulp of each input (``u·Σ|x·∂t/∂x|``, u the unit
  roundoff) and, for a form that reads only saved values ``ŝ`` (as float64 computed them), what
  their rounding lost, ``|t̂ - t|`` with ``t̂`` the form evaluated exactly at ``ŝ``, plus one ulp
  of each (``u·Σ|ŝ·∂g/∂ŝ|``). The error is ``|g - t| / (max(|t|, UNDERFLOW) + 2A / ACCURATE)``:
  relative where the saved values still carry the information, and relative to the
  derivative's own scale where rounding has lost it (sigmoid's ``y`` at x = 30 has rounded
  ``1 - y``; ``y(1 - y)`` may then be off by what that rounding costs, twice over, and no
  more). A form that can read an exact input gets no allowance for rounded saved values.

**Probe points**: for one input 0, ±1e-8, ±1e-3, ±0.3, ±1, ±2, ±3, ±5, ±10, ±20, ±40, ±100 and
±1000; for several inputs every combination of 0, ±0.5, ±3, ±40 and ±1000. Points where the
forward is not real and finite (``log(x)`` at x <= 0, ``1/x`` at 0) are outside the domain and
never probed.

>>> from sympy import Symbol, exp, log
>>> x = Symbol("x")
>>> probes = Probes.of(log(1 + exp(x)), (x,))
>>> truth = (log(1 + exp(x))).diff(x)
>>> probes.backward_error(exp(x) / (exp(x) + 1), truth, {}) > 1  # inf/inf at x = 1000
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy

from symgrad.constants import exact as exact_constants
from symgrad.numpy_printer import numpy_code, numpy_namespace

ACCURATE = 1e-12
"""The largest error, by the measure above, of a form called accurate."""
TINY = float(np.finfo(np.float64).tiny)
_EPS = float(np.finfo(np.float64).eps) / 2
"""One ulp of rounding, relative: the unit roundoff of float64."""
UNDERFLOW = TINY / ACCURATE
"""Below this magnitude (2.2e-296) errors are absolute: within ``TINY`` of the truth passes."""
_ROUNDING = 1e-14
"""Relative errors below this are rounding, whatever the saved values carry."""
_FLOAT_MAX = float(np.finfo(np.float64).max)
_DIGITS = 50
_MAX_DIGITS = 1600

_MAGNITUDES = (1e-8, 1e-3, 0.3, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0, 100.0, 1000.0)
SINGLE_POINTS = tuple(sorted({0.0, *_MAGNITUDES, *(-m for m in _MAGNITUDES)}))
GRID_POINTS = (-1000.0, -40.0, -3.0, -0.5, 0.0, 0.5, 3.0, 40.0, 1000.0)
"""Probe points for one input, and for each of several inputs."""
SMALL_GRIDS = {3: (-40.0, -0.5, 0.0, 0.5, 40.0), 4: (-3.0, 0.5, 3.0)}
"""Fewer points for each of three or more inputs, so that the grid stays near 100 points."""


def _points_for(count: int) -> tuple[float, ...]:
    if count == 1:
        return SINGLE_POINTS
    if count == 2:
        return GRID_POINTS
    return SMALL_GRIDS[min(count, 4)]


def evaluate(expr: sympy.Expr, env: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate ``expr`` as the NumPy code symgrad prints for it (float64, warnings off)."""
    code = compile(numpy_code(expr), "<symgrad-probe>", "eval")
    with np.errstate(all="ignore"):
        return np.asarray(eval(code, numpy_namespace(), dict(env)), dtype=np.float64)


def exact_function(
    expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...]
) -> Callable[..., mpmath.mpf]:
    """``expr`` as an mpmath function of ``symbols`` (named functions and Decimals written out
    in elementary terms, so that the oracle is independent of symgrad's printers)."""
    from symgrad.functions import to_elementary

    plain = to_elementary(exact_constants(expr))
    return sympy.lambdify(symbols, plain, modules="mpmath")


def _real(value: Any) -> float:
    """An mpmath value as float64: nan when it is not a real number, ±inf beyond float64."""
    if isinstance(value, mpmath.mpc):
        if value.imag != 0:
            return math.nan
        value = value.real
    if not isinstance(value, (mpmath.mpf, int, float)) or mpmath.isnan(value):
        return math.nan
    if abs(value) > _FLOAT_MAX:
        return math.copysign(math.inf, float(mpmath.sign(value)))
    return float(value)


@dataclass
class Probes:
    """The probe points of a layer inside its forward's domain, with exact values cached."""

    inputs: tuple[sympy.Symbol, ...]
    env: dict[str, np.ndarray]
    sources: tuple[sympy.Symbol, ...] | None = None
    """The inputs the saved values are computed from (default: all); a form that reads one
    of them gets no allowance for rounded saved values."""
    _cache: dict[Any, np.ndarray] = field(default_factory=dict, repr=False)
    fixed: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        forward: sympy.Expr,
        inputs: tuple[sympy.Symbol, ...],
        fixed: Mapping[sympy.Symbol, sympy.Expr] | None = None,
    ) -> Probes:
        """The points where ``forward`` and each of its parts are real and finite (a target
        of 0 times ``log(y)`` at y < 0 is outside); ``fixed`` symbols (constants) take their
        values at every point."""
        points = _points_for(len(inputs))
        grid = np.array(list(itertools.product(points, repeat=len(inputs))), dtype=np.float64)
        everything = cls(inputs, {v.name: grid[:, i] for i, v in enumerate(inputs)})
        everything.fixed = dict(fixed or {})
        inside = np.isfinite(everything.exact(forward))
        from symgrad.domain import restrictions

        for condition in restrictions(forward):  # 0·log(-1) is 0 exactly, nan in NumPy
            holds = np.broadcast_to(everything.float64(condition, {}), inside.shape)
            inside &= holds.astype(bool)
        probes = cls(inputs, {name: values[inside] for name, values in everything.env.items()})
        probes.fixed = everything.fixed
        return probes

    @property
    def size(self) -> int:
        return len(next(iter(self.env.values()))) if self.env else 0

    def exact(
        self, expr: sympy.Expr, extra: Mapping[sympy.Symbol, np.ndarray] | None = None
    ) -> np.ndarray:
        """Exact values of ``expr`` at the points (float64: nan where undefined or complex,
        ±inf where beyond float64); ``extra`` gives values of other symbols point by point."""
        names = {v.name for v in self.inputs}
        extra = {s: v for s, v in (extra or {}).items() if s.name not in names}
        key = (expr, tuple((s, v.tobytes()) for s, v in sorted(extra.items(), key=str)))
        if key not in self._cache:
            self._cache[key] = self._exact(expr, extra)
        return self._cache[key]

    def _exact(self, expr: sympy.Expr, extra: dict[sympy.Symbol, np.ndarray]) -> np.ndarray:
        expr = expr.xreplace({s: exact_constants(v) for s, v in self.fixed.items()})
        symbols = (*self.inputs, *extra)
        fn = exact_function(expr, symbols)
        columns = [self.env[v.name] for v in self.inputs] + list(extra.values())
        out = np.empty(self.size)
        for p in range(self.size):
            out[p] = _converged(fn, [float(c[p]) for c in columns])
        return out

    def float64(self, expr: sympy.Expr, saved: Mapping[str, np.ndarray]) -> np.ndarray:
        """``expr`` evaluated as codegen prints it, at the points (with the saved values)."""
        constants = {s.name: float(v) for s, v in self.fixed.items()}
        value = evaluate(expr, {**constants, **self.env, **saved})
        return np.broadcast_to(value, (self.size,)).astype(np.float64)

    def forward_error(self, got: np.ndarray, truth: sympy.Expr) -> float:
        """The worst relative error of forward values ``got`` (see the module docstring)."""
        want = self.exact(truth)
        keep = np.isfinite(want)
        return _relative(got[keep], want[keep])

    def worst_forward_point(self, got: np.ndarray, truth: sympy.Expr) -> str:
        """Where the forward's relative error is largest, as ``x = -40``."""
        want = self.exact(truth)
        rel = np.where(np.isfinite(want), _pointwise(got, want), 0.0)
        return self.point(int(np.argmax(rel)))

    def point(self, p: int) -> str:
        """Probe point ``p`` as text: ``x = -40, y = 3``."""
        return ", ".join(f"{v.name} = {self.env[v.name][p]:g}" for v in self.inputs)

    def backward_error(
        self,
        candidate: sympy.Expr,
        truth: sympy.Expr,
        saved: Mapping[sympy.Symbol, np.ndarray],
        got: np.ndarray | None = None,
    ) -> float:
        """The worst error of a backward form by the measure of the module docstring.

        ``saved`` holds the float64 values of the saved quantities the form uses; ``got`` is
        the form's float64 value at the points (evaluated here when not given)."""
        errors = self.backward_errors(candidate, truth, saved, got)
        return float(np.max(errors, initial=0.0))

    def backward_errors(
        self,
        candidate: sympy.Expr,
        truth: sympy.Expr,
        saved: Mapping[sympy.Symbol, np.ndarray],
        got: np.ndarray | None = None,
    ) -> np.ndarray:
        """The error of a backward form at each probe point (0 where the truth is not finite,
        inf where the form is not finite but the truth is)."""
        if got is None:
            got = self.float64(candidate, {s.name: v for s, v in saved.items()})
        want = self.exact(truth)
        keep = np.isfinite(want)
        rel = np.where(keep, _pointwise(got, want), 0.0)
        rel = np.where(keep & ~np.isfinite(got), math.inf, rel)
        bad = keep & np.isfinite(got) & (rel > _ROUNDING)
        if not bad.any():
            return rel
        allowance = self._allowance(candidate, truth, saved, bad, want)
        with np.errstate(all="ignore"):
            scale = np.maximum(np.abs(want), UNDERFLOW) + 2 * allowance / ACCURATE
            err = np.abs(got - want) / scale
        return np.where(bad, np.where(np.isnan(err), math.inf, err), rel)

    def _allowance(
        self,
        candidate: sympy.Expr,
        truth: sympy.Expr,
        saved: Mapping[sympy.Symbol, np.ndarray],
        where: np.ndarray,
        want: np.ndarray,
    ) -> np.ndarray:
        """What rounding has already cost before the form is evaluated, at ``where``: the
        error one ulp of each input causes in the derivative, and, for a form that reads only
        saved values, what their rounding lost (``|t̂ - t|``) plus one ulp of each of them."""
        sub = Probes(self.inputs, {k: v[where] for k, v in self.env.items()}, self.sources)
        sub.fixed = self.fixed
        at = {sym: v[where] for sym, v in saved.items()}
        cost = np.zeros(int(where.sum()))
        for x in self.inputs:
            cost += _EPS * np.abs(sub.env[x.name] * sub.exact(sympy.diff(truth, x)))
        used = [sym for sym in at if sym in candidate.free_symbols]
        sources = set(self.inputs if self.sources is None else self.sources)
        if not (candidate.free_symbols & sources):  # the exact input is not at hand
            cost += np.abs(sub.exact(candidate, at) - want[where])
            for sym in used:
                slope = _diff_or_zero(candidate, sym)
                cost += _EPS * np.abs(at[sym] * sub.exact(slope, at))
        out = np.zeros(self.size)
        out[where] = np.where(np.isnan(cost), math.inf, cost)
        return out


def _diff_or_zero(expr: sympy.Expr, symbol: sympy.Symbol) -> sympy.Expr:
    """∂expr/∂symbol, or 0 where the symbol only chooses a branch (a boolean mask)."""
    try:
        return sympy.diff(expr, symbol)
    except (TypeError, ValueError, AttributeError):
        return sympy.S.Zero


def _converged(fn: Callable[..., Any], args: list[float]) -> float:
    """``fn(*args)`` in enough digits: 50, then doubled until two precisions agree, because a
    formula that cancels (``log(1 + exp(-100))``) needs more digits than its value has. A zero
    must hold up to 800 digits (``1 + tanh(-602)`` is 0 in every precision below 523), enough to
    resolve any value float64 can hold from terms as large as float64 can hold."""
    previous = None
    digits = _DIGITS
    while digits <= _MAX_DIGITS:
        with mpmath.workdps(digits):
            try:
                value = fn(*(mpmath.mpf(a) for a in args))
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                return math.nan
            if previous is not None and _agree(previous, value) and (value or digits >= 800):
                return _real(value)
            previous = value
        digits *= 2
    return _real(previous)


def _agree(a: Any, b: Any) -> bool:
    try:
        return bool(mpmath.almosteq(a, b, rel_eps=mpmath.mpf(10) ** -25, abs_eps=0))
    except TypeError:
        return False


def _pointwise(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        rel = np.abs(got - want) / np.maximum(np.abs(want), UNDERFLOW)
    return np.where(got == want, 0.0, np.where(np.isnan(rel), math.inf, rel))


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    if got.size == 0:
        return 0.0
    return float(np.max(_pointwise(got, want)))
