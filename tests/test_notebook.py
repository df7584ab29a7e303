"""examples/tour.ipynb runs from top to bottom without an error (executed with nbmake)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import symgrad

ROOT = Path(__file__).resolve().parents[1]


def test_the_tour_notebook_executes() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbmake",
            str(ROOT / "examples" / "tour.ipynb"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


def test_notebook_displays_have_no_memory_addresses() -> None:
    shop = symgrad.evaluate_graph("x*y", ["x=2", "y=3"])
    for shown in (repr(shop), repr(symgrad.derive("Sigmoid")), repr(symgrad.derive("Affine"))):
        assert " at 0x" not in shown
    assert shop._repr_svg_().startswith("<svg") or shop._repr_svg_().startswith("<?xml")
    assert symgrad.derive("SoftmaxWithLoss")._repr_latex_().startswith("$\\displaystyle")
