"""Matrix layers, softmax and losses: derived by matrix calculus and indexed sums, guarded."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy
from sympy import IndexedBase, MatrixSymbol, OneMatrix, Sum

import symgrad
from symgrad import textbook
from symgrad.errors import DerivationError
from symgrad.matrix_engine import MatrixGradient, _cross_check
from symgrad.spec import D, M, N, i, k, n

ROOT = Path(__file__).resolve().parents[1]
X, W, b, G = MatrixSymbol("X", N, D), MatrixSymbol("W", D, M), MatrixSymbol("b", M, 1), None
y, t, dout_i = IndexedBase("y"), IndexedBase("t"), IndexedBase("dout")
dout = sympy.Symbol("dout")


def test_affine_gradients_come_from_the_trace_identity() -> None:
    G = MatrixSymbol("dout", N, M)
    assert symgrad.derive("Affine").grads == {
        "X": G * W.T,
        "W": X.T * G,
        "b": G.T * OneMatrix(N, 1),
    }


def test_every_gradient_has_the_shape_of_its_variable() -> None:
    for name in ("Affine", "MatMul"):
        for g in symgrad.derive(name).gradients:
            assert g.expr.shape == g.wrt.shape


def test_a_wrong_matrix_derivative_fails_loudly() -> None:
    # SymPy 1.14 returns silent zeros for some matrix derivatives; the cross-check refuses them.
    d = symgrad.derive("Affine")
    wrong = MatrixGradient(W, sympy.ZeroMatrix(D, M))
    with pytest.raises(DerivationError, match="disagrees with elementwise differentiation"):
        _cross_check(d.spec, d.dout, wrong, {N: 2, D: 3, M: 4})


def test_latex_shows_shapes_and_explains_the_bias_sum() -> None:
    tex = symgrad.derive("Affine").latex()
    assert r"\underbrace{\frac{\partial L}{\partial X}}_{N \times D}" in tex
    assert r"\underbrace{W^{\mathsf{T}}}_{M \times D}" in tex
    assert "sums over the batch" in tex


def test_generated_affine_uses_matmul_and_column_sums(generated_source: str) -> None:
    affine = generated_source.split("class Affine:")[1].split("\nclass ")[0]
    assert "dx = dout @ W.T" in affine and "self.dW = x.T @ dout" in affine
    assert "self.db = dout.sum(axis=0)" in affine
    assert "np.ones" not in generated_source and "eye(" not in affine


def test_affine_flattens_and_restores_the_input_shape(generated) -> None:
    rng = np.random.default_rng(0)
    layer = generated.Affine(rng.standard_normal((6, 3)), rng.standard_normal(3))
    x = rng.standard_normal((4, 2, 3))
    out = layer.forward(x)
    assert out.shape == (4, 3)
    assert layer.backward(np.ones((4, 3))).shape == (4, 2, 3)
    assert symgrad.gradcheck(generated.Affine(layer.W, layer.b), x)


def test_softmax_vector_jacobian_product() -> None:
    expected = y[i] * (dout_i[i] - Sum(dout_i[k] * y[k], (k, 0, n - 1)))
    assert sympy.simplify(symgrad.derive("Softmax").grads["x"] - expected) == 0


@pytest.mark.parametrize("name", ["SoftmaxWithLoss", "MeanSquaredError"])
def test_losses_collapse_to_y_minus_t_over_n(name: str) -> None:
    d = symgrad.derive(name)
    assert sympy.simplify(d.gradients[0].expr - dout * (y[i] - t[i]) / N) == 0


def test_softmax_with_loss_uses_the_targets_constraint() -> None:
    steps = [label for label, _ in symgrad.derive("SoftmaxWithLoss").gradients[0].steps]
    assert "each target row sums to 1" in steps
    assert symgrad.derive("SoftmaxWithLoss").checked_n == (2, 3, 4, 5)


def test_binary_cross_entropy_on_logits() -> None:
    x = IndexedBase("x")
    expected = dout * (1 / (1 + sympy.exp(-x[i])) - t[i]) / N
    from symgrad.functions import logistic

    got = (
        symgrad.derive("SigmoidWithLoss")
        .gradients[0]
        .expr.replace(lambda e: isinstance(e, logistic), lambda e: e.rewrite(sympy.exp))
    )
    assert sympy.simplify(got - expected) == 0


def test_a_wrong_general_formula_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from symgrad import row_engine

    spec = symgrad.catalog["MeanSquaredError"]
    monkeypatch.setattr(row_engine, "_tidy", lambda e: 2 * e)
    row_engine.derive_rows.cache_clear()
    try:
        with pytest.raises(DerivationError, match="disagrees with elementwise differentiation"):
            row_engine.derive_rows(spec)
    finally:
        row_engine.derive_rows.cache_clear()


def test_softmax_forward_shift_is_proven() -> None:
    assert symgrad.derive("Softmax").shift_invariant
    assert symgrad.derive("SoftmaxWithLoss").shift_invariant
    assert not symgrad.derive("MeanSquaredError").shift_invariant


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


def _row_map(name: str, forward: sympy.Expr):
    from symgrad.codegen import load
    from symgrad.spec import rowwise

    spec = rowwise(name, forward, IndexedBase("x"))
    return getattr(load(symgrad.generate([spec])), name)()


def test_a_map_written_in_the_softmax_saves_the_softmax_not_its_output() -> None:
    # LogSoftmax's backward reads the softmax p; its output y is log p. Both must be saved
    # under their own names (issue 9: the output was saved under the softmax's name).
    from sympy import exp, log

    from symgrad.spec import j

    x = IndexedBase("x")
    layer = _row_map("LogSoftmax", x[i] - log(Sum(exp(x[j]), (j, 0, n - 1))))
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
    from sympy import exp

    from symgrad.spec import j

    x = IndexedBase("x")
    layer = _row_map("Twice", 2 * exp(x[i]) / Sum(exp(x[j]), (j, 0, n - 1)))
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
