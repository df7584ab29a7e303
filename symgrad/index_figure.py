"""Index-map figures of a sliding-window gather: the book's im2col pictures, drawn as SVG.

The gather is the convolution's ``col[n, oh, ow, c, fh, fw] = x[n, c, stride*oh + fh - pad,
stride*ow + fw - pad]`` (any :class:`~symgrad.statements.Gather` that
:func:`~symgrad.statements.gather.window_of` recognises), drawn at small concrete sizes for one
channel (the leading axes ``n`` and ``c`` are 0). Two panels stand side by side:

* **forward**: the input ``x[h, w]`` with its zero-padding ring (grey, dashed; the ring's rows
  and columns are numbered ``−1``, ``H``, ...), and the output grid ``col[oh, ow]``, one cell per
  window. The chosen output cell is blue, and so are the input cells its window reads; each of
  those is labelled ``fh,fw``, the window offset at which it is read. Window cells that fall in
  the padding are drawn dashed with a grey label: they read 0.
* **backward (dx)**: the chosen input cell ``dx[h, w]`` in red, the backward colour of
  :mod:`symgrad.figures`, and the output cells whose gradient ``dcol[oh, ow, fh, fw]`` it
  gathers, red, each labelled with the offset ``fh,fw`` at which that window meets ``(h, w)``
  (the filter weight ``W[fn, c, fh, fw]`` the gradient passed through). These cells come from
  :meth:`Gather.inverse`: ``oh = (h + pad − fh)/stride`` over the summed ``fh``, kept where it is
  an integer inside the output grid. They are checked against the transpose of the forward
  panel, and a mismatch raises :class:`ValueError` rather than draw a wrong picture.

Cells are written ``(row, column)``: ``(h, w)``, ``(oh, ow)`` and offsets ``(fh, fw)``. Sizes
are named like :func:`~symgrad.tensors.axis_size` (``H``, ``W``, ``FH``, ``FW``, and optionally
``OH``, ``OW``); constants by their symbols' names (``stride``, ``pad``). Fonts, text widths,
the red and the number format are those of :mod:`symgrad.figures`; the output is deterministic.

>>> import symgrad
>>> from symgrad.statements import Gather
>>> d = symgrad.derive(symgrad.catalog["Convolution"])
>>> g = next(s for s in d.forward if isinstance(s, Gather))
>>> sizes = {"H": 5, "W": 5, "FH": 3, "FW": 3}
>>> svg = index_map_svg(g, sizes, {"stride": 2, "pad": 1}, cell=(1, 1), dcell=(1, 1))
>>> svg.count('class="cell read"')   # the 3×3 window of col[1, 1], all inside x
9
>>> svg.count('class="cell gathered"')  # dx[1, 1] gathers four windows' gradients
4
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy

from symgrad.figures import (
    ASCENT,
    DESCENT,
    FONT_SIZE,
    MARGIN,
    RED,
    Box,
    Label,
    _n,
    _svg_text,
    _xml,
    svg_root,
)
from symgrad.figures import text_width as _width
from symgrad.i18n import tr, tr_n
from symgrad.statements.gather import Gather, window_of
from symgrad.tensors import axis_size, index_symbol

if TYPE_CHECKING:
    from symgrad.engine import Derivation

__all__ = ["IndexMap", "example_svg", "index_map", "index_map_svg"]

Cell = tuple[int, int]
"""A (row, column) position: ``(h, w)``, ``(oh, ow)`` or a window offset ``(fh, fw)``."""

SMALL = 11.0
"""Font size of the offsets in the cells and of the row and column numbers, in px."""
TITLE_SIZE = 15.0
"""Font size of a panel's title, in px."""
BLUE = "#1f5fbf"
"""The forward highlight (the backward one is :data:`symgrad.figures.RED`)."""
GREY = "#8c8c8c"
ARROW = 46.0
"""Length of the arrow from a panel's left grid to its right one."""
PANEL_GAP = 48.0

_FILLS = {  # state -> (fill, stroke, stroke-width, dashed)
    "in": ("white", "#444444", 1.0, False),
    "pad": ("#f0f0f0", "#a6a6a6", 1.0, True),
    "read": ("#cfe0f7", BLUE, 1.6, False),
    "read-pad": ("#e8eef7", BLUE, 1.2, True),
    "picked": ("#cfe0f7", BLUE, 2.4, False),
    "dpicked": ("#f8d3d3", RED, 2.4, False),
    "gathered": ("#f8d3d3", RED, 1.6, False),
}
"""How a cell is drawn, by its state; later states are drawn over earlier ones."""


@dataclass(frozen=True)
class IndexMap:
    """A sliding-window gather at concrete sizes: which input cell every window cell reads.

    ``forward[(oh, ow)][(fh, fw)]`` is the ``(h, w)`` read there, inside ``x`` or in its padding.
    ``rows`` and ``cols`` span the padded input; ``shape`` is the input's own ``(H, W)``.
    """

    gather: Gather
    source_axes: tuple[str, str]  # ("h", "w")
    output_axes: tuple[str, str]  # ("oh", "ow")
    window_axes: tuple[str, str]  # ("fh", "fw")
    shape: Cell
    out_shape: Cell
    kernel: Cell
    rows: range
    cols: range
    constants: tuple[tuple[str, int], ...]
    fixed: dict[sympy.Symbol, sympy.Integer]  # the constants, and the leading axes at 0
    forward: dict[Cell, dict[Cell, Cell]]

    def inside(self, p: Cell) -> bool:
        """Whether ``p`` is a cell of the input itself (not of its padding)."""
        return 0 <= p[0] < self.shape[0] and 0 <= p[1] < self.shape[1]

    def reads(self, cell: Cell) -> dict[Cell, Cell]:
        """The input cell read at each offset of the window of output ``cell``."""
        if cell not in self.forward:
            oh, ow = self.output_axes
            raise ValueError(
                tr(
                    "cell {cell} is outside the output grid: ({row}, {column}) must lie in "
                    "{rows}×{columns}, 0 ≤ {row} < {rows} and 0 ≤ {column} < {columns}"
                ).format(
                    cell=cell, row=oh, column=ow, rows=self.out_shape[0], columns=self.out_shape[1]
                )
            )
        return self.forward[cell]

    def transpose(self, dcell: Cell) -> set[tuple[Cell, Cell]]:
        """The (output cell, offset) pairs whose forward window reads ``dcell``."""
        return {
            (o, k) for o, window in self.forward.items() for k, p in window.items() if p == dcell
        }

    def gathers(self, dcell: Cell) -> set[tuple[Cell, Cell]]:
        """The (output cell, offset) pairs ``dx[dcell]`` gathers, from :meth:`Gather.inverse`.

        The solved output positions are evaluated at ``dcell`` over every value of the summed
        window axes; those that are integers inside the output grid are kept.
        """
        self._check_input_cell(dcell)
        solved, summed, conditions = self.gather.inverse()
        if conditions or set(summed) != set(self.window_axes):
            raise ValueError(f"{self.gather!r}: its inverse is not a gather over the window")
        if any(o not in solved for o in self.output_axes):
            raise ValueError(f"{self.gather!r}: its inverse leaves an output axis unsolved")
        at = dict(self.fixed)
        at.update({index_symbol(a): sympy.Integer(v) for a, v in zip(self.source_axes, dcell)})
        extent = dict(zip(self.window_axes, self.kernel))
        out = set()
        for values in itertools.product(*(range(extent[a]) for a in summed)):
            here = {**at, **{index_symbol(a): sympy.Integer(v) for a, v in zip(summed, values)}}
            positions = [sympy.sympify(solved[o]).xreplace(here) for o in self.output_axes]
            if not all(p.is_Integer for p in positions):
                continue  # a stride skips this offset: the dilation's zeros
            o = (int(positions[0]), int(positions[1]))
            if 0 <= o[0] < self.out_shape[0] and 0 <= o[1] < self.out_shape[1]:
                k = dict(zip(summed, values))
                out.add((o, (k[self.window_axes[0]], k[self.window_axes[1]])))
        return out

    def _check_input_cell(self, dcell: Cell) -> None:
        if not self.inside(dcell):
            h, w = self.source_axes
            raise ValueError(
                tr(
                    "dcell {cell} is outside the input: ({row}, {column}) must lie in "
                    "{rows}×{columns}, 0 ≤ {row} < {rows} and 0 ≤ {column} < {columns} "
                    "(the padding has no gradient)"
                ).format(cell=dcell, row=h, column=w, rows=self.shape[0], columns=self.shape[1])
            )


def index_map(g: Gather, sizes: Mapping[str, int], constants: Mapping[str, int]) -> IndexMap:
    """Evaluate the index map of ``g`` at ``sizes`` and ``constants`` (see the module docstring).

    ``OH`` and ``OW`` default to the number of windows that fit in the padded input.
    """
    window = window_of(g)
    if window is None:
        raise ValueError(
            tr("{gather} is not a sliding window over two axes: nothing to draw").format(
                gather=repr(g)
            )
        )
    outputs, windows = window.outputs, window.windows
    spatial = tuple(
        a for a, i in zip(g.source.axes, g.indices) if index_symbol(outputs[0]) in i.free_symbols
    ) + tuple(
        a for a, i in zip(g.source.axes, g.indices) if index_symbol(outputs[1]) in i.free_symbols
    )
    targets = {index_symbol(a) for a in g.target.axes}
    names = sorted({s.name for i in g.indices for s in i.free_symbols if s not in targets})
    missing = [c for c in names if c not in constants]
    if missing:
        raise ValueError(
            tr("constants {names} are needed to draw {gather}").format(
                names=missing, gather=repr(g)
            )
        )
    fixed = {sympy.Symbol(c): sympy.Integer(constants[c]) for c in names}
    lead = [a for a in g.target.axes if a not in (*outputs, *windows)]
    fixed.update({index_symbol(a): sympy.Integer(0) for a in lead})
    shape = _sizes(sizes, spatial)
    kernel = _sizes(sizes, windows)
    pad = int(sympy.sympify(window.pad).xreplace(fixed))
    stride = sympy.sympify(window.stride).xreplace(fixed)
    if not (stride.is_Integer and stride > 0 and pad >= 0):
        raise ValueError(
            tr("stride {stride} and pad {pad}: a positive and a non-negative integer").format(
                stride=stride, pad=pad
            )
        )
    fits = tuple((n + 2 * pad - k) // int(stride) + 1 for n, k in zip(shape, kernel))
    if min(fits) < 1:
        raise ValueError(
            tr("a {kernel} window does not fit a {shape} input padded by {pad}").format(
                kernel=kernel, shape=shape, pad=pad
            )
        )
    out_shape = tuple(int(sizes.get(axis_size(o).name, f)) for o, f in zip(outputs, fits))
    positions = [g.indices[g.source.axes.index(a)] for a in spatial]
    forward: dict[Cell, dict[Cell, Cell]] = {}
    for o in itertools.product(range(out_shape[0]), range(out_shape[1])):
        window_cells = {}
        for k in itertools.product(range(kernel[0]), range(kernel[1])):
            at = {**fixed, **{index_symbol(a): sympy.Integer(v) for a, v in zip(outputs, o)}}
            at.update({index_symbol(a): sympy.Integer(v) for a, v in zip(windows, k)})
            p = [sympy.sympify(e).xreplace(at) for e in positions]
            if not all(v.is_Integer for v in p):
                raise ValueError(
                    tr("{gather} reads a position that is not an integer: {position}").format(
                        gather=repr(g), position=p
                    )
                )
            window_cells[k] = (int(p[0]), int(p[1]))
        forward[o] = window_cells
    read = [p for w in forward.values() for p in w.values()]
    rows = range(-pad, shape[0] + pad)
    cols = range(-pad, shape[1] + pad)
    if any(p[0] not in rows or p[1] not in cols for p in read):
        raise ValueError(
            tr("an output grid of {shape} reads beyond the padding ({pad})").format(
                shape=out_shape, pad=pad
            )
        )
    return IndexMap(
        g,
        spatial,
        outputs,
        windows,
        shape,
        out_shape,
        kernel,
        rows,
        cols,
        tuple((c, int(constants[c])) for c in names),
        fixed,
        forward,
    )


def _sizes(sizes: Mapping[str, int], axes: Iterable[str]) -> Cell:
    names = [axis_size(a).name for a in axes]
    missing = [n for n in names if n not in sizes]
    if missing:
        raise ValueError(
            tr("sizes {missing} are needed (sizes are named like {names})").format(
                missing=missing, names=names
            )
        )
    values = tuple(int(sizes[n]) for n in names)
    if min(values) < 1:
        raise ValueError(
            tr("sizes {sizes} must be positive").format(sizes=dict(zip(names, values)))
        )
    return values[0], values[1]


def index_map_svg(
    g: Gather,
    sizes: dict[str, int],
    constants: dict[str, int],
    cell: tuple[int, int],
    dcell: tuple[int, int],
) -> str:
    """The two-panel figure (module docstring) as a standalone SVG document.

    ``cell`` is the output cell ``(oh, ow)`` whose window the forward panel shows, ``dcell`` the
    input cell ``(h, w)`` whose gradient the backward panel shows.
    """
    m = index_map(g, sizes, constants)
    cell, dcell = _as_cell(cell, "cell"), _as_cell(dcell, "dcell")
    window = m.reads(cell)
    m._check_input_cell(dcell)
    gathered = m.gathers(dcell)
    expected = m.transpose(dcell)
    if gathered != expected:
        raise ValueError(
            f"the backward of {g!r} from Gather.inverse() disagrees with the forward's transpose "
            f"at {dcell}: only in the inverse {sorted(gathered - expected)}, only in the "
            f"transpose {sorted(expected - gathered)}"
        )
    source, target = g.source.name, g.target.name
    h, w = m.source_axes
    oh, ow = m.output_axes

    x_states: dict[Cell, tuple[str, str]] = {}
    for k, p in window.items():
        x_states[p] = ("read" if m.inside(p) else "read-pad", f"{k[0]},{k[1]}")
    forward = _panel(
        tr("forward"),
        (
            _Grid(
                tr("{tensor} (padded by {pad})").format(tensor=source, pad=_pad(m)),
                (h, w),
                m,
                x_states,
                True,
            ),
            _Grid(f"{target}[{oh}, {ow}]", (oh, ow), m, {cell: ("picked", "")}, False),
        ),
        _forward_caption(m, cell, source, target),
    )
    offsets: dict[Cell, list[Cell]] = {}
    for o, k in sorted(gathered):
        offsets.setdefault(o, []).append(k)
    out_states = {o: ("gathered", ";".join(f"{a},{b}" for a, b in ks)) for o, ks in offsets.items()}
    backward = _panel(
        tr("backward ({gradient})").format(gradient=f"d{source}"),
        (
            _Grid(f"d{source}", (h, w), m, {dcell: ("dpicked", "")}, True),
            _Grid(f"d{target}[{oh}, {ow}]", (oh, ow), m, out_states, False),
        ),
        _backward_caption(m, dcell, source, target),
        right_to_left=True,
    )
    panels = [forward, _shift(backward, forward.box.x1 - backward.box.x0 + PANEL_GAP)]
    box = Box(
        min(p.box.x0 for p in panels) - MARGIN,
        min(p.box.y0 for p in panels) - MARGIN,
        max(p.box.x1 for p in panels) + MARGIN,
        max(p.box.y1 for p in panels) + MARGIN,
    )
    return _document(m, box, panels, cell, dcell, len(gathered))


def _as_cell(value: object, what: str) -> Cell:
    """``value`` as a (row, column) pair of ints, else a ValueError that says what it is."""
    try:
        row, column = value  # type: ignore[misc]
        if int(row) == row and int(column) == column:
            return int(row), int(column)
    except (TypeError, ValueError):
        pass
    raise ValueError(
        tr("{name} {value} is not a (row, column) pair of integers").format(
            name=what, value=repr(value)
        )
    )


def example_svg(d: Derivation) -> str:
    """The figure for a small convolution: a 5×5 input, a 3×3 filter, stride 2, pad 1.

    The forward panel shows the window of ``col[0, 1]`` (it reaches into the padding), the
    backward panel ``dx[1, 1]``, which four windows read. ``d`` is a derivation with a sliding
    window gather (``symgrad.derive(catalog["Convolution"])``); its declared output sizes
    (``oh = 1 + (H + 2*pad - FH) // stride``) give ``OH`` and ``OW``.
    """
    g = next((s for s in d.forward if isinstance(s, Gather) and window_of(s)), None)
    if g is None:
        raise ValueError(tr("{layer} has no sliding-window gather to draw").format(layer=d.name))
    window = window_of(g)
    constants = {}
    for expr, value in ((window.stride, 2), (window.pad, 1)):
        if isinstance(expr, sympy.Symbol):
            constants[expr.name] = value
    given = {axis_size(a): 5 for a in g.sliding()}
    given.update({axis_size(a): 3 for a in window.windows})
    at = {**given, **{sympy.Symbol(c): sympy.Integer(v) for c, v in constants.items()}}
    for axis, formula in dict(d.spec.sizes).items():
        if axis in window.outputs:
            given[axis_size(axis)] = int(sympy.sympify(formula).xreplace(at))
    sizes = {s.name: int(v) for s, v in given.items()}
    return index_map_svg(g, sizes, constants, cell=(0, 1), dcell=(1, 1))


# Layout ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """A grid to draw: the input (with its padding) or the output, and its marked cells."""

    name: str
    axes: tuple[str, str]
    map: IndexMap
    states: dict[Cell, tuple[str, str]]  # cell -> (state, label)
    is_input: bool

    @property
    def rows(self) -> range:
        return self.map.rows if self.is_input else range(self.map.out_shape[0])

    @property
    def cols(self) -> range:
        return self.map.cols if self.is_input else range(self.map.out_shape[1])

    def state(self, p: Cell) -> str:
        if p in self.states:
            return self.states[p][0]
        return "in" if not self.is_input or self.map.inside(p) else "pad"


@dataclass(frozen=True)
class _Rect:
    x: float
    y: float
    size: float
    state: str
    attrs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Panel:
    rects: tuple[_Rect, ...]
    labels: tuple[tuple[Label, str], ...]  # (label, style): "", "grey", "red", "axis", "bold"
    arrow: tuple[float, float, float]  # x0, x1, y
    box: Box


def _cell_size(grids: Iterable[_Grid]) -> float:
    texts = [t for g in grids for _, t in g.states.values()]
    return max(34.0, *(_width(t, SMALL) + 10 for t in texts))


def _panel(
    title: str, grids: tuple[_Grid, _Grid], caption: str, right_to_left: bool = False
) -> _Panel:
    """Title; the two grids side by side, centred on one line, an arrow between; a caption."""
    size = _cell_size(grids)
    line = (ASCENT + DESCENT) * FONT_SIZE
    small = (ASCENT + DESCENT) * SMALL
    title_y = ASCENT * TITLE_SIZE
    head = line + 4 + line + 3 + small + 4  # name, axis label, column numbers
    heights = [len(g.rows) * size for g in grids]
    middle = title_y + DESCENT * TITLE_SIZE + 12 + head + max(heights) / 2
    labels: list[tuple[Label, str]] = [
        (Label(title, 0.0, title_y, "start", "title", TITLE_SIZE), "bold")
    ]
    rects: list[_Rect] = []
    x = 0.0
    edges = []
    for grid, height in zip(grids, heights):
        numbers = max(_width(_num(r), SMALL) for r in grid.rows)
        axis_w = _width(grid.axes[0])
        gx = x + axis_w + 6 + numbers + 4
        gy = middle - height / 2
        rects += _cells(grid, gx, gy, size, labels)
        width = len(grid.cols) * size
        lift = (ASCENT - DESCENT) / 2
        for i, r in enumerate(grid.rows):
            style = "" if not grid.is_input or r in range(grid.map.shape[0]) else "grey"
            y = gy + (i + 0.5) * size + lift * SMALL
            labels.append((Label(_num(r), gx - 4, y, "end", "index", SMALL), style))
        for j, c in enumerate(grid.cols):
            style = "" if not grid.is_input or c in range(grid.map.shape[1]) else "grey"
            y = gy - 4 - DESCENT * SMALL
            labels.append(
                (Label(_num(c), gx + (j + 0.5) * size, y, "middle", "index", SMALL), style)
            )
        axis_y = gy - 4 - small - 3 - DESCENT * FONT_SIZE
        labels.append((Label(grid.axes[1], gx + width / 2, axis_y, "middle", "axis"), "axis"))
        labels.append(
            (Label(grid.axes[0], x + axis_w, middle + lift * FONT_SIZE, "end", "axis"), "axis")
        )
        name_y = axis_y - ASCENT * FONT_SIZE - 4 - DESCENT * FONT_SIZE
        labels.append((Label(grid.name, gx + width / 2, name_y, "middle", "name"), ""))
        edges.append((x, gx + width))
        x = gx + width + 14 + ARROW + 24
    arrow = (edges[0][1] + 14, edges[0][1] + 14 + ARROW, middle)
    if right_to_left:
        arrow = (arrow[1], arrow[0], middle)
    bottom = middle + max(heights) / 2
    style = "red" if right_to_left else ""
    labels.append(
        (Label(caption, 0.0, bottom + 16 + ASCENT * FONT_SIZE, "start", "caption"), style)
    )
    boxes = [lab.box for lab, _ in labels] + [
        Box(r.x, r.y, r.x + r.size, r.y + r.size) for r in rects
    ]
    box = Box(
        min(b.x0 for b in boxes),
        min(b.y0 for b in boxes),
        max(b.x1 for b in boxes),
        max(b.y1 for b in boxes),
    )
    return _Panel(tuple(rects), tuple(labels), arrow, box)


def _cells(
    grid: _Grid, gx: float, gy: float, size: float, labels: list[tuple[Label, str]]
) -> list[_Rect]:
    rects = []
    first, second = grid.axes
    lift = (ASCENT - DESCENT) / 2 * SMALL
    for i, r in enumerate(grid.rows):
        for j, c in enumerate(grid.cols):
            state = grid.state((r, c))
            attrs = [(f"data-{first}", str(r)), (f"data-{second}", str(c))]
            text = grid.states.get((r, c), ("", ""))[1]
            if text:
                attrs.append(("data-offset", text))
                style = {"read": "blue", "read-pad": "grey", "gathered": "red"}.get(state, "")
                x, y = gx + (j + 0.5) * size, gy + (i + 0.5) * size + lift
                labels.append((Label(text, x, y, "middle", "offset", SMALL), style))
            rects.append(_Rect(gx + j * size, gy + i * size, size, state, tuple(attrs)))
    return rects


def _shift(p: _Panel, dx: float) -> _Panel:
    rects = tuple(_Rect(r.x + dx, r.y, r.size, r.state, r.attrs) for r in p.rects)
    labels = tuple(
        (Label(lab.text, lab.x + dx, lab.y, lab.anchor, lab.role, lab.size), s)
        for lab, s in p.labels
    )
    arrow = (p.arrow[0] + dx, p.arrow[1] + dx, p.arrow[2])
    return _Panel(rects, labels, arrow, Box(p.box.x0 + dx, p.box.y0, p.box.x1 + dx, p.box.y1))


def _num(v: int) -> str:
    return str(v).replace("-", "−")


def _pad(m: IndexMap) -> str:
    return str(-m.rows.start)


def _affine(symbol: str, constant: int) -> str:
    """``fh − 1``, ``fh + 2``, ``fh``."""
    if constant == 0:
        return symbol
    return f"{symbol} {'−' if constant < 0 else '+'} {abs(constant)}"


def _forward_caption(m: IndexMap, cell: Cell, source: str, target: str) -> str:
    """``col[0, 1, fh, fw] = x[fh − 1, fw + 1]``, from the window's first cell."""
    fh, fw = m.window_axes
    start = m.forward[cell][(0, 0)]
    text = f"{target}[{cell[0]}, {cell[1]}, {fh}, {fw}] = {source}[{_affine(fh, start[0])}, "
    text += f"{_affine(fw, start[1])}]"
    padding = sum(not m.inside(p) for p in m.forward[cell].values())
    return tr("{formula}; the padding reads 0").format(formula=text) if padding else text


def _backward_caption(m: IndexMap, dcell: Cell, source: str, target: str) -> str:
    """``dx[1, 1] = Σ dcol[(2 − fh)/2, (2 − fw)/2, fh, fw]``: the inverse at ``dcell``."""
    solved, _, _ = m.gather.inverse()
    at = dict(m.fixed)
    at.update({index_symbol(a): sympy.Integer(v) for a, v in zip(m.source_axes, dcell)})
    parts = []
    for o, k in zip(m.output_axes, m.window_axes):
        e = sympy.sympify(solved[o]).xreplace(at)
        slope = sympy.diff(e, index_symbol(k))
        constant = e.xreplace({index_symbol(k): sympy.Integer(0)})
        stride = -1 / slope
        if not (stride.is_Integer and (constant * stride).is_Integer):
            parts.append(str(e))  # not the usual (h + pad − fh)/stride
        elif stride == 1:
            parts.append(f"{_num(int(constant))} − {k}")
        else:
            parts.append(f"({_num(int(constant * stride))} − {k})/{stride}")
    fh, fw = m.window_axes
    formula = (
        f"d{source}[{dcell[0]}, {dcell[1]}] = Σ_({fh}, {fw}) d{target}[{parts[0]}, {parts[1]}, "
        f"{fh}, {fw}]"
    )
    return tr("{formula} (integer, in range)").format(formula=formula)


# SVG ------------------------------------------------------------------------------------------

_TEXT_STYLES = {
    "": "",
    "grey": f' fill="{GREY}"',
    "blue": f' fill="{BLUE}"',
    "red": f' fill="{RED}"',
    "axis": ' font-style="italic"',
    "bold": ' font-weight="bold"',
}


def _document(
    m: IndexMap, b: Box, panels: list[_Panel], cell: Cell, dcell: Cell, count: int
) -> str:
    w, h = b.x1 - b.x0, b.y1 - b.y0
    source, target = m.gather.source.name, m.gather.target.name
    title = tr("Index map of {gather}").format(gather=repr(m.gather))
    sizes = (
        f"H×W = {m.shape[0]}×{m.shape[1]}, FH×FW = {m.kernel[0]}×{m.kernel[1]}, "
        f"{', '.join(f'{c} = {v}' for c, v in m.constants)}."
    )
    forward = tr("Forward: the window of {cell} in {source}, offsets (fh, fw) in its cells.")
    backward = tr_n(
        "Backward: the {count} cell of {gradient} that {cell} gathers, with the offset it meets "
        "it at.",
        "Backward: the {count} cells of {gradient} that {cell} gathers, with the offset each "
        "meets it at.",
        count,
    )
    desc = " ".join(
        (
            sizes,
            forward.format(cell=f"{target}[{cell[0]}, {cell[1]}]", source=source),
            backward.format(
                count=count, gradient=f"d{target}", cell=f"d{source}[{dcell[0]}, {dcell[1]}]"
            ),
        )
    )
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        svg_root(b),
        f"<title>{_xml(title)}</title>",
        f"<desc>{_xml(desc)}</desc>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10"'
        ' markerHeight="10" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,1 L10,5 L0,9 z" fill="black"/></marker></defs>',
        f'<rect x="{_n(b.x0)}" y="{_n(b.y0)}" width="{_n(w)}" height="{_n(h)}" fill="white"/>',
    ]
    for panel, name in zip(panels, ("forward", "backward")):
        lines.append(f'<g class="panel" id="{name}">')
        lines += _svg_rects(panel.rects)
        x0, x1, y = panel.arrow
        lines.append(
            f'<path class="arrow" d="M{_n(x0)},{_n(y)} L{_n(x1)},{_n(y)}" stroke="black"'
            ' stroke-width="1.4" marker-end="url(#arrow)"/>'
        )
        for style, group in itertools.groupby(panel.labels, key=lambda t: t[1]):
            texts = [_svg_text(lab) for lab, _ in group]
            if style:
                lines.append(f"<g{_TEXT_STYLES[style]}>")
                lines += texts
                lines.append("</g>")
            else:
                lines += texts
        lines.append("</g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def _svg_rects(rects: Iterable[_Rect]) -> list[str]:
    """The cells, one group per state, in the order of :data:`_FILLS` (highlights on top)."""
    lines = []
    for state, (fill, stroke, width, dashed) in _FILLS.items():
        mine = [r for r in rects if r.state == state]
        if not mine:
            continue
        dash = ' stroke-dasharray="3 2"' if dashed else ""
        lines.append(f'<g fill="{fill}" stroke="{stroke}" stroke-width="{_n(width)}"{dash}>')
        for r in mine:
            data = "".join(f' {k}="{_xml(v)}"' for k, v in r.attrs)
            lines.append(
                f'<rect class="cell {state}"{data} x="{_n(r.x)}" y="{_n(r.y)}"'
                f' width="{_n(r.size)}" height="{_n(r.size)}"/>'
            )
        lines.append("</g>")
    return lines
