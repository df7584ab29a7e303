"""examples/transformer_block.py: a pre-norm transformer block from generated layers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "transformer_block.py"
LAYER_NAMES = ["LayerNorm", "MultiHeadAttention", "Affine", "GELU"]


def _example():
    spec = importlib.util.spec_from_file_location("transformer_block", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_transformer_layers_are_up_to_date() -> None:
    command = [sys.executable, "-m", "symgrad", "codegen", *LAYER_NAMES, "--check"]
    result = subprocess.run(
        [*command, str(ROOT / "examples" / "transformer_layers.py")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_transformer_block_gradient_check_per_parameter() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "gradcheck"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    diffs = {}
    for line in result.stdout.strip().splitlines():
        name, rest = line.split(": ")
        words = rest.split()
        diffs[name] = (float(words[1]), float(words[3]), float(words[6].rstrip(")")))
    expected = {"x", "gamma1", "beta1", "Wq", "Wk", "Wv", "Wo"}
    expected |= {"gamma2", "beta2", "W1", "b1", "W2", "b2"}
    assert set(diffs) == expected
    for mean, worst, scale in diffs.values():
        assert mean < 1e-7 and worst < 1e-6
        assert scale > 1e-2  # gradients far above the tolerance: the check is not vacuous


def test_the_check_catches_a_missing_residual_path() -> None:
    example = _example()
    layers = example.load_layers()

    class NoResidual(example.TransformerBlock):
        def backward(self, dout):
            return super().backward(dout) - dout  # forgets that x reaches y directly

    original = example.TransformerBlock
    try:
        example.TransformerBlock = NoResidual
        results = example.gradcheck(layers)
    finally:
        example.TransformerBlock = original
    assert results["x"][0] > 1e-3
    assert all(mean < 1e-7 for name, (mean, _, _) in results.items() if name != "x")


def test_the_attention_sublayer_equals_the_hand_written_multi_head_attention() -> None:
    import numpy as np

    from symgrad import textbook

    example = _example()
    layers = example.load_layers()
    rng = np.random.default_rng(2)
    params = example.init_params(8, rng)
    block = example.TransformerBlock(layers, params, heads=4)
    h = rng.standard_normal((2, 5, 8))
    weights = [params[w] for w in ("Wq", "Wk", "Wv", "Wo")]
    book = textbook.MultiHeadAttention(*weights, 4, True)
    np.testing.assert_allclose(block.attention.forward(h), book.forward(h), rtol=1e-12, atol=1e-13)
    dout = rng.standard_normal(h.shape)
    dx = block.attention.backward(dout)
    np.testing.assert_allclose(dx, book.backward(dout), rtol=1e-11, atol=1e-12)
    for name in ("dWq", "dWk", "dWv", "dWo"):
        mine, theirs = getattr(block.attention, name), getattr(book, name)
        np.testing.assert_allclose(mine, theirs, rtol=1e-11, atol=1e-12)
