"""examples/simple_conv_net.py: the book's SimpleConvNet from generated layers, end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "simple_conv_net.py"
LAYER_NAMES = ["Convolution", "Relu", "Pooling", "Affine", "SoftmaxWithLoss"]


def test_examples_conv_layers_are_up_to_date() -> None:
    command = [sys.executable, "-m", "symgrad", "codegen", *LAYER_NAMES, "--check"]
    result = subprocess.run(
        [*command, str(ROOT / "examples" / "conv_layers.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_simple_conv_net_gradient_check_like_the_book() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "gradcheck"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # "W1: mean 1.300e-10 max 6.259e-10 (mean |grad| 6.797e-01)"
    diffs = {}
    for line in result.stdout.strip().splitlines():
        name, rest = line.split(": ")
        words = rest.split()
        diffs[name] = (float(words[1]), float(words[3]), float(words[6].rstrip(")")))
    assert set(diffs) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for mean, worst, scale in diffs.values():
        assert mean < 1e-7 and worst < 1e-6
        assert scale > 1e-3  # gradients far above the tolerance: the check is not vacuous


def test_simple_conv_net_trains_on_digits() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn comes with the dev and examples extras")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "train"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.95
    assert "epoch 20/20" in result.stderr  # the progress bar
