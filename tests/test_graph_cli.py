"""``symgrad graph`` as a user runs it: the nodes as written, and one line for every bad point."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symgrad", *args], capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no half-printed graph
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _forward_rows(stdout: str) -> list[list[str]]:
    """The forward table: node, expression..., operation, value, split on whitespace."""
    block = stdout.split("\n\n")[0].splitlines()[1:]
    return [row.split() for row in block]


def test_figure_5_2_prints_one_node_per_constant() -> None:
    result = run("graph", "apple*2*1.1", "--at", "apple=100")
    assert result.returncode == 0, result.stderr
    rows = _forward_rows(result.stdout)
    assert [(r[-2], r[-1]) for r in rows] == [("×2", "200"), ("×1.1", "220")]
    assert ["apple", "2.2"] in [line.split() for line in result.stdout.splitlines()]


def test_parentheses_the_user_wrote_are_two_nodes() -> None:
    result = run("graph", "(apple*apple_num)*tax", "--at", "apple=100", "apple_num=2", "tax=1.1")
    assert result.returncode == 0, result.stderr
    assert [(r[-2], r[-1]) for r in _forward_rows(result.stdout)] == [("×", "200"), ("×", "220")]
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["apple", "2.2"] in lines and ["apple_num", "110"] in lines and ["tax", "200"] in lines


def test_figure_5_2_as_svg(tmp_path: Path) -> None:
    svg = tmp_path / "fig-5-2.svg"
    result = run("graph", "apple*2*1.1", "--at", "apple=100", "--svg", str(svg))
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(svg.read_text())
    texts = [t.text for t in root.iter() if t.tag.endswith("text")]
    assert {"×2", "×1.1", "100", "200", "220", "2.2", "1.1"} <= set(texts)
    assert "×2.2" not in texts


NOT_REAL = [
    ("log(x)", ["x=-1"], "node out = log(x) is not real at x = -1 (log of a negative number)"),
    ("log(x - 2)", ["x=1"], "log of a negative number: x - 2 = -1"),
    ("x*log(x - 2)", ["x=1"], "node u2 = log(x - 2) is not real at x = 1"),
    ("sqrt(x)", ["x=-4"], "square root of a negative number"),
    ("x**0.5", ["x=-1"], "square root of a negative number"),
    ("x**1.5", ["x=-2"], "a negative number to the power 3/2"),
    ("x**(1/3)", ["x=-8"], "a negative number to the power 1/3"),
    ("(-8)**x", ["x=0.5"], "a negative number to the power 0.5"),
    ("x**y", ["x=-2", "y=0.5"], "a negative number to the power 0.5"),
    ("sqrt(log(x))", ["x=0.5"], "square root of a negative number: log(x) = -0.69314718056"),
    ("log(sigmoid(x) - 1)", ["x=0"], "log of a negative number"),
    ("softplus(x) + log(-exp(x))", ["x=0"], "log of a negative number"),
    # A real value whose gradient is not: d(x**y)/dy = x**y*log(x), and x < 0.
    ("x**y", ["x=-2", "y=2"], "the gradient of y"),
]


@pytest.mark.parametrize(("expr", "at", "needle"), NOT_REAL, ids=[c[0] for c in NOT_REAL])
def test_a_value_that_is_not_real_is_one_line(expr: str, at: list[str], needle: str) -> None:
    line = assert_one_line_error(run("graph", expr, "--at", *at), "is not real at", needle)
    assert "I" not in line.replace("Inf", "")  # no complex number is shown as a result


NOT_FINITE = [
    ("x/y", ["x=1", "y=0"], "node out = x/y is not finite at x = 1, y = 0 (infinite)"),
    ("x/y", ["x=0", "y=0"], "(undefined, as 0/0 is)"),
    ("log(x)", ["x=0"], "node out = log(x) is not finite"),
    ("1/(x - 1)", ["x=1"], "not finite"),
    ("sqrt(x)", ["x=0"], "the gradient of x"),
    ("sqrt(x*y)", ["x=0", "y=1"], "the gradient of u1 = x*y"),
]


@pytest.mark.parametrize(("expr", "at", "needle"), NOT_FINITE, ids=[c[0] for c in NOT_FINITE])
def test_a_value_that_is_not_finite_is_one_line(expr: str, at: list[str], needle: str) -> None:
    assert_one_line_error(run("graph", expr, "--at", *at), "is not finite at", needle)


def test_real_points_of_the_same_functions_still_work() -> None:
    result = run("graph", "log(x) + sqrt(x) + x**1.5", "--at", "x=4")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "out = 11.3862943611" in lines  # log 4 + 2 + 8
    assert ["x", "3.5"] in [line.split() for line in lines]  # 1/4 + 1/4 + 3


def test_an_input_value_that_is_not_real_is_one_line() -> None:
    assert_one_line_error(run("graph", "x", "--at", "x=sqrt(-1)"), "must be a real number")


def test_an_output_named_like_an_input_is_one_line() -> None:
    # The inputs are real symbols and the output is not: the names are what must differ.
    assert_one_line_error(run("graph", "x = x*2", "--at", "x=1"), "the output name x")
