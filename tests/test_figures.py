"""Textbook figures of a computational graph: readable SVG and TikZ from one layout."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest
import sympy

from symgrad.evaluation import GraphEvaluation, evaluate_graph, fmt
from symgrad.figures import (
    ASCENT,
    DESCENT,
    Box,
    Edge,
    graph_svg,
    graph_tikz,
    layout,
    text_width,
)

NS = "{http://www.w3.org/2000/svg}"

SHOP = (
    "(apple*apple_num + orange*orange_num)*tax",
    ["apple=100", "apple_num=2", "orange=150", "orange_num=3", "tax=1.1"],
)
SIGMOID = ("1/(1+exp(-x))", ["x=0.5"])
FIG_5_2 = ("apple*2*1.1", ["apple=100"])  # constants folded into the nodes: ×2, then ×1.1
FIG_5_3 = ("apple*apple_num*tax", ["apple=100", "apple_num=2", "tax=1.1"])
MORE = [
    ("x*exp(x)", ["x=1"]),  # an input used twice: a fork and an edge that skips a column
    ("x*y + exp(x*y)", ["x=1", "y=2"]),  # a shared node
    ("tanh(w*x + b)", ["w=2", "x=0.5", "b=-1"]),
    ("a*b*c + d", ["a=1", "b=2", "c=3", "d=4"]),  # two binary ×, as written
    ("max(a, b, c)*d", ["a=1", "b=2", "c=3", "d=4"]),  # a node with three arguments
    ("log(1 + exp(x))*sin(y) + x**2", ["x=0.3", "y=2"]),
    ("max(x, 0)*w + sqrt(w)", ["x=-1", "w=4"]),
    ("(x - 1)/y + 2**x - 0.5/x", ["x=2", "y=4"]),  # labels -1, ÷, 2^x, 0.5/x
    ("-sigmoid(x)*0.044715 + x**0.5", ["x=4"]),  # wide constant labels widen every circle
]
ALL = [SHOP, SIGMOID, FIG_5_2, FIG_5_3, *MORE]


def _evaluate(text: str, at: list[str]) -> GraphEvaluation:
    return evaluate_graph(text, at)


@pytest.fixture(scope="module")
def shop() -> GraphEvaluation:
    return evaluate_graph(*SHOP)


@pytest.fixture(scope="module")
def sigmoid() -> GraphEvaluation:
    return _evaluate(*SIGMOID)


def _stems(svg: str) -> list[tuple[str, str]]:
    """(value, gradient) written on each stem, left to right then top to bottom."""
    texts = [t for t, _ in _texts(svg)]
    values = [t for t in texts if t.get("class") == "value"]
    pairs = []
    for above in sorted(values, key=lambda t: (float(t.get("x")), float(t.get("y")))):
        below = [t for t in texts if t.get("class") == "grad" and t.get("x") == above.get("x")]
        nearest = min(below, key=lambda t: abs(float(t.get("y")) - float(above.get("y"))))
        pairs.append((above.text, nearest.text))
    return pairs


def _texts(svg: str | ET.Element) -> list[tuple[ET.Element, ET.Element | None]]:
    """Every <text> with the node group (circle and op label) it belongs to, if any."""
    root = ET.fromstring(svg) if isinstance(svg, str) else svg
    groups = {id(t): g for g in root.iter(f"{NS}g") if g.get("class") == "node" for t in g}
    return [(t, groups.get(id(t))) for t in root.iter(f"{NS}text")]


def _box(text: ET.Element, default_size: float) -> Box:
    """The text's box in the char-count model: width from its length, height from its size."""
    size = float(text.get("font-size", default_size))
    x, y, w = float(text.get("x")), float(text.get("y")), text_width(text.text, size)
    x0 = x - {"start": 0.0, "middle": w / 2, "end": w}[text.get("text-anchor", "start")]
    return Box(x0, y - ASCENT * size, x0 + w, y + DESCENT * size)


def _circles(svg: str | ET.Element) -> list[ET.Element]:
    root = ET.fromstring(svg) if isinstance(svg, str) else svg
    return list(root.iter(f"{NS}circle"))


def _strings(svg: str) -> list[str]:
    return [t.text for t, _ in _texts(svg)]


def _samples(edge: Edge, n: int = 40) -> list[tuple[float, float]]:
    """Points along the edge's lines and cubic curves."""
    points, p = [edge.start], edge.start
    for seg in edge.segments:
        ctrl = (p, *seg) if len(seg) == 3 else (p, p, seg[0], seg[0])
        for i in range(1, n + 1):
            t = i / n
            w = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3)
            points.append(tuple(sum(wi * c[j] for wi, c in zip(w, ctrl)) for j in (0, 1)))
        p = seg[-1]
    return points


# The SVG document ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_svg_is_a_standalone_document_with_one_circle_per_node(case) -> None:
    evaluation = _evaluate(*case)
    svg = graph_svg(evaluation)
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and len(root.get("viewBox").split()) == 4
    assert root.find(f"{NS}title").text.startswith("Computational graph of out = ")
    assert root.find(f"{NS}rect").get("fill") == "white"
    assert len(_circles(svg)) == len(evaluation.graph.nodes)
    ops = sorted(t.text for t, group in _texts(svg) if group is not None)
    assert ops == sorted(n.op for n in evaluation.graph.nodes)


def test_shopping_figure_shows_the_textbook_numbers(shop) -> None:
    strings = _strings(graph_svg(shop))
    for number in ("100", "2", "150", "3", "1.1", "200", "450", "650", "715"):
        assert number in strings  # forward values
    for number in ("2.2", "110", "3.3", "165", "650", "1"):
        assert number in strings  # gradients
    names = ("apple", "apple_num", "orange", "orange_num", "tax", "out")
    assert set(names) <= set(strings)
    assert sorted(s for s in strings if s in "×+") == ["+", "×", "×", "×"]


def _stem(svg: str, value: str, grad: str) -> tuple[ET.Element, ET.Element]:
    texts = [t for t, _ in _texts(svg)]
    (above,) = [t for t in texts if t.get("class") == "value" and t.text == value]
    below = [t for t in texts if t.get("class") == "grad" and t.get("x") == above.get("x")]
    return above, min(below, key=lambda t: abs(float(t.get("y")) - float(above.get("y"))))


def test_figure_5_2_is_a_chain_with_the_constants_in_its_nodes() -> None:
    svg = graph_svg(evaluate_graph(*FIG_5_2))
    ops = [t.text for t, group in _texts(svg) if group is not None]
    assert ops == ["×2", "×1.1"]
    # apple 100 (∂ 2.2) → ×2 → 200 (∂ 1.1) → ×1.1 → 220 (∂ 1)
    assert _stems(svg) == [("100", "2.2"), ("200", "1.1"), ("220", "1")]


def test_figure_5_3_has_two_multiply_nodes() -> None:
    lay = layout(evaluate_graph(*FIG_5_3))
    assert [(d.op, d.column) for d in lay.discs] == [("×", 1), ("×", 2)]
    stems = _stems(graph_svg(evaluate_graph(*FIG_5_3)))
    assert {("100", "2.2"), ("2", "110"), ("1.1", "200"), ("200", "1.1"), ("220", "1")} == set(
        stems
    )


def test_values_are_written_above_the_line_and_gradients_below_in_red(shop) -> None:
    svg = graph_svg(shop)
    for value, grad in [("1.1", "650"), ("100", "2.2"), ("200", "1.1"), ("715", "1")]:
        above, below = _stem(svg, value, grad)
        assert below.text == grad
        assert float(above.get("y")) < float(below.get("y"))
        assert above.get("fill") is None and below.get("fill") == "#d40000"


def test_sigmoid_figure_shows_y_and_its_gradient_y_times_1_minus_y(sigmoid) -> None:
    strings = _strings(graph_svg(sigmoid))
    y = 1 / (1 + sympy.exp(-sympy.Rational(1, 2)))
    assert fmt(y) == "0.622459331202" and fmt(y) in strings
    assert fmt(y * (1 - y)) in strings  # ∂y/∂x below the x arrow
    assert {"0.5", "-0.5", fmt(sympy.exp(-sympy.Rational(1, 2))), fmt(-(y**2))} <= set(strings)
    assert sorted(t.text for t, g in _texts(graph_svg(sigmoid)) if g is not None) == sorted(
        ["×(-1)", "exp", "+1", "1/x"]
    )


# Nothing overlaps -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_no_two_texts_overlap(case) -> None:
    svg = graph_svg(_evaluate(*case))
    size = float(ET.fromstring(svg).get("font-size"))
    boxes = [(t.text, _box(t, size)) for t, _ in _texts(svg)]
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), (a, b)


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_texts_stay_out_of_other_nodes_circles(case) -> None:
    root = ET.fromstring(graph_svg(_evaluate(*case)))
    size = float(root.get("font-size"))
    for text, group in _texts(root):
        box = _box(text, size)
        for circle in _circles(root):
            if group is not None and circle in list(group):
                continue
            cx, cy, r = (float(circle.get(k)) for k in ("cx", "cy", "r"))
            assert not box.meets_circle(cx, cy, r), (text.text, circle.attrib)


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_own_op_label_fits_inside_its_circle(case) -> None:
    for d in layout(_evaluate(*case)).discs:
        b = d.label.box
        corners = [(b.x0, b.y0), (b.x0, b.y1), (b.x1, b.y0), (b.x1, b.y1)]
        assert all(math.dist(c, (d.x, d.y)) < d.r for c in corners), d.op


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_edges_cross_no_text_and_no_circle(case) -> None:
    lay = layout(_evaluate(*case))
    boxes = [lab.box for lab in lay.labels] + [d.label.box for d in lay.discs]
    for edge in lay.edges:
        for x, y in _samples(edge):
            assert not any(b.x0 < x < b.x1 and b.y0 < y < b.y1 for b in boxes), edge
            assert all(math.dist((x, y), (d.x, d.y)) > d.r - 0.5 for d in lay.discs), edge


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_arrows_run_left_to_right_into_their_node(case) -> None:
    lay = layout(_evaluate(*case))
    discs = {d.name: d for d in lay.discs}
    for edge in lay.edges:
        xs = [x for x, _ in _samples(edge)]
        assert xs == sorted(xs)
        if not edge.target:  # the output arrow
            continue
        target, end = discs[edge.target], edge.segments[-1][-1]
        assert math.dist(end, (target.x, target.y)) == pytest.approx(target.r)
        before = edge.segments[-1][-2] if len(edge.segments[-1]) == 3 else edge.points[-2]
        heading = (end[0] - before[0], end[1] - before[1])
        inward = (target.x - end[0], target.y - end[1])
        assert heading[0] * inward[0] + heading[1] * inward[1] > 0


def test_columns_follow_the_layout_rule(shop) -> None:
    lay = layout(shop)
    assert [(d.op, d.column) for d in lay.discs] == [("×", 1), ("×", 1), ("+", 2), ("×", 3)]
    xs = {d.column: d.x for d in lay.discs}
    assert xs[1] < xs[2] < xs[3]
    names = [lab for lab in lay.labels if lab.role == "name" and lab.text != "out"]
    assert all(lab.x < xs[1] and lab.anchor == "end" for lab in names)


# TikZ -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_tikz_is_one_balanced_picture_with_one_node_per_graph_node(case) -> None:
    evaluation = _evaluate(*case)
    tikz = graph_tikz(evaluation)
    body = tikz.replace(r"\{", "").replace(r"\}", "")
    assert body.count("{") == body.count("}")
    assert body.count("$") % 2 == 0
    assert tikz.count(r"\begin{tikzpicture}") == tikz.count(r"\end{tikzpicture}") == 1
    assert tikz.count(r"\node") == len(evaluation.graph.nodes)
    assert tikz.count(r"\draw[edge]") == len(layout(evaluation).edges)


def test_tikz_escapes_names_and_writes_ops_as_math(shop, sigmoid) -> None:
    tikz = graph_tikz(shop)
    assert r"{apple\_num}" in tikz and "apple_num" not in tikz.replace(r"\_", "")
    assert r"{$\times$}" in tikz and r"{$+$}" in tikz
    assert r"node[grad, anchor=base] {$650$}" in tikz and "text=red" in tikz
    ops = graph_tikz(sigmoid)
    for op in (r"{$\times(-1)$}", r"{$\exp$}", r"{$+1$}", r"{$1/x$}", "{$-0.5$}"):
        assert op in ops


def test_tikz_and_svg_draw_the_same_layout(shop) -> None:
    tikz, svg = graph_tikz(shop), graph_svg(shop)
    for circle in _circles(svg):
        assert f"at ({circle.get('cx')},{circle.get('cy')})" in tikz


# Determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [SHOP, SIGMOID], ids=["shop", "sigmoid"])
def test_output_is_deterministic(case) -> None:
    first, second = _evaluate(*case), _evaluate(*case)
    assert graph_svg(first) == graph_svg(first) == graph_svg(second)
    assert graph_tikz(first) == graph_tikz(first) == graph_tikz(second)
