"""gradcheck: catches what it must, never cries wolf on correct layers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad
from symgrad import textbook
from symgrad.check import build, sample
from symgrad.verify import (
    GradcheckError,
    GradcheckUsageError,
    InPlaceWarning,
    SymgradWarning,
    check_layer,
    numerical_gradient,
    scale_verdict,
)

CATALOG = list(symgrad.catalog)


def _inputs(name: str, seed: int, dtype: type = np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(symgrad.catalog[name].inputs)
    return [(rng.standard_normal((3, 4)) * 2).astype(dtype) for _ in range(n)]


def _case(name: str, generated, seed: int = 0, dtype: type = np.float64):
    d = symgrad.derive(name)
    params, inputs = sample(d, np.random.default_rng(seed), dtype)
    cls = getattr(generated, name)
    if d.spec.draws:  # Dropout: the same mask on every call, as a gradient check needs
        cls = symgrad.codegen.seeded(cls)
    return build(cls, d, params), inputs


class Scaled:
    """Wraps a layer and scales its backward: a gradient that is ``factor`` off."""

    def __init__(self, layer: object, factor: float) -> None:
        self.layer, self.factor = layer, factor

    def forward(self, *inputs: np.ndarray) -> np.ndarray:
        return self.layer.forward(*inputs)

    def backward(self, dout: np.ndarray):
        grads = self.layer.backward(dout)
        if grads is None:  # no input (Embedding): the parameters' gradients are off instead
            for name, value in list(vars(self.layer).items()):
                if name.startswith("d") and name[1:] in vars(self.layer) and value is not None:
                    setattr(self.layer, name, value * self.factor)
            return None
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
    with pytest.warns(InPlaceWarning, match="wrote into its dout"):
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


# --- the blind spots of issue 9, each as a class of inputs ------------------------------------


class Cube:
    """y = x³ + x, with a backward that is wrong only where |x| < 1e-5 (a bad Taylor branch)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x**3 + x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        right = 3 * self.x**2 + 1
        return dout * np.where(np.abs(self.x) < 1e-5, 1.01 * right, right)


@pytest.mark.parametrize("tiny", [1e-6, -3e-7, 2e-8, 1e-12])
def test_smooth_points_near_zero_are_not_moved_and_a_bug_there_is_found(tiny: float) -> None:
    report = check_layer(Cube(), np.array([tiny, 0.5, -1.5]))
    assert not report.passed
    assert report.findings[0].worst_index == (0,)
    assert not any("moved" in n for n in report.notes)


def test_a_square_of_tiny_values_is_not_a_kink() -> None:
    class Square:
        def forward(self, x: np.ndarray) -> np.ndarray:
            self.x = x
            return x * x

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return 2 * self.x * dout

    report = check_layer(Square(), np.array([1e-7, -1e-6, 3e-9, 0.0]))
    assert report.passed and not any("moved" in n for n in report.notes)


def test_real_kinks_are_moved_and_each_move_is_reported(generated) -> None:
    x = np.array([[0.0, 1.0], [-1.0, 3e-9]])
    report = check_layer(generated.Relu(), x)
    assert report.passed
    moves = [n for n in report.notes if "moved" in n]
    assert moves and "x[0, 0] from 0" in moves[0] and "x[1, 1] from 3e-09" in moves[0]


@pytest.mark.parametrize("big", [1e3, 1e6, 1e9])
def test_tolerance_is_per_element_not_relative_to_the_largest(big: float) -> None:
    class OffOnSmall:
        def forward(self, x: np.ndarray) -> np.ndarray:
            self.x = x
            return x * x

        def backward(self, dout: np.ndarray) -> np.ndarray:
            g = 2 * self.x * dout
            return np.where(np.abs(self.x) < 10, 1.001 * g, g)

    x = np.array([big, -2 * big, 0.5, 1.5])
    report = check_layer(OffOnSmall(), x)
    assert not report.passed and report.findings[0].worst_index in {(2,), (3,)}


@pytest.mark.parametrize("seed", range(10))
def test_affine_at_a_million_passes_and_its_bias_gradient_is_still_checked(seed: int) -> None:
    rng = np.random.default_rng(seed)
    W, b, x = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal((4, 5))
    assert check_layer(textbook.Affine(W.copy(), b.copy()), x * 1e6, seed=seed).passed

    class OffBias(textbook.Affine):
        def backward(self, dout: np.ndarray) -> np.ndarray:
            dx = super().backward(dout)
            self.db = self.db * 1.001
            return dx

    report = check_layer(OffBias(W.copy(), b.copy()), x * 1e6, seed=seed)
    assert [f.name for f in report.findings if not f.passed] == ["b"]


def test_fast_mode_steps_are_per_element() -> None:
    x = np.random.default_rng(0).standard_normal((5, 5))
    x[0, 0] = 1e6
    assert symgrad.gradcheck(textbook.Tanh(), x, fast=True)


@pytest.mark.parametrize("seed", range(5))
def test_fast_mode_on_relu_at_mnist_size_finds_its_kinks_quickly(seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((100, 784))
    x.flat[::7919] = 0.0  # some elements exactly on the kink
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InPlaceWarning)
        report = symgrad.gradcheck(textbook.Relu(), x, fast=True, seed=seed)
    assert any("moved" in n for n in report.notes)


def test_kinks_in_parameters_are_moved_too_and_restored() -> None:
    class ScaledRelu:
        def __init__(self) -> None:
            self.w = np.array([0.0, 1.0, -1.0, 0.0])

        def forward(self, x: np.ndarray) -> np.ndarray:
            self.x = x
            return x * np.maximum(self.w, 0)

        def backward(self, dout: np.ndarray) -> np.ndarray:
            self.dw = (dout * self.x * (self.w > 0)).sum(axis=0)
            return dout * np.maximum(self.w, 0)

    layer = ScaledRelu()
    w = layer.w
    report = symgrad.gradcheck(layer, np.random.default_rng(0).standard_normal((3, 4)))
    assert any("moved" in n and "w[0]" in n for n in report.notes)
    assert layer.w is w and w.tolist() == [0.0, 1.0, -1.0, 0.0]


def test_a_forward_that_resets_the_gradients_does_not_read_as_zero() -> None:
    class Resets(textbook.Affine):
        def forward(self, x: np.ndarray) -> np.ndarray:
            self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
            return super().forward(x)

    rng = np.random.default_rng(0)
    layer = Resets(rng.standard_normal((4, 3)), rng.standard_normal(3))
    assert symgrad.gradcheck(layer, rng.standard_normal((2, 4))).checked == "x; W, b"


def test_upstream_gradient_is_independent_of_the_inputs_sampled_with_the_same_seed() -> None:
    class TransposedDW(textbook.MatMul):  # x.T @ x is symmetric: dout == x would hide this
        def backward(self, dout: np.ndarray) -> np.ndarray:
            dx = super().backward(dout)
            self.dW = self.dW.T.copy()
            return dx

    for seed in range(5):
        x = np.random.default_rng(seed).standard_normal((4, 4))
        layer = TransposedDW(np.random.default_rng(seed).standard_normal((4, 4)))
        assert not check_layer(layer, x, seed=seed).passed


@pytest.mark.parametrize(
    ("layer", "inputs", "needle"),
    [
        (textbook.BookSoftmaxWithLoss(), "loss", "dx does not depend on dout"),
        (textbook.Dropout(), "x", "forward is random"),
        (textbook.MulLayer(), "x", "backward returned 1 gradient"),
    ],
    ids=["ignores dout", "random forward", "missing gradient"],
)
def test_messages_say_why(layer: object, inputs: str, needle: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    args = (x, np.eye(3)[[0, 1, 2, 0]]) if inputs == "loss" else (x,)
    if isinstance(layer, textbook.MulLayer):
        layer.backward = lambda dout: dout * layer.y  # returns dx only
        args = (x, x + 1)
    with pytest.raises(GradcheckError, match=needle):
        symgrad.gradcheck(layer, *args)


def test_a_constant_multiple_is_named(generated) -> None:
    class MeanTwice(generated.SoftmaxWithLoss):
        def backward(self, dout: float = 1.0) -> np.ndarray:
            return super().backward(dout) / 4

    x, t = np.random.default_rng(0).standard_normal((4, 3)), np.eye(3)[[0, 1, 2, 0]]
    with pytest.raises(GradcheckError, match=r"got = 0\.25 × expected: divided by N = 4"):
        symgrad.gradcheck(MeanTwice(), x, t)


class NoBackward:
    def forward(self, x: np.ndarray) -> np.ndarray:
        return x


class ReturnsNone(NoBackward):
    def backward(self, dout: np.ndarray) -> None:
        pass


@pytest.mark.parametrize(
    ("layer", "inputs", "error", "needle"),
    [
        (textbook.Relu, (np.ones(3),), GradcheckUsageError, r"an instance, not the class"),
        (NoBackward(), (np.ones(3),), GradcheckUsageError, r"has no backward\(\) method"),
        (ReturnsNone(), (np.ones(3),), GradcheckError, r"backward returned None"),
        (textbook.Relu(), (np.zeros((0, 3)),), GradcheckUsageError, "empty"),
        (textbook.Relu(), (np.ones(3) + 1j,), GradcheckUsageError, "complex"),
        (textbook.Relu(), (np.array([np.nan, 1.0]),), GradcheckUsageError, "nan or inf"),
        (textbook.Relu(), (np.array(["a"]),), GradcheckUsageError, "not numeric"),
    ],
)
def test_what_cannot_be_checked_is_one_clear_sentence(
    layer: object, inputs: tuple, error: type, needle: str
) -> None:
    with pytest.raises(error, match=needle) as info:
        symgrad.gradcheck(layer, *inputs)
    assert "Traceback" not in str(info.value)


def test_integer_inputs_are_numbers_or_labels_by_what_backward_returns(generated) -> None:
    relu = check_layer(generated.Relu(), np.arange(-3, 3).reshape(2, 3))
    assert relu.passed and any("int64) was checked in float64" in n for n in relu.notes)
    x = np.random.default_rng(0).standard_normal((4, 3))
    loss = check_layer(generated.SoftmaxWithLoss(), x, np.array([0, 2, 1, 1]))
    assert loss.passed and loss.checked == "x; no parameter"
    assert any("is labels: held fixed" in n for n in loss.notes)


def test_in_place_writes_have_symgrads_own_warning_category() -> None:
    assert issubclass(InPlaceWarning, SymgradWarning) and issubclass(SymgradWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as pytest -W error does
        warnings.filterwarnings("ignore", category=InPlaceWarning)
        assert symgrad.gradcheck(textbook.Relu(), np.array([[1.0, -2.0], [3.0, -4.0]]))


def test_a_gradient_written_by_backward_that_pairs_with_nothing_is_reported() -> None:
    class Hidden:
        def __init__(self) -> None:
            self._w = np.array([1.5, -0.5])

        def forward(self, x: np.ndarray) -> np.ndarray:
            self.x = x
            return x * self._w

        def backward(self, dout: np.ndarray) -> np.ndarray:
            self.dweight = (dout * self.x).sum(axis=0)
            return dout * self._w

    with pytest.warns(SymgradWarning, match="dweight was written by backward"):
        report = symgrad.gradcheck(Hidden(), np.ones((3, 2)))
    assert report.checked == "x; no parameter" and report.unchecked
    explicit = symgrad.gradcheck(Hidden(), np.ones((3, 2)), params={"_w": "dweight"})
    assert explicit.checked == "x; _w"


def test_the_report_always_lists_what_was_checked() -> None:
    rng = np.random.default_rng(0)
    layer = textbook.Affine(rng.standard_normal((3, 2)), rng.standard_normal(2))
    report = symgrad.gradcheck(layer, rng.standard_normal((4, 3)))
    assert report.checked == "x; W, b" and "checked x; W, b" in repr(report)
