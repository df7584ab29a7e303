"""Textbook figures of a computational graph: one layout, drawn as SVG or as TikZ.

The notation is that of "Deep Learning from Scratch", chapter 5. The inputs are written at the
left. Each node is a circle holding its operation ("×", "+", "exp", "1/x", "×(-1)", "+1", ...),
and arrows run left to right from each argument to the node that uses it. Each quantity leaves
its source on one line, and two numbers are written on that line: the forward value ABOVE it
(black), and the gradient ∂out/∂(source) BELOW it (red, the textbook's colour for the backward
pass). A quantity used by several nodes still has one line, which forks after its numbers, so
the red number is always the whole gradient. The output arrow leaves the last node with the
output's value above and 1 below. The nodes are those the user wrote (``apple*2*1.1`` is ×2
then ×1.1, as in the textbook's figure 5-2), and the numbers are the evaluation's own, exact.

Layout rule:

* Columns. Inputs are column 0, and a node's column is 1 + the largest column of its arguments.
  An edge that skips columns takes a reserved slot in each column it passes through.
* Rows. Items are the inputs, the nodes and the slots. A depth-first walk from the output
  (deepest argument first) assigns their rows. An item with no new children takes the next
  free row. Any other item is centred on its new children (real nodes and inputs first; slots
  count only when there is nothing else). Each item then owns a block of consecutive rows, so
  two items of one column are always at least one row apart.
* Zones. Each gap between two columns has a *label zone* and then a *branch zone*. In the label
  zone each source draws a horizontal stem at its own height, with its two numbers above and
  below it. In the branch zone the stem bends (a cubic curve) towards the nodes that use it.
  No text goes in a branch zone. A label zone is as wide as its longest number, every circle is
  sized by the longest op label, and a row is taller than two numbers and than a circle, so no
  two texts overlap and no text touches a circle or a line. Text is sized by a character-count
  model (:func:`text_width`); the tests check these promises on the SVG itself.

>>> from symgrad.evaluation import evaluate_graph
>>> shop = evaluate_graph("(apple*apple_num + orange*orange_num)*tax",
...     ["apple=100", "apple_num=2", "orange=150", "orange_num=3", "tax=1.1"])
>>> [(d.op, d.column) for d in layout(shop).discs]
[('×', 1), ('×', 1), ('+', 2), ('×', 3)]
>>> svg = graph_svg(shop)
>>> svg.count("<circle")   # one circle per node
4
>>> ">715<" in svg and ">650<" in svg   # the price, and ∂price/∂tax below the tax arrow
True
>>> graph_tikz(shop).count(r"\\node")
4
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from dataclasses import dataclass, replace

import sympy

from symgrad.evaluation import GraphEvaluation, fmt
from symgrad.graph import Graph
from symgrad.i18n import current, tr

__all__ = ["Box", "Disc", "Edge", "Label", "Layout", "graph_svg", "graph_tikz", "layout"]

FONT_SIZE = 13.0
"""Font size of names and numbers, in px."""
OP_FONT_SIZE = 16.0
"""Font size of the operations inside the circles, in px."""
CHAR_WIDTH = 0.64
"""Width of an ordinary character, in em. DejaVu Sans digits are 0.636 em; Arial's are less."""
WIDE_CHARS = frozenset("mwMW@%×")
"""Characters counted as a full em wide (and every CJK character: :func:`_is_wide`)."""
ASCENT, DESCENT = 0.8, 0.25
"""How far a text box reaches above and below its baseline, in em."""
LABEL_GAP = 5.0
"""Space between a line and the number above or below it."""
LABEL_MARGIN = 14.0
"""Space left and right of the numbers in a label zone."""
NAME_GAP = 8.0
"""Space between an input's or the output's name and its line."""
MIN_RADIUS = 20.0
MARGIN = 12.0
RED = "#d40000"
TIKZ_UNIT_CM = 0.02
"""One layout px in TikZ: 50 px to the centimetre (the shopping example is 14 cm wide)."""

Point = tuple[float, float]
Slot = tuple[sympy.Symbol, sympy.Symbol, int]
"""Where the edge ``source → target`` passes through ``column``."""
Item = sympy.Symbol | Slot


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Width of ``text`` at font size ``size``, from its character count.

    >>> text_width("715"), text_width("×")
    (24.96, 13.0)
    """
    return sum(size * (1.0 if _is_wide(c) else CHAR_WIDTH) for c in text)


def _is_wide(c: str) -> bool:
    """Whether ``c`` is counted as a full em: :data:`WIDE_CHARS`, and the CJK characters of a
    translated title or caption (East Asian wide or full-width).

    >>> _is_wide("m"), _is_wide("a"), _is_wide("順"), _is_wide("，")
    (True, False, True, True)
    """
    return c in WIDE_CHARS or unicodedata.east_asian_width(c) in ("W", "F")


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle (y grows downwards, as in SVG)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return (
            self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1
        )

    def meets_circle(self, cx: float, cy: float, r: float) -> bool:
        dx = max(self.x0 - cx, 0.0, cx - self.x1)
        dy = max(self.y0 - cy, 0.0, cy - self.y1)
        return dx * dx + dy * dy < r * r


@dataclass(frozen=True)
class Label:
    """A text at a baseline point; ``anchor`` is SVG's text-anchor."""

    text: str
    x: float
    y: float
    anchor: str  # "start", "middle" or "end"
    role: str  # "name", "op", "value" or "grad"
    size: float = FONT_SIZE

    @property
    def box(self) -> Box:
        w = text_width(self.text, self.size)
        x0 = self.x - {"start": 0.0, "middle": w / 2, "end": w}[self.anchor]
        return Box(x0, self.y - ASCENT * self.size, x0 + w, self.y + DESCENT * self.size)


@dataclass(frozen=True)
class Disc:
    """A node's circle; its op label sits in the middle."""

    name: str
    op: str
    column: int
    x: float
    y: float
    r: float

    @property
    def label(self) -> Label:
        lift = (ASCENT - DESCENT) / 2 * OP_FONT_SIZE
        return Label(self.op, self.x, self.y + lift, "middle", "op", OP_FONT_SIZE)


@dataclass(frozen=True)
class Edge:
    """A path from ``start``: each segment is ``(end,)`` (a line) or ``(c1, c2, end)`` (a curve)."""

    source: str
    target: str
    start: Point
    segments: tuple[tuple[Point, ...], ...]

    @property
    def points(self) -> tuple[Point, ...]:
        return (self.start, *(p for s in self.segments for p in s))


@dataclass(frozen=True)
class Layout:
    """Everything a renderer draws, in px, y downwards; ``box`` is the whole figure."""

    title: str
    box: Box
    discs: tuple[Disc, ...]
    labels: tuple[Label, ...]
    edges: tuple[Edge, ...]


@dataclass(frozen=True)
class _Grid:
    """Columns, rows and x positions of every item."""

    graph: Graph
    columns: dict[sympy.Symbol, int]
    rows: dict[Item, float]
    radius: float  # of every circle
    row_height: float
    zone: tuple[float, ...]  # width of the label zone after each column
    x: tuple[float, ...]

    def half(self, column: int) -> float:
        """Half the width of a column: inputs are points, nodes circles."""
        return self.radius if column else 0.0

    def column(self, item: Item) -> int:
        return item[2] if isinstance(item, tuple) else self.columns[item]

    def y(self, item: Item) -> float:
        return self.rows[item] * self.row_height

    def port(self, source: sympy.Symbol) -> Point:
        """Where the stem of ``source`` starts."""
        k = self.columns[source]
        return (self.x[k] + self.half(k), self.y(source))

    def stem_end(self, column: int) -> float:
        return self.x[column] + self.half(column) + self.zone[column]


def layout(evaluation: GraphEvaluation) -> Layout:
    """Place every circle, label and edge of the figure (see the module docstring)."""
    graph = evaluation.graph
    stems = _stem_texts(evaluation)
    grid = _grid(graph, stems)
    discs = tuple(_disc(grid, n.symbol, n.op) for n in graph.nodes)
    labels = _names(grid) + _stem_labels(grid, stems)
    edges = _edges(grid, {d.name: d for d in discs})
    title = tr("Computational graph of {output} = {expression}").format(
        output=graph.output, expression=graph.nodes[-1].value
    )
    return Layout(title, _extent(discs, labels, edges), discs, labels, edges)


def _stem_texts(evaluation: GraphEvaluation) -> dict[sympy.Symbol, tuple[str, str]]:
    """(value, ∂out/∂source) of every input and node, formatted."""
    known = {**evaluation.values, **evaluation.node_values}
    return {s: (fmt(known[s]), fmt(g)) for s, g in evaluation.node_gradients.items()}


def _grid(graph: Graph, stems: dict[sympy.Symbol, tuple[str, str]]) -> _Grid:
    columns = _columns(graph)
    r = max(_radius(n.op) for n in graph.nodes)
    count = max(columns.values()) + 1
    zone = tuple(_zone_width(columns, stems, k) for k in range(count))
    labels = 2 * (LABEL_GAP + (ASCENT + DESCENT) * FONT_SIZE)
    row_height = max(76.0, 2 * r + 28, labels + 24)
    grid = _Grid(graph, columns, _rows(graph, columns), r, row_height, zone, x=())
    xs = [0.0]
    for k in range(count - 1):
        # The branch zone widens with the steepest bend through it, within limits.
        branch = min(max(0.6 * _largest_drop(grid, k), 48.0), 200.0)
        xs.append(xs[k] + grid.half(k) + zone[k] + branch + grid.half(k + 1))
    return replace(grid, x=tuple(xs))


def _columns(graph: Graph) -> dict[sympy.Symbol, int]:
    """Inputs are column 0; a node is one column right of its rightmost argument."""
    columns = dict.fromkeys(graph.inputs, 0)
    for n in graph.nodes:
        columns[n.symbol] = 1 + max((columns.get(a, 0) for a in n.args), default=0)
    return columns


def _children(graph: Graph, columns: dict[sympy.Symbol, int], item: Item) -> list[Item]:
    """The items one column to the left joined to ``item``, deepest source first."""
    if isinstance(item, tuple):
        source, target, k = item
        return [_on_edge(columns, source, target, k - 1)]
    if item in graph.inputs:
        return []
    k = columns[item]
    kids = [_on_edge(columns, a, item, k - 1) for a in graph.node(item).args]
    return sorted(kids, key=lambda c: -columns[c[0] if isinstance(c, tuple) else c])


def _on_edge(
    columns: dict[sympy.Symbol, int], source: sympy.Symbol, target: sympy.Symbol, k: int
) -> Item:
    """The item in column ``k`` on the edge ``source → target``."""
    return source if columns[source] == k else (source, target, k)


def _rows(graph: Graph, columns: dict[sympy.Symbol, int]) -> dict[Item, float]:
    """Rows by a depth-first walk from the output: see "Rows" in the module docstring."""
    rows: dict[Item, float] = {}

    def place(item: Item) -> None:
        own = []
        for child in _children(graph, columns, item):
            if child not in rows:
                place(child)
                own.append(child)
        real = [c for c in own if not isinstance(c, tuple)] or own
        rows[item] = sum(rows[c] for c in real) / len(real) if real else _next_row(rows)

    place(graph.output)
    for v in graph.inputs:
        if v not in rows:
            rows[v] = _next_row(rows)
    return rows


def _next_row(rows: dict[Item, float]) -> float:
    """The first whole row below every row given so far."""
    return math.floor(max(rows.values(), default=-1.0)) + 1.0


def _radius(op: str) -> float:
    """Large enough for the op label's text box to fit inside the circle."""
    w, h = text_width(op, OP_FONT_SIZE), (ASCENT + DESCENT) * OP_FONT_SIZE
    return max(MIN_RADIUS, math.hypot(w / 2, h / 2) + 4)


def _zone_width(
    columns: dict[sympy.Symbol, int], stems: dict[sympy.Symbol, tuple[str, str]], k: int
) -> float:
    """Room for the longest number written on a stem leaving column ``k``."""
    texts = [t for s, pair in stems.items() if columns.get(s) == k for t in pair]
    return max(map(text_width, texts), default=0.0) + 2 * LABEL_MARGIN


def _largest_drop(grid: _Grid, k: int) -> float:
    """The largest height change of an edge between columns ``k`` and ``k + 1``."""
    drops = [
        abs(grid.y(child) - grid.y(item))
        for item in grid.rows
        if grid.column(item) == k + 1
        for child in _children(grid.graph, grid.columns, item)
    ]
    return max(drops, default=0.0)


def _disc(grid: _Grid, symbol: sympy.Symbol, op: str) -> Disc:
    k = grid.columns[symbol]
    return Disc(str(symbol), op, k, grid.x[k], grid.y(symbol), grid.radius)


def _names(grid: _Grid) -> tuple[Label, ...]:
    """Input names left of column 0 and the output's name after its arrow."""
    lift = (ASCENT - DESCENT) / 2 * FONT_SIZE
    names = [
        Label(str(v), grid.x[0] - NAME_GAP, grid.y(v) + lift, "end", "name")
        for v in grid.graph.inputs
    ]
    out = grid.graph.output
    end = grid.stem_end(grid.columns[out])
    names.append(Label(str(out), end + NAME_GAP, grid.y(out) + lift, "start", "name"))
    return tuple(names)


def _stem_labels(grid: _Grid, stems: dict[sympy.Symbol, tuple[str, str]]) -> tuple[Label, ...]:
    """Each source's value above its stem and its gradient below, centred in the label zone."""
    used = {a for n in grid.graph.nodes for a in n.args} | {grid.graph.output}
    labels = []
    for source, (value, grad) in stems.items():
        if source not in used:
            continue
        k = grid.columns[source]
        x = grid.x[k] + grid.half(k) + grid.zone[k] / 2
        y = grid.y(source)
        labels.append(Label(value, x, y - LABEL_GAP - DESCENT * FONT_SIZE, "middle", "value"))
        labels.append(Label(grad, x, y + LABEL_GAP + ASCENT * FONT_SIZE, "middle", "grad"))
    return tuple(labels)


def _edges(grid: _Grid, discs: dict[str, Disc]) -> tuple[Edge, ...]:
    edges = []
    for n in grid.graph.nodes:
        angles = _port_angles(grid, n.symbol, discs[str(n.symbol)])
        edges += [_edge(grid, a, n.symbol, discs[str(n.symbol)], angles[a]) for a in n.args]
    out = grid.graph.output
    end = (grid.stem_end(grid.columns[out]), grid.y(out))
    edges.append(Edge(str(out), "", grid.port(out), ((end,),)))
    return tuple(edges)


def _last_item(grid: _Grid, source: sympy.Symbol, target: sympy.Symbol) -> Item:
    """The item just left of ``target`` on the edge from ``source``."""
    return _on_edge(grid.columns, source, target, grid.columns[target] - 1)


def _port_angles(grid: _Grid, target: sympy.Symbol, disc: Disc) -> dict[sympy.Symbol, float]:
    """Where each argument's arrow meets the circle: an angle from the left, negative is up.

    Each arrow aims where it comes from, within ±40°; arrows that would meet too close
    together are spread evenly instead, in the order of their heights.
    """
    args = grid.graph.node(target).args
    dx = disc.x - grid.stem_end(grid.columns[target] - 1)
    heights = {a: grid.y(_last_item(grid, a, target)) for a in args}
    order = sorted(args, key=lambda a: (heights[a], args.index(a)))
    angles = [max(-0.7, min(0.7, math.atan2(heights[a] - disc.y, dx))) for a in order]
    if len(order) > 1 and min(b - a for a, b in itertools.pairwise(angles)) < 0.3:
        angles = [-0.7 + 1.4 * i / (len(order) - 1) for i in range(len(order))]
    return dict(zip(order, angles))


def _edge(
    grid: _Grid, source: sympy.Symbol, target: sympy.Symbol, disc: Disc, angle: float
) -> Edge:
    """Stem, then through any pass-through slots, then a curve into the target's circle."""
    k = grid.columns[source]
    point = (grid.stem_end(k), grid.y(source))
    segments: list[tuple[Point, ...]] = [(point,)]
    for j in range(k + 1, grid.columns[target]):
        y = grid.y((source, target, j))
        segments.append(_bend(point, (grid.x[j] - grid.half(j), y)))
        point = (grid.stem_end(j), y)
        segments.append((point,))
    segments.append(_into(point, disc, angle))
    return Edge(str(source), str(target), grid.port(source), tuple(segments))


def _bend(p: Point, q: Point) -> tuple[Point, ...]:
    """From ``p`` to ``q``, leaving and arriving horizontally."""
    if p[1] == q[1]:
        return (q,)
    d = (q[0] - p[0]) / 2
    return ((p[0] + d, p[1]), (q[0] - d, q[1]), q)


def _into(p: Point, disc: Disc, angle: float) -> tuple[Point, ...]:
    """From ``p`` (leaving horizontally) to the circle, arriving towards its centre."""
    ux, uy = math.cos(angle), -math.sin(angle)
    q = (disc.x - disc.r * ux, disc.y - disc.r * uy)
    if abs(q[1] - p[1]) < 1e-9:
        return (q,)
    d = (q[0] - p[0]) / 2
    return ((p[0] + d, p[1]), (q[0] - d * ux, q[1] - d * uy), q)


def _extent(discs: tuple[Disc, ...], labels: tuple[Label, ...], edges: tuple[Edge, ...]) -> Box:
    boxes = [lab.box for lab in labels] + [d.label.box for d in discs]
    boxes += [Box(d.x - d.r, d.y - d.r, d.x + d.r, d.y + d.r) for d in discs]
    boxes += [Box(x, y, x, y) for e in edges for x, y in e.points]
    return Box(
        min(b.x0 for b in boxes) - MARGIN,
        min(b.y0 for b in boxes) - MARGIN,
        max(b.x1 for b in boxes) + MARGIN,
        max(b.y1 for b in boxes) + MARGIN,
    )


# SVG ------------------------------------------------------------------------------------------


LEGEND_SIZE = 11.0
"""Font size of the legend under an SVG graph."""

# The fonts of a figure: Latin ones first (the numbers and names), then the CJK fonts of each
# system (Noto on Linux, as Debian's fonts-noto-cjk installs it; macOS; Windows), the reader's
# language first, so that a character shared by the three (計, 图) takes that language's form.
LATIN_FONTS = ("Helvetica", "Arial", "DejaVu Sans")
CJK_FONTS = {
    "ja": ("Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", "Meiryo"),
    "zh": ("Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei"),
    "ko": ("Noto Sans CJK KR", "Apple SD Gothic Neo", "Malgun Gothic"),
}


def font_family(lang: str) -> str:
    """The SVG ``font-family`` for a figure in ``lang``.

    >>> font_family("ko").split(", ")[3:5]
    ['Noto Sans CJK KR', 'Apple SD Gothic Neo']
    """
    order = [lang, *(k for k in CJK_FONTS if k != lang)] if lang in CJK_FONTS else list(CJK_FONTS)
    return ", ".join([*LATIN_FONTS, *(f for k in order for f in CJK_FONTS[k]), "sans-serif"])


def svg_root(box: Box) -> str:
    """The opening ``<svg>`` tag of a figure in the current language: its size, fonts and
    ``xml:lang`` (which a browser reads to pick the glyph forms of that language)."""
    lang = current()
    w, h = box.x1 - box.x0, box.y1 - box.y0
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xml:lang="{lang}"'
        f' viewBox="{_n(box.x0)} {_n(box.y0)} {_n(w)} {_n(h)}" width="{_n(w)}" height="{_n(h)}"'
        f' font-family="{font_family(lang)}" font-size="{_n(FONT_SIZE)}">'
    )


def _legend(box: Box, output: str) -> tuple[Label, ...]:
    """The two lines under the graph that say what its numbers are, in the reader's language."""
    x, y = box.x0 + MARGIN, box.y1 + ASCENT * LEGEND_SIZE
    above = tr("forward: the value above each arrow")
    below = tr("backward: ∂{output}/∂(source) below it, in red").format(output=output)
    return (
        Label(above, x, y, "start", "legend", LEGEND_SIZE),
        Label(below, x, y + 1.5 * LEGEND_SIZE, "start", "legend-grad", LEGEND_SIZE),
    )


def graph_svg(evaluation: GraphEvaluation) -> str:
    """The figure as a standalone SVG document, with a legend under it."""
    lay = layout(evaluation)
    out = str(evaluation.graph.output)
    legend = _legend(lay.box, out)
    b = lay.box
    b = Box(
        b.x0, b.y0, max(b.x1, *(lab.box.x1 + MARGIN for lab in legend)), legend[-1].box.y1 + MARGIN
    )
    w, h = b.x1 - b.x0, b.y1 - b.y0
    desc = tr("Forward values above each arrow, ∂{output}/∂(source) below in red.").format(
        output=out
    )
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        svg_root(b),
        f"<title>{_xml(lay.title)}</title>",
        f"<desc>{_xml(desc)}</desc>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10"'
        ' markerHeight="10" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,1 L10,5 L0,9 z" fill="black"/></marker></defs>',
        f'<rect x="{_n(b.x0)}" y="{_n(b.y0)}" width="{_n(w)}" height="{_n(h)}" fill="white"/>',
        '<g class="edges" fill="none" stroke="black" stroke-width="1.4"'
        ' stroke-linecap="round" stroke-linejoin="round">',
        *(_svg_edge(e) for e in lay.edges),
        "</g>",
        '<g class="nodes">',
        *(_svg_disc(d) for d in lay.discs),
        "</g>",
        '<g class="labels">',
        *(_svg_text(lab) for lab in lay.labels),
        "</g>",
        '<g class="legend">',
        *(_svg_text(lab) for lab in legend),
        "</g>",
        "</svg>",
    ]
    return "\n".join(lines) + "\n"


def _svg_edge(e: Edge) -> str:
    d = f"M{_pt(e.start)}" + "".join(
        f" L{_pt(s[0])}" if len(s) == 1 else f" C{_pt(s[0])} {_pt(s[1])} {_pt(s[2])}"
        for s in e.segments
    )
    return f'<path d="{d}" marker-end="url(#arrow)"/>'


def _svg_disc(d: Disc) -> str:
    circle = (
        f'<circle cx="{_n(d.x)}" cy="{_n(d.y)}" r="{_n(d.r)}"'
        ' fill="white" stroke="black" stroke-width="1.4"/>'
    )
    return f'<g class="node" id="{_xml(f"node-{d.name}")}">{circle}{_svg_text(d.label)}</g>'


def _svg_text(lab: Label) -> str:
    fill = f' fill="{RED}"' if lab.role in ("grad", "legend-grad") else ""
    size = f' font-size="{_n(lab.size)}"' if lab.size != FONT_SIZE else ""
    return (
        f'<text class="{lab.role}" x="{_n(lab.x)}" y="{_n(lab.y)}"'
        f' text-anchor="{lab.anchor}"{size}{fill}>{_xml(lab.text)}</text>'
    )


def _n(v: float) -> str:
    """A coordinate with one decimal, without a trailing ".0" or a "-0"."""
    s = f"{v:.1f}".removesuffix(".0")
    return "0" if s == "-0" else s


def _pt(p: Point) -> str:
    return f"{_n(p[0])},{_n(p[1])}"


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


# TikZ -----------------------------------------------------------------------------------------

_TIKZ_STYLES = (
    rf"x={TIKZ_UNIT_CM}cm, y=-{TIKZ_UNIT_CM}cm, font=\footnotesize,",
    r"op/.style={circle, draw, thick, fill=white, inner sep=0pt, font=\small},",
    r"value/.style={inner sep=0pt},",
    r"grad/.style={inner sep=0pt, text=red},",
    r"name/.style={inner sep=0pt},",
    r"edge/.style={thick, line cap=round, -{Stealth[length=6pt]}},",
)
_ANCHORS = {"start": "base west", "middle": "base", "end": "base east"}
_LATEX_FUNCTIONS = frozenset(
    ("exp", "log", "ln", "sin", "cos", "tan", "sinh", "cosh", "tanh", "max", "min")
)
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
}


def graph_tikz(evaluation: GraphEvaluation) -> str:
    r"""The figure as a ``tikzpicture``, at the SVG's coordinates (50 px to the cm).

    Needs ``\usepackage{tikz}`` and ``\usetikzlibrary{arrows.meta}`` in the preamble. A wide
    graph fits the page inside ``\resizebox{\linewidth}{!}{...}`` (from graphicx).
    """
    lay = layout(evaluation)
    lines = [
        f"% {_latex_text(lay.title)}",
        r"\begin{tikzpicture}[",
        *(f"  {style}" for style in _TIKZ_STYLES),
        "]",
        *(rf"\draw[edge] {_tikz_path(e)};" for e in lay.edges),
        *(_tikz_disc(d) for d in lay.discs),
        *(_tikz_label(lab) for lab in lay.labels),
        r"\end{tikzpicture}",
    ]
    return "\n".join(lines) + "\n"


def _tikz_path(e: Edge) -> str:
    parts = [_tikz_pt(e.start)]
    for s in e.segments:
        if len(s) == 1:
            parts.append(f"-- {_tikz_pt(s[0])}")
        else:
            parts.append(f".. controls {_tikz_pt(s[0])} and {_tikz_pt(s[1])} .. {_tikz_pt(s[2])}")
    return " ".join(parts)


def _tikz_disc(d: Disc) -> str:
    size = f"{2 * d.r * TIKZ_UNIT_CM:.3f}cm"
    return rf"\node[op, minimum size={size}] at {_tikz_pt((d.x, d.y))} {{{_tikz_op(d.op)}}};"


def _tikz_label(lab: Label) -> str:
    text = _tikz_number(lab.text) if lab.role in ("value", "grad") else _latex_text(lab.text)
    style = f"{lab.role}, anchor={_ANCHORS[lab.anchor]}"
    return rf"\path {_tikz_pt((lab.x, lab.y))} node[{style}] {{{text}}};"


def _tikz_pt(p: Point) -> str:
    return f"({_n(p[0])},{_n(p[1])})"


def _tikz_number(text: str) -> str:
    """Numbers in math mode (a real minus sign); anything else as escaped text."""
    if re.fullmatch(r"-?\d+(\.\d+)?(e[+-]?\d+)?", text):
        return f"${text}$"
    return _latex_text(text)


def _tikz_op(op: str) -> str:
    r"""An op label in math mode: ``×(-1)`` → ``$\times(-1)$``, ``exp`` → ``$\exp$``.

    >>> _tikz_op("×2"), _tikz_op("×pi"), _tikz_op("÷"), _tikz_op("2^x"), _tikz_op("x^0.5")
    ('$\\times2$', '$\\times\\pi$', '$\\div$', '${2}^{x}$', '$x^{0.5}$')
    """
    if op.isidentifier():
        name = op if op in _LATEX_FUNCTIONS else rf"mathrm{{{_latex_text(op)}}}"
        return rf"$\{name}$"
    if op == "√":
        return r"$\sqrt{x}$"
    if op == "^":
        return r"$x^y$"
    if op.startswith("x^"):
        return f"$x^{{{_latex_text(op[2:])}}}$"
    if op.endswith("^x"):  # a constant base: "2^x"
        return f"${{{_latex_text(op[:-2])}}}^{{x}}$"
    math = re.sub(r"(?<![A-Za-z])pi(?![A-Za-z])", r"\\pi ", _latex_text(op)).rstrip()
    math = math.replace("×", r"\times").replace("÷", r"\div")
    return "$" + re.sub(r"(\\times|\\div)(?=[A-Za-z])", r"\1 ", math) + "$"  # "×exp(2)": a space


def _latex_text(text: str) -> str:
    """``text`` with LaTeX's special characters escaped: ``apple_num`` → ``apple\\_num``."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in text)
