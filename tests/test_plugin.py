"""The pytest plugin as a user meets it: an example test file run by pytest in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.testing import assert_gradcheck

ROOT = Path(__file__).resolve().parents[1]

WRONG = """
import numpy as np

class BadTanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dout):
        return dout * (1 - self.y)  # forgot the square

def test_bad_tanh(gradcheck):
    gradcheck(BadTanh(), np.linspace(-2, 2, 5))
"""


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_the_example_test_file_passes() -> None:
    result = _pytest(str(ROOT / "examples" / "test_my_layer.py"), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_a_wrong_layer_fails_with_the_report(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text(WRONG)
    result = _pytest("test_bad.py", cwd=tmp_path)  # the fixture comes from the entry point
    assert result.returncode == 1
    assert "input x: worst at index" in result.stdout
    assert "wrong: > 1e-2" in result.stdout


def test_plugin_is_registered_as_an_entry_point() -> None:
    from importlib.metadata import entry_points

    names = {(e.name, e.value) for e in entry_points(group="pytest11")}
    assert ("symgrad", "symgrad.testing") in names


def test_loading_the_plugin_does_not_import_sympy() -> None:
    code = "import sys, symgrad.testing, symgrad.strategies; print('sympy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_assert_gradcheck_raises_assertion_error() -> None:
    class Wrong:
        def forward(self, x: np.ndarray) -> np.ndarray:
            self.x = x
            return x**3

        def backward(self, dout: np.ndarray) -> np.ndarray:
            return dout * 3 * self.x

    with pytest.raises(AssertionError, match="input x"):
        assert_gradcheck(Wrong(), np.array([0.5, 1.5, -2.0]))
    assert issubclass(symgrad.GradcheckError, AssertionError)
