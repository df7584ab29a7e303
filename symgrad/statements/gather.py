"""Gathers: ``col[n, oh, ow, c, fh, fw] = x[n, c, s*oh + fh - p, s*ow + fw - p]``, a tensor read
at an index map (:class:`~symgrad.tensor_algebra.at`), and ``y[n, t, d] = W[ids[n, t], d]``, a
lookup by integer labels. A position outside the source, or not an integer, reads 0 (zero
padding).

The reverse-mode rule of a gather is a scatter-add: each source cell receives the sum of the
target's gradient over the cells that read it. Where the index map can be solved for the
target's axes, the scatter is written as a gather instead (as Halide and TVM do): along each
source axis the *first* target axis its position uses is solved for (``oh = (h + p - fh)/s``),
the target axes left unsolved are summed over (``fh``), and the target's gradient is read at the
solved positions; a position that is not an integer reads 0, which is the strided case's
dilation. A source axis whose position cannot be solved (an integer label) keeps the scatter
as an indicator: ``dW[v, d] = Σ_{n,t} [ids[n, t] = v]·dy[n, t, d]``.

>>> from symgrad.tensors import Tensor, axis_size, index_symbol as i
>>> x = Tensor("x", ("h",), "input")
>>> g = Gather.of(Tensor("col", ("oh", "fh")), x, (2 * i("oh") + i("fh"),))
>>> solved, summed, conditions = g.inverse()
>>> solved["oh"] == (i("h") - i("fh")) / 2, summed, conditions
(True, ('fh',), ())
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import sympy

from symgrad.statements.base import Statement
from symgrad.tensor_algebra import Facts, Scope, at, make_sum, reindex
from symgrad.tensors import Tensor, axis_size, index_symbol


@dataclass(frozen=True)
class Gather(Statement):
    kind: ClassVar[str] = "gather"

    @classmethod
    def of(
        cls,
        target: Tensor,
        source: Tensor,
        indices: tuple[sympy.Expr, ...],
        index_tensors: tuple[Tensor, ...] = (),
    ) -> Gather:
        if len(indices) != len(source.axes):
            raise ValueError(f"{source!r} is read with {len(indices)} positions")
        body = at(source.symbol, *(sympy.sympify(i) for i in indices))
        return cls(target, (source, *index_tensors), body)

    @property
    def source(self) -> Tensor:
        return self.operands[0]

    @property
    def indices(self) -> tuple[sympy.Expr, ...]:
        return self.body.indices

    @property
    def index_tensors(self) -> tuple[Tensor, ...]:
        return self.operands[1:]

    def value(self, scope: Scope, facts: Facts | None = None) -> sympy.Expr:
        return self.body

    def local(self, operand: Tensor) -> sympy.Expr:
        return sympy.S.One if operand == self.source else sympy.S.Zero

    def sliding(self) -> tuple[str, ...]:
        """The source axes read at a position that is not one of the target's axes."""
        return tuple(
            a for a, i in zip(self.source.axes, self.indices) if i not in self.target_symbols()
        )

    def windows(self) -> tuple[str, ...]:
        """The target axes that move within a window (each source position's last axis)."""
        out = []
        for i in self.indices:
            free = [a for a in self.target.axes if index_symbol(a) in i.free_symbols]
            if len(free) > 1:
                out.append(free[-1])
        return tuple(out)

    def target_symbols(self) -> set[sympy.Symbol]:
        return {index_symbol(a) for a in self.target.axes}

    def inverse(self) -> tuple[dict[str, sympy.Expr], tuple[str, ...], tuple[sympy.Expr, ...]]:
        """The scatter as a gather: ``(solved, summed, conditions)``. ``solved`` gives target
        axes as positions in the source's index symbols and the ``summed`` target axes;
        ``conditions`` are the indicators of source axes that cannot be solved for."""
        targets = [index_symbol(a) for a in self.target.axes]
        solved: dict[sympy.Symbol, sympy.Expr] = {}
        conditions: list[sympy.Expr] = []
        tensors = {t.symbol for t in self.index_tensors}
        for axis, position in zip(self.source.axes, self.indices):
            here = index_symbol(axis)
            position = position.xreplace(solved)
            free = [t for t in targets if t in position.free_symbols and t not in solved]
            linear = all(
                not sympy.diff(position, t).free_symbols & set(targets) for t in free
            ) and not (position.free_symbols & tensors or position.atoms(at))
            if position == here and here in targets and here not in solved:
                solved[here] = here  # the same axis, read as it is
                continue
            if not free or not linear:
                conditions.append(sympy.KroneckerDelta(here, position))
                continue
            digits = _mixed_radix(position, [t for t in targets if t in free])
            if digits is not None:  # c = h·E + e: h = c // E, e = c % E, nothing summed
                solved |= _digits_of(here, digits)
                continue
            t = free[0]
            coefficient = sympy.diff(position, t)
            solved[t] = sympy.expand((here - (position - coefficient * t)) / coefficient)
        for _ in range(len(solved)):
            solved = {t: sympy.expand(e.xreplace(solved)) for t, e in solved.items()}
        summed = tuple(a for a in self.target.axes if index_symbol(a) not in solved)
        # A summed axis named like a source axis would be captured by the source's index.
        clash = [a for a in summed if a in self.source.axes]
        if clash:
            raise ValueError(f"{self!r}: the summed axis {clash[0]} is also the source's")
        moved = {t.name: e for t, e in solved.items() if e != t}
        return moved, summed, tuple(conditions)

    def vjp(
        self,
        dtarget: sympy.Expr,
        scope: Scope,
        facts: Facts | None = None,
        locals_: Mapping[str, sympy.Expr] | None = None,
    ) -> dict[str, sympy.Expr]:
        source = self.source
        if not source.differentiable and source.role != "value":
            return {}
        solved, summed, conditions = self.inverse()
        read = reindex(dtarget, solved, scope) * sympy.Mul(*conditions)
        return {source.name: make_sum(read, summed, scope, facts)}

    def text(self) -> str:
        from symgrad.tensor_printer import text_tensor

        return text_tensor(self.body)

    def __repr__(self) -> str:
        return f"{self.target!r} = {self.body}"

    def latex(self, indices: Mapping[str, str] | None = None) -> str:
        from symgrad.tensor_printer import latex_tensor

        return latex_tensor(self.body)


# --- NumPy -----------------------------------------------------------------------------------
#
# Generated code computes a sliding-window gather with im2col (the book's, returning the
# window array before it is flattened: (N, OH, OW, C, FH, FW)), its scatter-add with col2im,
# a pooling window's maximum cell by cell, and a lookup by labels with NumPy's fancy indexing
# and a scatter-add (``_scatter_add``, bit-equal to ``np.add.at``). The helpers are
# emitted into the generated module once, where a class uses them.

HELPERS = {
    "_im2col": '''
def _im2col(x: np.ndarray, fh: int, fw: int, stride: int, pad: int) -> np.ndarray:
    """The windows of x (N, C, H, W), zero-padded by pad and moved by stride, as an array
    (N, OH, OW, C, FH, FW): the book's im2col before it flattens them."""
    n, c, h, w = x.shape
    oh, ow = 1 + (h + 2 * pad - fh) // stride, 1 + (w + 2 * pad - fw) // stride
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)]) if pad else x
    col = np.empty((n, c, fh, fw, oh, ow), dtype=x.dtype)
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return np.ascontiguousarray(col.transpose(0, 4, 5, 1, 2, 3))
''',
    "_col2im": '''
def _col2im(
    dcol: np.ndarray, shape: tuple[int, ...], fh: int, fw: int, stride: int, pad: int
) -> np.ndarray:
    """The reverse of _im2col: each window cell of dcol (N, OH, OW, C, FH, FW) added into the
    input cell it was read from; what falls in the padding is dropped."""
    n, c, h, w = shape
    oh, ow = 1 + (h + 2 * pad - fh) // stride, 1 + (w + 2 * pad - fw) // stride
    dcol = np.broadcast_to(dcol, (n, oh, ow, c, fh, fw)).transpose(0, 3, 4, 5, 1, 2)
    dx = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcol.dtype)
    for i in range(fh):
        for j in range(fw):
            dx[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += dcol[:, :, i, j]
    return dx[:, :, pad : pad + h, pad : pad + w]
''',
    "_first_max": '''
def _first_max(a: np.ndarray, k: int) -> np.ndarray:
    """1 at the first maximum over the last k axes of a (row-major), 0 elsewhere."""
    flat = a.reshape(*a.shape[:-k], -1)
    mask = np.zeros_like(flat)
    np.put_along_axis(mask, flat.argmax(axis=-1)[..., None], 1, axis=-1)
    return mask.reshape(a.shape)
''',
    "_window_max": '''
def _window_max(a: np.ndarray, k: int) -> np.ndarray:
    """The maximum over the last k axes of a (kept, of size 1), one window cell at a time:
    NumPy's max over a short last axis is many times slower."""
    flat = a.reshape(*a.shape[:-k], -1)
    out = flat[..., 0].copy()
    for i in range(1, flat.shape[-1]):
        np.maximum(out, flat[..., i], out=out)
    return out.reshape(*a.shape[:-k], *(1,) * k)
''',
    "_scatter_add": '''
def _scatter_add(shape: tuple[int, ...], idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Zeros of shape with each row of values added at its index (repeats accumulate), in the
    order np.add.at adds them, so the result is the same to the bit.

    np.add.at adds one row at a time (~5 us a row); here the k-th occurrences of all ids are
    added in one fancy-indexed step (distinct ids, so none is lost), round after round, and
    the few rows left once a round is small go to np.add.at.
    """
    out = np.zeros(shape, dtype=values.dtype)
    flat = idx.reshape(-1)
    flat = np.where(flat < 0, flat + shape[0], flat)
    rows = values.reshape(flat.size, *shape[1:])
    order = np.argsort(flat, kind="stable")
    ids = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    rank = np.arange(ids.size) - np.repeat(starts, np.diff(np.append(starts, ids.size)))
    for r in range(int(rank.max(initial=-1)) + 1):
        pick = order[rank == r]
        if pick.size < 64:
            rest = np.sort(order[rank >= r])  # in their order, after the rounds before
            np.add.at(out, flat[rest], rows[rest])
            break
        out[flat[pick]] += rows[pick]
    return out
''',
}


@dataclass(frozen=True)
class Window:
    """A gather that slides a window: source ``x[lead..., h, w]`` read at ``stride*o + k -
    pad`` along its last axes, target ``[lead[0], o..., lead[1:]..., k...]``."""

    outputs: tuple[str, ...]
    windows: tuple[str, ...]
    stride: sympy.Expr
    pad: sympy.Expr


def window_of(g: Gather) -> Window | None:
    """The sliding window ``g`` is, if it is one that _im2col computes."""
    lead, outputs, windows, strides, pads = [], [], [], set(), set()
    for axis, position in zip(g.source.axes, g.indices):
        if position == index_symbol(axis) and axis in g.target.axes:
            if outputs:
                return None
            lead.append(axis)
            continue
        free = [a for a in g.target.axes if index_symbol(a) in position.free_symbols]
        if len(free) != 2:
            return None
        o, k = free
        if sympy.diff(position, index_symbol(k)) != 1:
            return None
        stride = sympy.diff(position, index_symbol(o))
        pad = -(position - stride * index_symbol(o) - index_symbol(k))
        if pad.free_symbols & g.target_symbols():
            return None
        outputs.append(o)
        windows.append(k)
        strides.add(stride)
        pads.add(sympy.expand(pad))
    if len(outputs) != 2 or len(strides) != 1 or len(pads) != 1 or not lead:
        return None
    order = (lead[0], *outputs, *lead[1:], *windows)
    if g.target.axes != order:
        return None
    return Window(tuple(outputs), tuple(windows), strides.pop(), pads.pop())


def _mixed_radix(position: sympy.Expr, free: list[sympy.Symbol]) -> list[sympy.Symbol] | None:
    """The axes of ``position`` as the digits of a row-major index (``h*E + e``, ``e`` below
    its size ``E``), most significant first, when it is one of at least two axes; else None."""
    if len(free) < 2:
        return None
    stride, expected = sympy.S.One, sympy.S.Zero
    for t in reversed(free):
        expected += stride * t
        stride *= axis_size(t.name)
    return free if sympy.expand(position - expected) == 0 else None


def _digits_of(here: sympy.Symbol, digits: list[sympy.Symbol]) -> dict[sympy.Symbol, sympy.Expr]:
    """Each digit of the row-major index ``here``: ``c // E`` for ``h``, ``c % E`` for ``e``."""
    out, stride = {}, sympy.S.One
    for t in reversed(digits):
        quotient = sympy.floor(here / stride) if stride != 1 else here
        out[t] = quotient if t == digits[0] else sympy.Mod(quotient, axis_size(t.name))
        stride *= axis_size(t.name)
    return out


def rename_of(g: Gather) -> dict[str, str] | None:
    """``{source axis: target axis}`` when ``g`` reads its source as it is, along axes named
    otherwise (self-attention's keys: ``x[n, s, d]`` for ``x[n, t, d]``, the sizes declared
    equal): the same array, no copy. Else None."""
    if g.index_tensors or len(g.target.axes) != len(g.source.axes):
        return None
    named = {}
    for axis, position, target in zip(g.source.axes, g.indices, g.target.axes):
        if position != index_symbol(target):
            return None
        named[axis] = target
    return named


def reshape_of(g: Gather) -> list[tuple[str, ...]] | None:
    """The target axes each source axis is split into, when ``g`` is a row-major reshape
    (``Wq[d, h*E + e]`` read as ``(d, h, e)``: ``Wq.reshape(D, H, E)``), else None."""
    if g.index_tensors:
        return None
    groups: list[tuple[str, ...]] = []
    for position in g.indices:
        read = [a for a in g.target.axes if index_symbol(a) in position.free_symbols]
        stride, expected = sympy.S.One, sympy.S.Zero
        for a in reversed(read):
            expected += stride * index_symbol(a)
            stride *= axis_size(a)
        if not read or sympy.expand(position - expected) != 0:
            return None
        groups.append(tuple(read))
    if tuple(a for group in groups for a in group) != g.target.axes:
        return None
    return groups


def lookup_of(g: Gather) -> Tensor | None:
    """The label tensor of a lookup ``W[ids[...], d...]`` (first axis by labels, the rest
    as they are, the target's axes the labels' then the rest), if ``g`` is one."""
    if len(g.index_tensors) != 1:
        return None
    (labels,) = g.index_tensors
    first, *rest = g.indices
    kept = g.source.axes[1:]
    if first != labels.symbol or tuple(rest) != tuple(index_symbol(a) for a in kept):
        return None
    if g.target.axes != (*labels.axes, *kept):
        return None
    return labels
