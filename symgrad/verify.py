"""Numerical verification of backward passes. NumPy only: no SymPy is imported here.

Notation: a layer has the textbook interface (``forward(*inputs)``, ``backward(dout)``); the
check contracts the layer's output with a *random* upstream gradient ``g``, so the scalar under
test is ``L = Σ g ⊙ forward(*inputs)`` and ``∂L/∂input`` must equal ``backward(g)``. A random
``g`` (not all ones, as DeZero's checker uses) catches a backward that forgets ``dout``.

Numerical gradients are central differences in float64 with a step ``h = 1e-6·max(1, |x|)``
per element, computed from the *difference of outputs* (``Σ g ⊙ (f(x + h) - f(x - h))``) so that
rounding cancels for the elements a perturbation does not touch. An element is accepted when
``|backward - numerical| <= rtol·|numerical| + atol·max(1, max|numerical|)`` with
``rtol = 1e-5`` (a gradient 0.1% off fails; torch's default rtol of 1e-3 lets it through) and
``atol = 1e-8``. Elements near a kink, where the left and right one-sided differences disagree
(ReLU at 0), are moved away from it before the check, as Chainer does.

>>> import numpy as np
>>> class Square:
...     def forward(self, x):
...         self.x = x
...         return x * x
...     def backward(self, dout):
...         return 2 * self.x * dout
>>> gradcheck(Square(), np.array([1.0, -2.0, 3.0]))
True
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RTOL = 1e-5
ATOL = 1e-8
STEP = 1e-6


class GradcheckError(AssertionError):
    """A backward pass disagrees with numerical differentiation; the message says where."""


@dataclass
class Finding:
    """The comparison of one gradient (an input's or a parameter's)."""

    name: str
    worst_index: tuple[int, ...]
    expected: float
    got: float
    rel_error: float
    max_rel_error: float
    passed: bool
    kind: str = "input"
    problem: str = ""
    others: tuple[tuple[tuple[int, ...], float, float], ...] = ()


@dataclass
class Report:
    """Everything ``gradcheck`` measured; ``passed`` is the verdict."""

    layer: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fast: bool = False

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)

    @property
    def worst(self) -> float:
        return max((f.max_rel_error for f in self.findings), default=0.0)

    def message(self) -> str:
        bad = [f for f in self.findings if not f.passed]
        lines = [f"{self.layer}: backward disagrees with numerical gradients"]
        for f in bad:
            if f.problem:
                lines.append(f"  {f.kind} {f.name}: {f.problem}")
                continue
            where = f"direction #{f.worst_index[0]}" if self.fast else f"index {f.worst_index}"
            lines.append(
                f"  {f.kind} {f.name}: worst at {where}: expected {f.expected:.10g} "
                f"(numerical), got {f.got:.10g} (backward); relative error {f.rel_error:.2e} "
                f"({scale_verdict(f.rel_error)})"
            )
            lines += [
                f"    also at {index}: expected {want:.10g}, got {got:.10g}"
                for index, want, got in f.others
            ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def scale_verdict(rel: float) -> str:
    """Where a relative error sits on the cs231n scale.

    >>> scale_verdict(3e-9), scale_verdict(5e-4), scale_verdict(0.5)
    ('good: <= 1e-7', 'suspicious: > 1e-4', 'wrong: > 1e-2')
    """
    if rel <= 1e-7:
        return "good: <= 1e-7"
    if rel <= 1e-4:
        return "acceptable only near kinks: <= 1e-4"
    if rel <= 1e-2:
        return "suspicious: > 1e-4"
    return "wrong: > 1e-2"


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = STEP
) -> np.ndarray:
    """Central-difference gradient of a scalar function, element by element (float64).

    The textbook's ``numerical_gradient(f, x)``, with a relative step and without modifying ``x``.

    >>> numerical_gradient(lambda v: float((v ** 2).sum()), np.array([1.0, 2.0])).round(6)
    array([2., 4.])
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[i]))
        orig = x[i]
        x[i] = orig + step
        fp = float(f(x))
        x[i] = orig - step
        fm = float(f(x))
        x[i] = orig
        grad[i] = (fp - fm) / (2 * step)
    return grad


def gradcheck(
    layer: Any,
    *inputs: Any,
    seed: int = 0,
    rtol: float = RTOL,
    atol: float = ATOL,
    fast: bool = False,
    directions: int = 4,
) -> bool:
    """Check ``layer.backward`` against numerical gradients; True, or :class:`GradcheckError`.

    Inputs and parameters (attributes ``W`` with a ``dW`` after backward) are checked in float64.
    ``fast=True`` compares directional derivatives ``⟨v, J·u⟩`` for a few random ``u`` instead of
    every element, for large layers.
    """
    report = check_layer(
        layer, *inputs, seed=seed, rtol=rtol, atol=atol, fast=fast, directions=directions
    )
    if not report.passed:
        raise GradcheckError(report.message())
    for note in report.notes:
        if "modified" in note:
            warnings.warn(f"{report.layer}: {note}", stacklevel=2)
    return True


def check_layer(
    layer: Any,
    *inputs: Any,
    seed: int = 0,
    rtol: float = RTOL,
    atol: float = ATOL,
    fast: bool = False,
    directions: int = 4,
) -> Report:
    """Run the gradient check and return the full :class:`Report` (no exception).

    Before the check proper, ``forward`` runs once on other values (the inputs rolled by one
    element), so a backward that reads a stale cache is caught; the layer only ever sees copies,
    so a layer that writes into its inputs or ``dout`` still gets a correct verdict (and a note).
    """
    rng = np.random.default_rng(seed)
    arrays = [_promote(a) for a in inputs]
    names = _input_names(layer, len(arrays))
    report = Report(type(layer).__name__, fast=fast)
    params = _promote_parameters(layer)
    g = _upstream(layer, arrays, rng)
    grads = _analytic(layer, arrays, g, names, report)
    params = [p for p in params if _grad_of(layer, p) is not None]
    n = len(grads)
    near_kink = not fast or any(_kink_along(layer, arrays, g, k, rng) for k in range(n))
    moved = _avoid_kinks(layer, arrays, g, n, rng, report) if near_kink else arrays
    if any(not np.array_equal(a, b) for a, b in zip(moved, arrays)):
        arrays = moved
        grads = _analytic(layer, arrays, g, names, report)
    for k in range(n):
        if (problem := _dtype_problem(grads[k], arrays[k])) is not None:
            report.findings.append(_failed(names[k], problem, "input"))
            continue
        f = _contracted(layer, arrays, g, k)
        finding = _compare(
            names[k],
            grads[k].astype(np.float64),
            arrays[k],
            f,
            rtol,
            atol,
            fast,
            directions,
            rng,
            "input",
        )
        report.findings.append(finding)
    for p in params:
        analytic = np.asarray(_grad_of(layer, p))
        target = getattr(layer, p)
        if (problem := _dtype_problem(analytic, target)) is not None:
            report.findings.append(_failed(p, problem, "parameter"))
            continue
        f = _contracted_param(layer, arrays, g, p)
        finding = _compare(
            p,
            analytic.astype(np.float64),
            target,
            f,
            rtol,
            atol,
            fast,
            directions,
            rng,
            "parameter",
        )
        report.findings.append(finding)
    return report


def _upstream(layer: Any, arrays: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A random upstream gradient shaped like the output (a forward on rolled inputs finds the
    shape and leaves a cache that a correct layer overwrites)."""
    out = np.asarray(layer.forward(*[np.roll(a, 1) for a in arrays]), dtype=np.float64)
    return rng.standard_normal(out.shape)


def _analytic(
    layer: Any, arrays: list[np.ndarray], g: np.ndarray, names: list[str], report: Report
) -> list[np.ndarray]:
    """forward then backward at ``arrays``, on copies; notes any in-place modification."""
    given = [a.copy() for a in arrays]
    layer.forward(*given)
    grads = _backward(layer, g, report)
    for name, a, b in zip(names, given, arrays):
        if not np.array_equal(a, b):
            _note(report, f"forward or backward modified its input {name} in place")
    return grads


def _note(report: Report, note: str) -> None:
    if note not in report.notes:
        report.notes.append(note)


def _dtype_problem(grad: np.ndarray, target: np.ndarray) -> str | None:
    """A float64 check needs float64 gradients: a float32 gradient has lost precision."""
    if grad.shape != np.shape(target):
        return f"gradient has shape {grad.shape}, expected {np.shape(target)}"
    if np.issubdtype(grad.dtype, np.floating) and grad.dtype != np.asarray(target).dtype:
        return (
            f"gradient has dtype {grad.dtype} but the value is {np.asarray(target).dtype}: "
            "precision is lost"
        )
    return None


def _failed(name: str, problem: str, kind: str) -> Finding:
    return Finding(name, (), float("nan"), float("nan"), np.inf, np.inf, False, kind, problem)


def _backward(layer: Any, g: np.ndarray, report: Report) -> list[np.ndarray]:
    g_given = g.copy()
    result = layer.backward(g_given)
    if not np.array_equal(g_given, g):
        _note(report, "backward modified its dout argument in place (checked on a copy)")
    grads = list(result) if isinstance(result, (tuple, list)) else [result]
    return [np.asarray(a) for a in grads]


def _compare(
    name: str,
    analytic: np.ndarray,
    target: np.ndarray,
    f: Callable[[np.ndarray, float], float],
    rtol: float,
    atol: float,
    fast: bool,
    directions: int,
    rng: np.random.Generator,
    kind: str,
) -> Finding:
    if analytic.shape != target.shape:
        return Finding(name, (), float("nan"), float("nan"), np.inf, np.inf, False, kind)
    if fast:
        us = [rng.standard_normal(target.shape) for _ in range(directions)]
        numerical = np.array([_directional(f, target, u) for u in us])
        analytic = np.array([float(np.sum(analytic * u)) for u in us])
    else:
        numerical = _elementwise(f, target)
    return _finding(name, analytic, numerical, rtol, atol, kind)


def _finding(
    name: str, analytic: np.ndarray, numerical: np.ndarray, rtol: float, atol: float, kind: str
) -> Finding:
    err = np.abs(analytic - numerical)
    scale = max(1.0, float(np.max(np.abs(numerical), initial=0.0)))
    allowed = rtol * np.abs(numerical) + atol * scale
    ratio = np.where(np.isfinite(err), err / allowed, np.inf)
    rel = err / np.maximum(np.abs(analytic) + np.abs(numerical), 1e-8)
    rel = np.where(np.isfinite(rel), rel, np.inf)
    if ratio.size == 0:
        return Finding(name, (), 0.0, 0.0, 0.0, 0.0, True, kind)
    order = np.argsort(-ratio, axis=None, kind="stable")
    worst = np.unravel_index(int(order[0]), ratio.shape)
    others = tuple(
        (tuple(int(v) for v in idx), float(numerical[idx]), float(analytic[idx]))
        for idx in (np.unravel_index(int(o), ratio.shape) for o in order[1:3])
        if ratio[idx] > 1.0
    )
    return Finding(
        others=others,
        name=name,
        worst_index=tuple(int(i) for i in worst),
        expected=float(numerical[worst]),
        got=float(analytic[worst]),
        rel_error=float(rel[worst]),
        max_rel_error=float(np.max(rel)),
        passed=bool(np.all(ratio <= 1.0)),
        kind=kind,
    )


def _elementwise(f: Callable[[np.ndarray, float], float], x: np.ndarray) -> np.ndarray:
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[i] = 1.0
        step = STEP * max(1.0, abs(float(x[i])))
        grad[i] = f(e, step)
    return grad


def _directional(f: Callable[[np.ndarray, float], float], x: np.ndarray, u: np.ndarray) -> float:
    return f(u, STEP * max(1.0, float(np.max(np.abs(x), initial=0.0))))


def _contracted(layer: Any, arrays: list[np.ndarray], g: np.ndarray, k: int) -> Callable:
    """``(e, h) -> Σ g ⊙ (f(x + h·e) - f(x - h·e)) / 2h`` for input ``k``."""

    def f(e: np.ndarray, h: float) -> float:
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[k] = plus[k] + h * e
        minus[k] = minus[k] - h * e
        fp = np.asarray(layer.forward(*plus), dtype=np.float64)
        fm = np.asarray(layer.forward(*minus), dtype=np.float64)
        return float(np.sum(g * (fp - fm)) / (2 * h))

    return f


def _contracted_param(layer: Any, arrays: list[np.ndarray], g: np.ndarray, name: str) -> Callable:
    def f(e: np.ndarray, h: float) -> float:
        original = getattr(layer, name)
        try:
            setattr(layer, name, original + h * e)
            fp = np.asarray(layer.forward(*[a.copy() for a in arrays]), dtype=np.float64)
            setattr(layer, name, original - h * e)
            fm = np.asarray(layer.forward(*[a.copy() for a in arrays]), dtype=np.float64)
        finally:
            setattr(layer, name, original)
        return float(np.sum(g * (fp - fm)) / (2 * h))

    return f


def _avoid_kinks(
    layer: Any,
    arrays: list[np.ndarray],
    g: np.ndarray,
    n: int,
    rng: np.random.Generator,
    report: Report,
    rounds: int = 5,
) -> list[np.ndarray]:
    """Move elements whose left and right derivatives disagree (a kink within the step)."""
    arrays = [a.copy() for a in arrays]
    moved = 0
    for _ in range(rounds):
        kinks = [_kinks(layer, arrays, g, k) for k in range(n)]
        if not any(k.any() for k in kinks):
            break
        for k, mask in enumerate(kinks):
            shift = rng.uniform(1e-3, 2e-3, size=arrays[k].shape) * rng.choice(
                [-1.0, 1.0], size=arrays[k].shape
            )
            arrays[k] = np.where(
                mask, arrays[k] + shift * np.maximum(1.0, np.abs(arrays[k])), arrays[k]
            )
            moved += int(mask.sum())
    if moved:
        report.notes.append(f"moved {moved} input element(s) away from a kink before checking")
    return arrays


def _kink_along(
    layer: Any, arrays: list[np.ndarray], g: np.ndarray, k: int, rng: np.random.Generator
) -> bool:
    """Fast mode's kink test: do the one-sided derivatives along a random direction disagree?
    Only then are the elements examined one by one."""
    u = rng.standard_normal(arrays[k].shape)
    h = STEP * max(1.0, float(np.max(np.abs(arrays[k]), initial=0.0)))
    outs = []
    for step in (h, 0.0, -h):
        moved = [a.copy() for a in arrays]
        moved[k] = moved[k] + step * u
        outs.append(float(np.sum(g * np.asarray(layer.forward(*moved), dtype=np.float64))))
    right, left = (outs[0] - outs[1]) / h, (outs[1] - outs[2]) / h
    return abs(right - left) > 1e-3 * max(abs(right), abs(left), 1e-12)


def _kinks(layer: Any, arrays: list[np.ndarray], g: np.ndarray, k: int) -> np.ndarray:
    base = np.asarray(layer.forward(*[a.copy() for a in arrays]), dtype=np.float64)
    x = arrays[k]
    right = np.zeros(x.shape)
    left = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        h = STEP * max(1.0, abs(float(x[i])))
        for sign, store in ((1.0, right), (-1.0, left)):
            moved = [a.copy() for a in arrays]
            moved[k][i] += sign * h
            out = np.asarray(layer.forward(*moved), dtype=np.float64)
            store[i] = sign * float(np.sum(g * (out - base))) / h
    typical = max(float(np.max(np.abs(right) + np.abs(left), initial=0.0)), 1e-300)
    return np.abs(right - left) > 1e-3 * np.maximum(
        np.maximum(np.abs(right), np.abs(left)), 1e-3 * typical
    )


def _promote(a: Any) -> np.ndarray:
    """A float64 copy of a real input; integer arrays (class labels) stay as they are."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        return a.copy()
    return a.astype(np.float64)


def _input_names(layer: Any, n: int) -> list[str]:
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    try:
        params = inspect.signature(layer.forward).parameters.values()
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in positional and p.name != "self"]
    return [names[i] if i < len(names) else f"input {i}" for i in range(n)]


def _promote_parameters(layer: Any) -> list[str]:
    """Names of array attributes that look like parameters (``W`` beside ``dW``), made float64."""
    found = []
    for name, value in list(vars(layer).items()):
        if isinstance(value, np.ndarray) and not name.startswith("d") and f"d{name}" in vars(layer):
            setattr(layer, name, value.astype(np.float64))
            found.append(name)
    return sorted(found)


def _grad_of(layer: Any, name: str) -> np.ndarray | None:
    value = getattr(layer, f"d{name}", None)
    return None if value is None else np.asarray(value)


def as_float64(arrays: Sequence[Any]) -> list[np.ndarray]:
    """Copies of the given arrays in float64."""
    return [np.array(a, dtype=np.float64) for a in arrays]
