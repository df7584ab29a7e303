"""``symgrad check FILE.py:CLASS``: a user's layer, its parameters and its losses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from symgrad.check import check_user_layer

LAYERS = """
import numpy as np


class Linear:
    def __init__(self):
        rng = np.random.default_rng(5)
        self.W, self.b = rng.standard_normal((4, 4)), rng.standard_normal(4)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout  # only set here, as many people write it
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class TransposedDW(Linear):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW.T
        return dx


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class CrossEntropy:
    def forward(self, x, t):
        self.y, self.t = softmax(x), t
        return -np.sum(t * np.log(self.y)) / len(x)

    def backward(self, dout=1):
        return dout * (self.y - self.t) / len(self.y)


class NoMean(CrossEntropy):
    def backward(self, dout=1):
        return dout * (self.y - self.t)
"""


@pytest.fixture
def layers(tmp_path: Path) -> Path:
    path = tmp_path / "layers.py"
    path.write_text(LAYERS)
    return path


def test_parameters_set_only_in_backward_are_checked_and_listed(layers: Path) -> None:
    text, passed = check_user_layer(f"{layers}:Linear", (4, 4))
    assert passed and "checked: x; W, b" in text
    assert "parameter W" in text and "parameter b" in text
    text, passed = check_user_layer(f"{layers}:TransposedDW", (4, 4))
    assert not passed and "parameter W" in text and "FAIL" in text


def test_a_loss_gets_one_hot_targets_and_a_missing_mean_is_named(layers: Path) -> None:
    text, passed = check_user_layer(f"{layers}:CrossEntropy", (4, 3))
    assert passed, text
    assert "t: target(s), held fixed" in text
    text, passed = check_user_layer(f"{layers}:NoMean", (4, 3))
    assert not passed and "got = 4 × expected: a missing 1/N" in text


def test_from_the_command_line(layers: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "symgrad", "check", f"{layers}:CrossEntropy", "--shape", "5,3"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
