"""The README's accuracy promise, checked on the generated code at many more points than the
engine probes, tails included: every catalog layer, forward and backward, by the measure of
:mod:`symgrad.numerics`, against mpmath in as many digits as it takes."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad.accuracy import measure
from symgrad.numerics import ACCURATE, Probes


@pytest.mark.parametrize("name", list(symgrad.catalog))
def test_every_catalog_layer_is_accurate_on_the_whole_range(name: str, generated) -> None:
    forward, backward, where = measure(symgrad.derive(name), getattr(generated, name))
    assert forward <= ACCURATE, (name, "forward", forward, where)
    assert backward <= ACCURATE, (name, "backward", backward, where)


def test_softplus_backward_is_relatively_accurate_in_its_left_tail(generated) -> None:
    # 1 - exp(-y) loses every digit as x -> -inf; -expm1(-y) keeps them (issue 9).
    x = np.array([-30.0, -40.0, -100.0, -700.0])
    layer = generated.Softplus()
    layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    exact = 1 / (1 + np.exp(-x))  # σ(x) is exact here: no cancellation on this side
    np.testing.assert_allclose(dx, exact, rtol=1e-15)


def test_the_measure_rejects_the_forms_it_should() -> None:
    # Softplus's backward written as 1 - exp(-y), and sin(x)/x's as (cos x - y)/x: both lose
    # digits that the saved values (or the exact input) still hold.
    import sympy
    from sympy.codegen.cfunctions import expm1

    from symgrad.functions import softplus as named_softplus

    x, y = sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)
    softplus = sympy.log(1 + sympy.exp(x))
    probes = Probes.of(softplus, (x,))
    saved = {y: probes.float64(named_softplus(x), {})}  # as the generated forward computes y
    truth = softplus.diff(x)
    assert probes.backward_error(1 - sympy.exp(-y), truth, saved) > ACCURATE
    assert probes.backward_error(-expm1(-y), truth, saved) <= ACCURATE
    sinc = sympy.sin(x) / x
    probes = Probes.of(sinc, (x,))
    saved = {y: probes.float64(sinc, {})}
    assert probes.backward_error((sympy.cos(x) - y) / x, sinc.diff(x), saved) > ACCURATE
