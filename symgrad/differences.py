"""Central differences that know their own error: steps, rounding noise, kinks. NumPy only.

Notation: ``L(v) = Σ g ⊙ f(v)`` is the layer's output contracted with the upstream gradient
``g``; ``v`` is one element of an input or parameter (full mode) or a step along a direction
(fast mode). For a step ``h`` on each side (``h⁺``, ``h⁻``: the exactly representable steps
``(v + h) - v`` and ``v - (v - h)``)

- the estimate is ``c = Σ g ⊙ (f⁺ - f⁻) / (h⁺ + h⁻)``;
- its own scale is ``T = Σ |g ⊙ (f⁺ - f⁻)| / (h⁺ + h⁻)``: the size of the contributions before
  they cancel, the scale against which rounding in a backward pass is judged;
- its rounding noise is ``NOISE·ε·Σ |g|·max(|f⁺|, |f⁻|) / (h⁺ + h⁻)`` over the outputs that moved
  (each output value may carry a few ulps of rounding, and its difference inherits them);
- a kink within the step shows as one-sided slopes that disagree: the second difference
  ``D = |Σ g ⊙ (f⁺ - 2f⁰ + f⁻)| / (h⁺ + h⁻)`` is of the order of ``|f''|·h`` when ``L`` is smooth
  and does not shrink with ``h`` at a kink.

Two evaluations per element are the rule. More are spent only on an element whose estimate
disagrees with the backward's value beyond ``rtol·|c| + atol·T``:

- when a kink could explain the disagreement (``D`` not far below it), the element is probed
  again at ``h/16``: if ``D`` shrank at least 8-fold the function is smooth there (or the kink
  lay between h/16 and h) and the estimate at ``h/16`` is used; otherwise it is a real kink and
  the caller moves the element away from it;
- when rounding noise is a large part of the tolerance (an output of 1e6 around a bias of 1),
  the step is enlarged to where the noise is negligible, and the estimate is kept only if two
  large steps agree (Richardson: the truncation error is measured, not assumed) and agree with
  the small step's estimate within its noise (across many kinks two large steps can agree with
  each other and both be wrong).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STEP = 1e-6
"""Step relative to the element's magnitude: ``h = STEP·max(1, |v|)``."""
NOISE = 16.0
"""Rounding allowed in each output value, in units of its ε."""
SHRINK = 16.0
"""How much smaller the probing step is."""


@dataclass(frozen=True)
class Estimate:
    """A numerical directional derivative with its scale, error bound and kink verdict."""

    value: float
    scale: float
    error: float
    kink: bool = False


Evaluate = Callable[[float], np.ndarray]
"""``t -> f(v + t)``: the layer's output (float64) with the element or direction moved by t."""


def eps_of(out: np.ndarray) -> float:
    dtype = out.dtype if np.issubdtype(out.dtype, np.floating) else np.dtype(np.float64)
    return float(np.finfo(dtype).eps)


@dataclass
class Differencer:
    """Central differences of ``L = Σ g ⊙ f`` for one base point, with error estimates."""

    g: np.ndarray
    base: np.ndarray
    rtol: float
    atol: float
    eps: float

    def estimate(
        self, evaluate: Evaluate, h: float, origin: float = 0.0, claim: float = math.nan
    ) -> Estimate:
        """The estimate at step ``h``, probed further only where it disagrees with ``claim``
        (the backward's value): at ``h/16`` when a kink could explain the disagreement, with
        larger steps when rounding noise could. ``origin`` is the element's value, so that the
        exactly representable steps are used."""
        est, second = self._at(evaluate, h, origin)
        if self.agrees(est, claim) or not math.isfinite(claim):
            return est
        if second + est.error >= 0.1 * abs(est.value - claim):
            small, small_second = self._at(evaluate, h / SHRINK, origin)
            if small_second > second / 8 + small.error:
                return Estimate(small.value, small.scale, small.error, kink=True)
            est = small
            if self.agrees(est, claim):
                return est
        if est.error > 0.1 * self.strict(est):
            est = self._enlarged(evaluate, h, origin, est)
        return est

    def strict(self, est: Estimate) -> float:
        """The tolerance without the estimate's own error."""
        return self.rtol * abs(est.value) + self.atol * est.scale

    def allowed(self, est: Estimate) -> float:
        return self.strict(est) + est.error

    def agrees(self, est: Estimate, claim: float) -> bool:
        return abs(est.value - claim) <= self.strict(est)

    def _at(self, evaluate: Evaluate, h: float, origin: float) -> tuple[Estimate, float]:
        up, down = _steps(origin, h)
        fp, fm = evaluate(up), evaluate(-down)
        width = up + down
        moved = fp - fm
        contributions = self.g * moved
        value = float(np.sum(contributions)) / width
        scale = float(np.sum(np.abs(contributions))) / width
        magnitude = np.abs(self.g) * np.maximum(np.abs(fp), np.abs(fm))
        noise = NOISE * self.eps * float(np.sum(magnitude[moved != 0])) / width
        second = abs(float(np.sum(self.g * ((fp - self.base) - (self.base - fm))))) / width
        return Estimate(value, scale, noise), second

    def _enlarged(self, evaluate: Evaluate, h: float, origin: float, est: Estimate) -> Estimate:
        """Richardson with two large steps chosen so that rounding is negligible; kept only
        when its measured error is smaller than the small step's noise and it lies within both
        error bounds of the small step's estimate. Two large steps can agree with each other and
        both be wrong: across many kinks (a ReLU network's loss against one weight, at a step
        of 0.16) the difference quotient is smooth at that scale and far from the slope at the
        point."""
        if est.scale == 0 or not np.isfinite(est.error):
            return est
        wanted = 0.01 * self.strict(est)
        factor = min(est.error / max(wanted, 1e-300), 1e8)
        big = h * factor
        coarse, _ = self._at(evaluate, big, origin)
        fine, _ = self._at(evaluate, big / 2, origin)
        truncation = abs(coarse.value - fine.value) / 3
        error = truncation + fine.error
        consistent = abs(fine.value - est.value) <= est.error + error
        if error < est.error and np.isfinite(fine.value) and consistent:
            return Estimate(fine.value, fine.scale, error)
        return est


def _steps(origin: float, h: float) -> tuple[float, float]:
    """The representable steps up and down from ``origin`` nearest ``h``."""
    up = (origin + h) - origin
    down = origin - (origin - h)
    return (up or h), (down or h)


def step_for(value: float) -> float:
    """The base step of one element: relative to its magnitude, at least ``STEP``."""
    return STEP * max(1.0, abs(value))
