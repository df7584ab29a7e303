"""Index-map figures of the convolution's gather: what each panel highlights, checked against a
brute force over the textbook's im2col rule, on the SVG itself."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import sympy

import symgrad
from symgrad.index_figure import example_svg, index_map, index_map_svg
from symgrad.statements import Gather
from symgrad.tensors import index_symbol

NS = "{http://www.w3.org/2000/svg}"
Cell = tuple[int, int]


@pytest.fixture(scope="module")
def conv() -> symgrad.Derivation:
    return symgrad.derive(symgrad.catalog["Convolution"])


@pytest.fixture(scope="module")
def g(conv: symgrad.Derivation) -> Gather:
    return next(s for s in conv.forward if isinstance(s, Gather))


def _out_shape(h: int, w: int, fh: int, fw: int, stride: int, pad: int) -> Cell:
    return (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1


def _window(cell: Cell, fh: int, fw: int, stride: int, pad: int) -> dict[Cell, Cell]:
    """The textbook's rule: output (oh, ow) reads x[stride*oh + i - pad, stride*ow + j - pad]."""
    oh, ow = cell
    return {
        (i, j): (stride * oh + i - pad, stride * ow + j - pad)
        for i, j in itertools.product(range(fh), range(fw))
    }


def _brute_backward(
    dcell: Cell, h: int, w: int, fh: int, fw: int, stride: int, pad: int
) -> set[tuple[Cell, Cell]]:
    """Every (output cell, offset) whose forward window reads ``dcell``."""
    oh, ow = _out_shape(h, w, fh, fw, stride, pad)
    return {
        (o, k)
        for o in itertools.product(range(oh), range(ow))
        for k, p in _window(o, fh, fw, stride, pad).items()
        if p == dcell
    }


def _svg(g: Gather, h=5, w=5, fh=3, fw=3, stride=2, pad=1, cell=(1, 1), dcell=(1, 1)) -> str:
    sizes = {"H": h, "W": w, "FH": fh, "FW": fw}
    return index_map_svg(g, sizes, {"stride": stride, "pad": pad}, cell, dcell)


def _panel(svg: str, name: str) -> ET.Element:
    root = ET.fromstring(svg)
    (panel,) = [e for e in root.iter(f"{NS}g") if e.get("id") == name]
    return panel


def _cells(panel: ET.Element, state: str) -> list[ET.Element]:
    return [r for r in panel.iter(f"{NS}rect") if state in r.get("class", "").split()]


def _offset(text: str) -> Cell:
    a, b = text.split(",")
    return int(a), int(b)


def _read(svg: str) -> dict[Cell, Cell]:
    """Forward panel: in-range input cell (h, w) → the offset written in it."""
    cells = _cells(_panel(svg, "forward"), "read")
    return {
        (int(r.get("data-h")), int(r.get("data-w"))): _offset(r.get("data-offset")) for r in cells
    }


def _read_pad(svg: str) -> dict[Cell, Cell]:
    cells = _cells(_panel(svg, "forward"), "read-pad")
    return {
        (int(r.get("data-h")), int(r.get("data-w"))): _offset(r.get("data-offset")) for r in cells
    }


def _gathered(svg: str) -> set[tuple[Cell, Cell]]:
    """Backward panel: (output cell, offset) of every highlighted dout cell."""
    out = set()
    for r in _cells(_panel(svg, "backward"), "gathered"):
        o = (int(r.get("data-oh")), int(r.get("data-ow")))
        out |= {(o, _offset(t)) for t in r.get("data-offset").split(";")}
    return out


def test_the_example_is_valid_small_svg_with_both_panels_and_the_axis_labels(conv):
    svg = example_svg(conv)
    root = ET.fromstring(svg)
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg')
    assert root.tag == f"{NS}svg" and len(svg.encode()) < 30_000
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert {"forward", "backward (dx)", "h", "w", "oh", "ow"} <= set(texts)
    captions = [t for t in root.iter(f"{NS}text") if t.get("class") == "caption"]
    assert [c.text for c in captions] == [
        "col[0, 1, fh, fw] = x[fh − 1, fw + 1]; the padding reads 0",
        "dx[1, 1] = Σ_(fh, fw) dcol[(2 − fh)/2, (2 − fw)/2, fh, fw] (integer, in range)",
    ]
    # Every cell lies inside the viewBox.
    x0, y0, w, h = map(float, root.get("viewBox").split())
    for r in root.iter(f"{NS}rect"):
        x, y = float(r.get("x")), float(r.get("y"))
        assert x0 <= x and x + float(r.get("width")) <= x0 + w
        assert y0 <= y and y + float(r.get("height")) <= y0 + h


def test_the_example_shows_a_window_into_the_padding_and_four_windows_of_dx_1_1(conv):
    svg = example_svg(conv)
    assert _read(svg) == {(h, w): (h + 1, w - 1) for h in (0, 1) for w in (1, 2, 3)}
    assert _read_pad(svg) == {(-1, w): (0, w - 1) for w in (1, 2, 3)}
    assert _gathered(svg) == {
        ((0, 0), (2, 2)),
        ((0, 1), (2, 0)),
        ((1, 0), (0, 2)),
        ((1, 1), (0, 0)),
    }


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("pad", [0, 1])
def test_an_interior_output_cell_reads_the_whole_window(g, stride, pad):
    cell = (1, 1)
    svg = _svg(g, h=6, w=7, fh=3, fw=2, stride=stride, pad=pad, cell=cell)
    read = _read(svg)
    assert len(read) == 3 * 2 and not _read_pad(svg)
    assert read == {p: k for k, p in _window(cell, 3, 2, stride, pad).items()}
    assert len(_cells(_panel(svg, "forward"), "picked")) == 1


@pytest.mark.parametrize("stride", [1, 2])
def test_a_corner_cell_counts_only_the_cells_inside_the_input(g, stride):
    h = w = 5
    oh, ow = _out_shape(h, w, 3, 3, stride, 1)
    for cell in [(0, 0), (0, ow - 1), (oh - 1, 0), (oh - 1, ow - 1)]:
        svg = _svg(g, stride=stride, pad=1, cell=cell)
        window = _window(cell, 3, 3, stride, 1)
        inside = {p: k for k, p in window.items() if 0 <= p[0] < h and 0 <= p[1] < w}
        assert _read(svg) == inside
        assert len(_read(svg)) + len(_read_pad(svg)) == 9
    # The top-left window meets the padding along one row and one column: 2·2 cells are inside.
    assert len(_read(_svg(g, stride=stride, pad=1, cell=(0, 0)))) == 4


@pytest.mark.parametrize(
    ("h", "w", "fh", "fw", "stride", "pad"),
    [
        (5, 5, 3, 3, 1, 1),
        (5, 5, 3, 3, 2, 1),
        (6, 5, 3, 2, 2, 0),
        (7, 6, 2, 3, 2, 1),
        (4, 4, 2, 2, 1, 0),
    ],
)
def test_the_backward_panel_is_the_brute_force_transpose(g, h, w, fh, fw, stride, pad):
    seen = set()
    for dcell in [(0, 0), (1, 1), (1, 2), (h - 1, w - 1), (h // 2, 0), (2, w - 2)]:
        svg = _svg(g, h, w, fh, fw, stride, pad, cell=(0, 0), dcell=dcell)
        expected = _brute_backward(dcell, h, w, fh, fw, stride, pad)
        assert _gathered(svg) == expected, dcell
        (picked,) = _cells(_panel(svg, "backward"), "dpicked")
        assert (int(picked.get("data-h")), int(picked.get("data-w"))) == dcell
        seen.add(len(expected))
    assert max(seen) > 1  # the cases include a cell read by several windows


def test_the_backward_comes_from_the_inverse_and_a_wrong_inverse_is_refused(g, monkeypatch):
    m = index_map(g, {"H": 5, "W": 5, "FH": 3, "FW": 3}, {"stride": 2, "pad": 1})
    assert m.gathers((2, 3)) == m.transpose((2, 3)) == _brute_backward((2, 3), 5, 5, 3, 3, 2, 1)
    solved, summed, conditions = Gather.inverse(g)
    wrong = {**solved, "oh": solved["oh"] + 1}  # off by one: the picture would be wrong
    monkeypatch.setattr(Gather, "inverse", lambda self: (wrong, summed, conditions))
    with pytest.raises(ValueError, match="disagrees with the forward's transpose"):
        _svg(g, dcell=(1, 1))


def test_the_figure_is_deterministic(conv, g):
    assert _svg(g) == _svg(g)
    assert example_svg(conv) == example_svg(conv)
    # ...and does not depend on the hash seed (SymPy's print order can).
    code = (
        "import sys, symgrad; from symgrad.index_figure import example_svg; "
        "sys.stdout.write(example_svg(symgrad.derive(symgrad.catalog['Convolution'])))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout == example_svg(conv)


@pytest.mark.parametrize(
    ("cell", "dcell", "message"),
    [
        ((3, 0), (1, 1), r"cell \(3, 0\) is outside the output grid: \(oh, ow\) must lie in 3×3"),
        ((0, -1), (1, 1), r"cell \(0, -1\) is outside the output grid"),
        ((0, 0), (5, 0), r"dcell \(5, 0\) is outside the input: \(h, w\) must lie in 5×5"),
        ((0, 0), (-1, 0), r"dcell \(-1, 0\) is outside the input.*the padding has no gradient"),
        ((1,), (1, 1), r"cell \(1,\) is not a \(row, column\) pair of integers"),
        ((0, 0), (0.5, 1), r"dcell \(0.5, 1\) is not a \(row, column\) pair"),
    ],
)
def test_a_bad_cell_is_refused_with_a_clear_message(g, cell, dcell, message):
    with pytest.raises(ValueError, match=message):
        _svg(g, cell=cell, dcell=dcell)


def test_missing_sizes_or_constants_and_other_gathers_are_refused(g):
    with pytest.raises(ValueError, match=r"sizes \['FW'\] are needed"):
        index_map_svg(g, {"H": 5, "W": 5, "FH": 3}, {"stride": 1, "pad": 0}, (0, 0), (0, 0))
    with pytest.raises(ValueError, match=r"constants \['pad'\] are needed"):
        index_map_svg(g, {"H": 5, "W": 5, "FH": 3, "FW": 3}, {"stride": 1}, (0, 0), (0, 0))
    with pytest.raises(ValueError, match="reads beyond the padding"):
        sizes = {"H": 5, "W": 5, "FH": 3, "FW": 3, "OH": 4, "OW": 3}
        index_map_svg(g, sizes, {"stride": 1, "pad": 0}, (0, 0), (0, 0))
    with pytest.raises(ValueError, match="no sliding-window gather"):
        example_svg(symgrad.derive("Embedding"))


def test_index_map_evaluates_the_gathers_own_positions(g):
    m = index_map(g, {"H": 5, "W": 5, "FH": 3, "FW": 3}, {"stride": 2, "pad": 1})
    assert (m.shape, m.kernel, m.out_shape) == ((5, 5), (3, 3), (3, 3))
    assert (m.rows, m.cols) == (range(-1, 6), range(-1, 6))
    stride, pad = sympy.Symbol("stride"), sympy.Symbol("pad")
    h = g.indices[2].xreplace({stride: 2, pad: 1, index_symbol("oh"): 2, index_symbol("fh"): 1})
    assert m.reads((2, 0))[(1, 0)][0] == h == 4
