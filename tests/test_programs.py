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
    assert "y = x @ W\n        y += b\n" in affine  # one output-size array, not two
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


# --- the new layers' interfaces, as the book and PyTorch define them ------------------------


GROUP_NORM = """
mu[n, g] = mean_c(x[n, g, c])
xc[n, g, c] = x[n, g, c] - mu[n, g]
var[n, g] = mean_c(xc[n, g, c]**2)
xhat[n, g, c] = xc[n, g, c] / sqrt(var[n, g] + eps)
y[n, g, c] = gamma[g, c] * xhat[n, g, c] + beta[g, c]
"""


def test_the_readme_group_norm_derives_generates_and_checks() -> None:
    gn = symgrad.layer("GroupNorm", GROUP_NORM, params=("gamma", "beta"), constants={"eps": 1e-5})
    d = symgrad.derive(gn)
    assert str(d.grads["gamma"]) == "rsum(dout*xhat, (n,))"
    module = symgrad.codegen.load(symgrad.generate([gn]))
    rng = np.random.default_rng(0)
    layer = module.GroupNorm(rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    assert layer.eps == 1e-5
    x = rng.standard_normal((4, 2, 3))
    assert symgrad.gradcheck(layer, x)
    assert layer.dgamma.shape == (2, 3) and layer.dbeta.shape == (2, 3)


def test_the_cli_declares_statements(tmp_path: Path) -> None:
    expr = "ms[n] = mean_d(x[n, d]**2); y[n, d] = g[d] * x[n, d] / sqrt(ms[n] + eps)"
    out = tmp_path / "rms.py"
    base = [sys.executable, "-m", "symgrad"]
    common = ["--expr", expr, "--param", "g", "--const", "eps=1e-6", "--name", "MyRMSNorm"]
    derived = subprocess.run([*base, "derive", *common], capture_output=True, text=True)
    assert derived.returncode == 0, derived.stderr
    assert "dg" in derived.stdout and "dx" in derived.stdout
    written = subprocess.run(
        [*base, "codegen", *common, "-o", str(out)], capture_output=True, text=True
    )
    assert written.returncode == 0, written.stderr
    module = symgrad.codegen.load(out.read_text())
    rng = np.random.default_rng(1)
    assert symgrad.gradcheck(module.MyRMSNorm(rng.standard_normal(5)), rng.standard_normal((3, 5)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expr", "y[n] = x[n]", "--var", "x"], "--var is for an elementwise"),
        (["--expr", "x*2", "--param", "x"], "--param is for --expr statements"),
        (["--expr", "y[n] = a * x[n]", "--const", "a=big"], "--const takes NAME=NUMBER"),
    ],
)
def test_the_cli_refuses_mixed_forms_in_one_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "symgrad", "derive", *args], capture_output=True, text=True
    )
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_batch_normalization_matches_the_book_in_training_and_evaluation(generated) -> None:
    rng = np.random.default_rng(0)
    gamma, beta = rng.standard_normal(12), rng.standard_normal(12)
    ours = generated.BatchNormalization(gamma.copy(), beta.copy())
    book = textbook.BatchNormalization(gamma.copy(), beta.copy())
    for _ in range(3):  # running averages as the book updates them
        x = rng.standard_normal((5, 3, 2, 2)) * 3 + 1  # (N, C, H, W), flattened to (N, 12)
        np.testing.assert_allclose(ours.forward(x), book.forward(x), rtol=1e-12)
        dout = rng.standard_normal(x.shape)
        np.testing.assert_allclose(ours.backward(dout), book.backward(dout), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.dgamma, book.dgamma, rtol=1e-12)
        np.testing.assert_allclose(ours.dbeta, book.dbeta, rtol=1e-12)
    np.testing.assert_allclose(ours.running_mean, book.running_mean, rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, book.running_var, rtol=1e-12)
    x = rng.standard_normal((4, 3, 2, 2))
    np.testing.assert_allclose(
        ours.forward(x, train_flg=False), book.forward(x, train_flg=False), rtol=1e-12
    )
    assert ours.forward(x, train_flg=False).shape == x.shape


def test_dropout_is_the_books_not_inverted(generated) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 40))
    ours, book = generated.Dropout(0.3), textbook.Dropout(0.3)
    np.random.seed(5)
    y = ours.forward(x)
    np.random.seed(5)
    np.testing.assert_array_equal(y, book.forward(x))
    assert 0.6 < (y != 0).mean() < 0.8  # about 70 % kept, and not scaled up
    np.testing.assert_array_equal(y[y != 0], x[y != 0])
    dout = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(ours.backward(dout), book.backward(dout))
    np.testing.assert_allclose(ours.forward(x, train_flg=False), x * 0.7)


@pytest.mark.parametrize("alpha", [np.float64(0.25), np.array([0.1, 0.2, 0.3])])
@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5)])
def test_prelu_alpha_is_shared_or_per_channel(alpha, shape: tuple, generated) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = generated.PReLU(np.array(alpha, copy=True))
    reference = textbook.PReLU(np.array(alpha, copy=True))
    np.testing.assert_allclose(layer.forward(x), reference.forward(x), rtol=1e-15)
    dout = rng.standard_normal(shape)
    np.testing.assert_allclose(layer.backward(dout), reference.backward(dout), rtol=1e-15)
    assert np.shape(layer.dalpha) == np.shape(alpha)
    np.testing.assert_allclose(layer.dalpha, reference.dalpha, rtol=1e-12)
    assert symgrad.gradcheck(generated.PReLU(np.array(alpha, copy=True)), x)


@pytest.mark.parametrize("name", ["LayerNorm", "RMSNorm"])
@pytest.mark.parametrize("shape", [(7,), (4, 7), (2, 3, 7)])
def test_norms_work_over_the_last_axis_of_any_rank(name: str, shape: tuple, generated) -> None:
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(7) for _ in symgrad.catalog[name].params]
    ours = getattr(generated, name)(*[p.copy() for p in params])
    reference = getattr(textbook, name)(*[p.copy() for p in params])
    x = rng.standard_normal(shape) * 2 + 1
    np.testing.assert_allclose(ours.forward(x), reference.forward(x), rtol=1e-12, atol=1e-14)
    dout = rng.standard_normal(shape)
    np.testing.assert_allclose(ours.backward(dout), reference.backward(dout), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.dgamma, reference.dgamma, rtol=1e-10, atol=1e-12)
    assert ours.eps == {"LayerNorm": 1e-5, "RMSNorm": 1e-6}[name]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(symgrad.catalog))
def test_float32_in_float32_out(name: str, dtype: type, generated) -> None:
    from symgrad.sampling import build, sample

    d = symgrad.derive(name)
    params, inputs = sample(d, np.random.default_rng(0), dtype)
    layer = build(getattr(generated, name), d, params)
    out = layer.forward(*inputs)
    if not d.spec.is_loss:
        assert np.asarray(out).dtype == dtype
    grads = layer.backward(np.ones_like(out) if np.ndim(out) else 1.0)
    if not d.spec.inputs:  # Embedding: backward only sets dW, as the book's sequel
        assert grads is None
        grads = ()
    for g in grads if isinstance(grads, tuple) else (grads,):
        assert np.asarray(g).dtype == dtype, name
    for p in d.spec.params:
        assert np.asarray(getattr(layer, f"d{p.name}")).dtype == dtype, (name, p.name)


def test_huber_loss_is_pytorchs_mean_over_all_elements(generated) -> None:
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((3, 4, 5)) * 2, rng.standard_normal((3, 4, 5))
    ours, reference = generated.HuberLoss(), textbook.HuberLoss()
    assert ours.forward(x, t) == pytest.approx(reference.forward(x, t), rel=1e-14)
    np.testing.assert_allclose(ours.backward(), reference.backward(), rtol=1e-14)


def test_cross_entropy_with_label_smoothing_takes_labels(generated) -> None:
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((6, 4)) * 3, rng.integers(0, 4, 6)
    ours, reference = generated.CrossEntropyLoss(), textbook.CrossEntropyLoss()
    assert ours.forward(x, labels) == pytest.approx(reference.forward(x, labels), rel=1e-14)
    np.testing.assert_allclose(ours.backward(), reference.backward(), rtol=1e-12, atol=1e-15)
    assert ours.label_smoothing == 0.1


@pytest.mark.parametrize(
    "text",
    [
        "y[n] = max_k(x[n, k])",  # the gradient goes to the maximum, ties split
        "y[n] = sum_k(x[n, k]**2)",  # output with an axis fewer than the input
        "y[k] = mean_n(x[n, k])",  # dx = dout/N: needs x's shape, not x
        "loss = mean(x[n, k])",
        "y[n, k] = x[n, k] - mean_k(x[n, k])",
    ],
)
def test_reductions_of_every_kind_derive_generate_and_check(text: str) -> None:
    layer = symgrad.layer("R", text)
    module = symgrad.codegen.load(symgrad.generate([layer]))
    x = np.random.default_rng(0).standard_normal((3, 4))
    out = module.R().forward(x)
    output = symgrad.derive(layer).output
    assert np.shape(out) == tuple({"n": 3, "k": 4}[a] for a in output.axes)
    assert symgrad.gradcheck(module.R(), x)


def test_max_splits_the_gradient_between_ties(generated) -> None:
    module = symgrad.codegen.load(symgrad.generate([symgrad.layer("M", "y[n] = max_k(x[n, k])")]))
    layer = module.M()
    layer.forward(np.array([[1.0, 2.0, 2.0], [3.0, 0.0, -1.0]]))
    np.testing.assert_array_equal(
        layer.backward(np.array([1.0, 4.0])), [[0.0, 0.5, 0.5], [4.0, 0.0, 0.0]]
    )
    assert any(
        "tie" in c for c in symgrad.derive(symgrad.layer("M", "y[n] = max_k(x[n, k])")).conventions
    )
