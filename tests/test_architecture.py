"""The architecture's promises, checked: what imports what, and what stays cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symgrad"


def _imports(module: Path, top_level: bool = False) -> set[str]:
    tree = ast.parse(module.read_text())
    nodes = tree.body if top_level else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "module", ["engine.py", "codegen.py", "graph.py", "numpy_printer.py", "latex_printer.py"]
)
def test_formula_sources_never_import_the_hand_written_references(module: str) -> None:
    # Hand-written formulas are expected values for tests and `symgrad check` only.
    assert "symgrad.textbook" not in _imports(PACKAGE / module)


@pytest.mark.parametrize("module", ["engine.py", "graph.py", "spec.py", "conventions.py"])
def test_engine_does_no_io_and_no_latex(module: str) -> None:
    # Derivation.latex() hands over to symgrad.render inside the method; the engine itself
    # neither prints LaTeX nor touches files.
    imports = _imports(PACKAGE / module, top_level=True)
    assert not imports & {"os", "sys", "subprocess", "symgrad.render", "symgrad.latex_printer"}


def test_import_symgrad_and_verify_do_not_import_sympy() -> None:
    code = "import sys, symgrad, symgrad.verify; print('sympy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_layer_declarations_are_small() -> None:
    # One statement per line: BatchNormalization, with its evaluation program, is the longest.
    for path in (PACKAGE / "layers").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 30, path.name
