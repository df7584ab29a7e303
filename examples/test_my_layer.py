"""How a user tests their own layer with symgrad's pytest plugin (installed with symgrad).

Run: pytest examples/test_my_layer.py
"""

import numpy as np
from hypothesis import given, settings

from symgrad.strategies import layer_inputs
from symgrad.testing import assert_gradcheck


class Swish:
    """A custom layer: y = x·σ(x), written by hand."""

    def forward(self, x):
        self.x = x
        self.s = 1 / (1 + np.exp(-x))
        return x * self.s

    def backward(self, dout):
        return dout * (self.s + self.x * self.s * (1 - self.s))


def test_swish_with_the_fixture(gradcheck):
    gradcheck(Swish(), np.random.default_rng(0).standard_normal((4, 5)))


def test_swish_with_the_function():
    assert_gradcheck(Swish(), np.linspace(-3, 3, 7))


@settings(max_examples=25, deadline=None)
@given(layer_inputs(count=1))
def test_swish_on_any_shape_and_dtype(inputs):
    assert_gradcheck(Swish(), *inputs)
