"""Matrix layers, softmax and losses: derived by matrix calculus and indexed sums, guarded."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad import textbook
from symgrad.check import formula_agrees
from symgrad.docs import _code
from symgrad.errors import DerivationError

ROOT = Path(__file__).resolve().parents[1]


def _codes(name: str) -> dict[str, str]:
    d = symgrad.derive(name)
    return {g.name: _code(d, g) for g in d.gradients}


def test_affine_gradients_are_contractions_with_an_operand_swapped() -> None:
    assert _codes("Affine") == {"dx": "dout @ W.T", "dW": "x.T @ dout", "db": "dout.sum(axis=0)"}
    assert _codes("MatMul") == {"dx": "dout @ W.T", "dW": "x.T @ dout"}


@pytest.mark.parametrize("name", ["Affine", "MatMul", "BatchNormalization", "LayerNorm", "PReLU"])
def test_every_gradient_has_the_axes_of_its_tensor(name: str) -> None:
    from symgrad.codegen import class_slots
    from symgrad.tensor_printer import TensorNumPyPrinter, _as_means

    d = symgrad.derive(name)
    scope = d.spec.scope()
    for g in d.gradients:
        axes = scope.axes_of(g.expr) - {"..."}
        assert axes <= set(g.wrt.axes), (g.name, axes)
    del class_slots, TensorNumPyPrinter, _as_means


def test_a_wrong_compaction_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from symgrad import engine
    from symgrad.compact import Compact

    def wrong(*args, **kwargs):  # a compaction that loses a factor 2
        result = original(*args, **kwargs)
        return Compact(2 * result.expr, result.facts, result.rewrites)

    original = engine.compact
    monkeypatch.setattr(engine, "compact", wrong)
    engine._derive.cache_clear()
    try:
        with pytest.raises(DerivationError, match="disagrees with plain differentiation"):
            symgrad.derive("BatchNormalization")
    finally:
        engine._derive.cache_clear()


def test_latex_shows_shapes_and_the_staged_backward() -> None:
    tex = symgrad.derive("BatchNormalization").latex()
    assert "\\text{forward, reduce; shape (D,)}" in tex
    assert "\\frac{\\partial L}{\\partial \\hat{x}} &=" in tex  # the staged step at x-hat
    assert "compact form, proven equal" in tex


def test_generated_affine_uses_matmul_and_column_sums(generated_source: str) -> None:
    affine = generated_source.split("class Affine:")[1].split("\nclass ")[0]
    assert "dx = dout @ W.T" in affine and "dW = x.T @ dout" in affine
    assert "db = dout.sum(axis=0)" in affine and "self.dW = dW" in affine
    assert "y = x @ W + b" in affine
    assert "np.ones" not in generated_source and "eye(" not in affine


def test_affine_flattens_and_restores_the_input_shape(generated) -> None:
    rng = np.random.default_rng(0)
    layer = generated.Affine(rng.standard_normal((6, 3)), rng.standard_normal(3))
    x = rng.standard_normal((4, 2, 3))
    out = layer.forward(x)
    assert out.shape == (4, 3)
    assert layer.backward(np.ones((4, 3))).shape == (4, 2, 3)
    assert symgrad.gradcheck(generated.Affine(layer.W, layer.b), x)


@pytest.mark.parametrize(
    ("name", "wrt", "formula"),
    [
        ("Softmax", "x", "y[..., k] * (dout[..., k] - sum_j(dout[..., j] * y[..., j]))"),
        ("SoftmaxWithLoss", "x", "dout * (y[n, k] - t[n, k]) / N"),
        ("MeanSquaredError", "y", "dout * (y[n, k] - t[n, k]) / N"),
        ("SigmoidWithLoss", "x", "dout * (sigmoid(x[n, k]) - t[n, k]) / N"),
        (
            "BatchNormalization",
            "x",
            "gamma[d] / std[d] * (dout[n, d] - mean_n(dout[n, d])"
            " - xhat[n, d] * mean_n(dout[n, d] * xhat[n, d]))",
        ),
        ("BatchNormalization", "gamma", "sum_n(dout[n, d] * xhat[n, d])"),
        ("BatchNormalization", "beta", "sum_n(dout[n, d])"),
    ],
)
def test_the_compact_forms_are_the_textbook_ones(name: str, wrt: str, formula: str) -> None:
    assert formula_agrees(symgrad.derive(name), wrt, formula)


def test_a_wrong_formula_is_not_agreed_with() -> None:
    d = symgrad.derive("BatchNormalization")
    assert not formula_agrees(d, "x", "gamma[d] / std[d] * (dout[n, d] - mean_n(dout[n, d]))")
    assert not formula_agrees(d, "gamma", "sum_n(dout[n, d])")


def test_softmax_with_loss_uses_the_targets_fact() -> None:
    d = symgrad.derive("SoftmaxWithLoss")
    assert any("t" in f and "1" in f for f in d.facts)
    assert _codes("SoftmaxWithLoss") == {"dx": "dout * (y - t) / t.shape[0]"}


def test_the_softmax_shift_is_proven_where_it_holds() -> None:
    assert symgrad.derive("Softmax").shifts == (("x", "k"),)
    assert symgrad.derive("SoftmaxWithLoss").shifts == (("x", "k"),)
    assert symgrad.derive("CrossEntropyLoss").shifts == (("x", "k"),)
    assert symgrad.derive("MeanSquaredError").shifts == ()
    assert symgrad.derive("LayerNorm").shifts == ()  # no exp: nothing to protect


@pytest.mark.parametrize("name", ["SoftmaxWithLoss", "SigmoidWithLoss"])
def test_losses_are_stable_at_huge_logits(name: str, generated) -> None:
    layer = getattr(generated, name)()
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]])
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = layer.forward(x, t)
        dx = layer.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert loss == pytest.approx(2e4, rel=1e-3)


def test_probability_exactly_zero_gives_no_nan(generated) -> None:
    layer = generated.SoftmaxWithLoss()
    x = np.array([[0.0, -800.0, 5.0]])  # softmax underflows to exactly 0 in column 1
    for target in (np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])):
        assert np.isfinite(layer.forward(x, target)) and np.all(np.isfinite(layer.backward()))


def test_labels_and_one_hot_rows_agree_and_dout_multiplies(generated) -> None:
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 5)), np.array([0, 3, 4, 1])
    a, b_ = generated.SoftmaxWithLoss(), generated.SoftmaxWithLoss()
    assert a.forward(x, labels) == b_.forward(x, np.eye(5)[labels])
    np.testing.assert_array_equal(a.backward(2.5), b_.backward(1.0) * 2.5)


def test_backward_is_the_exact_gradient_of_the_forward_where_the_book_is_not(generated) -> None:
    # True class probability ~1e-13: the book's log(y + 1e-7) makes its backward disagree with
    # its forward; the generated layer differentiates exactly what it computes.
    x = np.array([[0.0, 0.0, -30.0], [1.0, 2.0, 3.0]])
    labels = np.array([2, 0])
    assert symgrad.gradcheck(generated.SoftmaxWithLoss(), x, labels)
    with pytest.raises(symgrad.GradcheckError):
        symgrad.gradcheck(textbook.BookSoftmaxWithLoss(), x, labels)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda m: m.Affine(np.ones((4, 3)), np.ones(3)).forward(np.ones((2, 5))),
            r"\(2, 5\).*\(4, 3\)",
        ),
        (lambda m: m.MatMul(np.ones((4, 3))).forward(np.ones((2, 5))), r"\(2, 5\).*\(4, 3\)"),
        (lambda m: m.SoftmaxWithLoss().forward(np.ones((2, 3)), np.array([0, 3])), r"\[0, 3\)"),
        (lambda m: m.SoftmaxWithLoss().forward(np.ones((2, 3)), np.array([-1, 0])), "labels"),
        (
            lambda m: m.SoftmaxWithLoss().forward(np.array([[1.0, np.nan]]), np.array([0])),
            "nan or inf",
        ),
        (lambda m: m.MeanSquaredError().forward(np.ones((2, 3)), np.ones((2, 4))), r"\(2, 4\)"),
    ],
)
def test_bad_input_gets_a_one_line_error(make, message: str, generated) -> None:
    with pytest.raises(ValueError, match=message) as err:
        make(generated)
    assert "\n" not in str(err.value)


def test_examples_layers_are_up_to_date() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "symgrad",
            "codegen",
            "Affine",
            "Relu",
            "SoftmaxWithLoss",
            "--check",
            str(ROOT / "examples" / "layers.py"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_layer_net_gradient_check_like_the_book() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "two_layer_net.py"), "gradcheck"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    diffs = dict(line.split(": ") for line in result.stdout.strip().splitlines())
    assert set(diffs) == {"W1", "b1", "W2", "b2"}
    assert all(float(v) < 1e-7 for v in diffs.values())


def test_two_layer_net_trains_on_digits() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn comes with the dev and examples extras")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "two_layer_net.py"), "train"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.95
    assert "epoch 30/30" in result.stderr  # the progress bar


def test_log_softmax_saves_the_softmax_log_and_is_exact() -> None:
    # Issue 9: a map written in the softmax got the output under the softmax's name.
    layer = symgrad.codegen.load(symgrad.generate(["LogSoftmax"])).LogSoftmax()
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 5)) * 3
    y = layer.forward(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(y, expected, rtol=1e-13)
    dout = rng.standard_normal((4, 5))
    p = np.exp(expected)
    np.testing.assert_allclose(
        layer.backward(dout), dout - p * dout.sum(axis=1, keepdims=True), rtol=1e-12
    )
    assert symgrad.gradcheck(layer, logits)


def test_a_scaled_softmax_is_derived_right() -> None:
    spec = symgrad.layer("Twice", "y[n, k] = 2 * exp(x[n, k]) / sum_j(exp(x[n, j]))")
    layer = symgrad.codegen.load(symgrad.generate([spec])).Twice()
    assert symgrad.gradcheck(layer, np.random.default_rng(1).standard_normal((3, 4)))


def test_generate_refuses_code_that_fails_its_numerical_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from symgrad import codegen

    original = codegen.class_source

    def broken(d):  # the printed backward loses a factor: the kind of bug the check exists for
        return [line.replace("dx = dout * (1 - y) * y", "dx = dout * y") for line in original(d)]

    monkeypatch.setattr(codegen, "class_source", broken)
    with pytest.raises(
        DerivationError,
        match=r"Sigmoid: the generated code fails its numerical "
        r"check \(dx \(relative error",
    ):
        symgrad.generate(["Sigmoid"])
