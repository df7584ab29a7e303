"""gradcheck: catches what it must, never cries wolf on correct layers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad
from symgrad import textbook
from symgrad.check import build, sample
from symgrad.verify import GradcheckError, check_layer, numerical_gradient, scale_verdict

CATALOG = list(symgrad.catalog)


def _inputs(name: str, seed: int, dtype: type = np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(symgrad.catalog[name].inputs)
    return [(rng.standard_normal((3, 4)) * 2).astype(dtype) for _ in range(n)]


def _case(name: str, generated, seed: int = 0, dtype: type = np.float64):
    d = symgrad.derive(name)
    params, inputs = sample(d, np.random.default_rng(seed), dtype)
    return build(getattr(generated, name), d, params), inputs


class Scaled:
    """Wraps a layer and scales its backward: a gradient that is ``factor`` off."""

    def __init__(self, layer: object, factor: float) -> None:
        self.layer, self.factor = layer, factor

    def forward(self, *inputs: np.ndarray) -> np.ndarray:
        return self.layer.forward(*inputs)

    def backward(self, dout: np.ndarray):
        grads = self.layer.backward(dout)
        if isinstance(grads, tuple):
            return tuple(g * self.factor for g in grads)
        return grads * self.factor


class IgnoresDout:
    def __init__(self, layer: object) -> None:
        self.layer = layer

    def forward(self, *inputs: np.ndarray) -> np.ndarray:
        return self.layer.forward(*inputs)

    def backward(self, dout: np.ndarray):
        return self.layer.backward(np.ones_like(dout))


@pytest.mark.parametrize("name", CATALOG)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(3))
def test_correct_layers_pass(name: str, dtype: type, seed: int, generated) -> None:
    layer, inputs = _case(name, generated, seed, dtype)
    assert symgrad.gradcheck(layer, *inputs, seed=seed)


@pytest.mark.parametrize("name", CATALOG)
def test_a_gradient_one_tenth_of_a_percent_off_is_caught(name: str, generated) -> None:
    layer, inputs = _case(name, generated)
    with pytest.raises(GradcheckError, match=r"relative error 5\.0\de-04"):
        symgrad.gradcheck(Scaled(layer, 1.001), *inputs)


@pytest.mark.parametrize("name", CATALOG)
def test_a_backward_that_ignores_dout_is_caught(name: str, generated) -> None:
    layer, inputs = _case(name, generated)
    with pytest.raises(GradcheckError):
        symgrad.gradcheck(IgnoresDout(layer), *inputs)


def test_the_message_names_input_index_expected_and_got(generated) -> None:
    class SwappedMul(generated.MulLayer):  # the classic bug: forgetting to swap x and y
        def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return dout * self.x, dout * self.y

    with pytest.raises(GradcheckError) as err:
        symgrad.gradcheck(SwappedMul(), *_inputs("MulLayer", 0))
    text = str(err.value)
    assert "input x" in text and "input y" in text
    assert "worst at index (" in text and "expected" in text and "got" in text
    assert "wrong: > 1e-2" in text


def test_inputs_at_the_relu_kink_are_moved_not_failed(generated) -> None:
    x = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 2e-7]])
    report = check_layer(generated.Relu(), x)
    assert report.passed
    assert any("kink" in n for n in report.notes)


def test_textbook_relu_mutating_dout_gets_a_warning_and_a_correct_verdict() -> None:
    with pytest.warns(UserWarning, match="modified its dout"):
        assert symgrad.gradcheck(textbook.Relu(), np.array([[1.0, -2.0], [3.0, -4.0]]))


def test_parameters_are_discovered_and_checked() -> None:
    class Scale:
        def __init__(self) -> None:
            self.W = np.array([1.5, -2.0, 0.5])
            self.dW = None

        def forward(self, x: np.ndarray) -> np.ndarray:
            self.x = x
            return x * self.W

        def backward(self, dout: np.ndarray) -> np.ndarray:
            self.dW = (dout * self.x).sum(axis=0)
            return dout * self.W

    assert symgrad.gradcheck(Scale(), np.ones((2, 3)) * 0.7)

    class WrongDW(Scale):
        def backward(self, dout: np.ndarray) -> np.ndarray:
            dx = super().backward(dout)
            self.dW = self.dW * 1.01
            return dx

    with pytest.raises(GradcheckError, match="parameter W"):
        symgrad.gradcheck(WrongDW(), np.ones((2, 3)) * 0.7)


def test_fast_mode_agrees(generated) -> None:
    x = _inputs("Tanh", 0)
    assert symgrad.gradcheck(generated.Tanh(), *x, fast=True)
    with pytest.raises(GradcheckError):
        symgrad.gradcheck(Scaled(generated.Tanh(), 1.001), *x, fast=True)


def test_no_warnings_on_clean_layers(generated) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        symgrad.gradcheck(generated.Sigmoid(), np.linspace(-3, 3, 7))


def test_numerical_gradient_matches_the_textbook_example() -> None:
    def f(x: np.ndarray) -> float:
        return float(x[0] ** 2 + x[1] ** 2)

    np.testing.assert_allclose(numerical_gradient(f, np.array([3.0, 4.0])), [6.0, 8.0], rtol=1e-9)


@pytest.mark.parametrize(
    ("rel", "verdict"), [(1e-9, "good"), (1e-5, "acceptable"), (1e-3, "suspicious"), (0.1, "wrong")]
)
def test_cs231n_scale(rel: float, verdict: str) -> None:
    assert scale_verdict(rel).startswith(verdict)
