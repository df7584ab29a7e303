"""Layer specifications: declarations only.

A spec says what a layer computes and nothing about how its backward works. Notation used
throughout symgrad:

- ``x`` (and ``y`` for a second input of a binary layer such as Mul) are the inputs;
- the output is ``y`` for a one-input layer and ``out`` for a layer with several inputs, as in the
  textbook's ``MulLayer.forward(x, y)``;
- ``dout`` is the upstream gradient ∂L/∂(output), the argument of ``backward``;
- ``dx``, ``dy`` are the gradients the backward returns.

>>> from sympy import exp
>>> spec = elementwise("Sigmoid", 1 / (1 + exp(-x)), x)
>>> spec.output, spec.inputs
(y, (x,))
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass

import sympy

from symgrad.constants import readable
from symgrad.errors import SymgradError

x, y = sympy.symbols("x y")
dout = sympy.Symbol("dout")

RESERVED_NAMES = frozenset({"self", "np", "dout", "out", "mask"})


@dataclass(frozen=True)
class LayerSpec:
    """An elementwise layer: ``output = forward(*inputs)`` applied to arrays element by element."""

    name: str
    inputs: tuple[sympy.Symbol, ...]
    forward: sympy.Expr
    output: sympy.Symbol
    doc: str = ""

    @property
    def kind(self) -> str:
        return "elementwise"

    def __repr__(self) -> str:
        args = ", ".join(map(str, self.inputs))
        return f"<LayerSpec {self.name}: {self.output} = {self.forward} in ({args})>"


def elementwise(
    name: str, expr: sympy.Expr | str, *inputs: sympy.Symbol | str, doc: str = ""
) -> LayerSpec:
    """Declare an elementwise layer from its forward expression alone.

    ``inputs`` are the variables in the order ``forward`` takes them; with one input the output
    is called ``y``, with several ``out``. Input names may be strings.

    >>> import sympy
    >>> t = sympy.Symbol("t")
    >>> elementwise("Square", t**2, t)
    <LayerSpec Square: y = t**2 in (t)>
    >>> elementwise("Bad", t**2, "z")
    Traceback (most recent call last):
    ...
    symgrad.errors.SymgradError: variable 'z' does not occur in the forward expression t**2
    """
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SymgradError(f"layer name {name!r} is not a valid Python class name")
    if isinstance(expr, str):
        from symgrad.parse import parse_expr

        expr = parse_expr(expr)
    expr = _plain_symbols(name, readable(sympy.sympify(expr)))
    if not inputs:
        raise SymgradError(f"layer {name}: name at least one input variable")
    symbols = tuple(_as_symbol(v) for v in inputs)
    free = expr.free_symbols
    for s in symbols:
        if s.name in RESERVED_NAMES or not s.name.isidentifier() or keyword.iskeyword(s.name):
            raise SymgradError(f"layer {name}: {s.name!r} cannot be used as an input name")
        if s not in free:
            raise SymgradError(
                f"variable {s.name!r} does not occur in the forward expression {expr}"
            )
    if len(set(symbols)) != len(symbols):
        raise SymgradError(f"layer {name}: input names repeat")
    extra = sorted(str(s) for s in free - set(symbols))
    if extra:
        raise SymgradError(
            f"layer {name}: the forward expression uses {', '.join(extra)}, which is not an input"
        )
    output = sympy.Symbol("y") if len(symbols) == 1 else sympy.Symbol("out")
    if output in symbols:
        output = sympy.Symbol("out")
    return LayerSpec(name=name, inputs=symbols, forward=expr, output=output, doc=doc)


def _as_symbol(v: sympy.Symbol | str) -> sympy.Symbol:
    name = v if isinstance(v, str) else v.name
    return sympy.Symbol(name)


def _plain_symbols(name: str, expr: sympy.Expr) -> sympy.Expr:
    """Every symbol as a plain one of the same name: a variable is known by its name, whatever
    assumptions (``real=True``) the user's SymPy symbol carries; the engine adds its own."""
    by_name: dict[str, sympy.Symbol] = {}
    for s in sorted(expr.free_symbols, key=sympy.default_sort_key):
        if s.name in by_name:
            raise SymgradError(f"layer {name}: two different symbols are called {s.name!r}")
        by_name[s.name] = s
    return expr.xreplace({s: sympy.Symbol(s.name) for s in by_name.values()})


# --- matrix layers ------------------------------------------------------------------------------

N, D, M = sympy.symbols("N D M", integer=True, positive=True)


@dataclass(frozen=True)
class MatrixSpec:
    """A layer whose forward is a matrix expression: inputs, parameters, output ``Y``.

    Shapes are symbolic (``N`` the batch, ``D`` the features in, ``M`` out). A bias is a column
    ``b`` of shape (M, 1) broadcast over the batch as ``1·bᵀ`` (``OneMatrix(N, 1)*b.T``); in NumPy
    it is a vector of shape (M,). ``flatten`` makes forward accept (N, ...) and flatten it to
    (N, D), returning dx in the original shape, as the textbook's Affine does.
    """

    name: str
    inputs: tuple[sympy.MatrixSymbol, ...]
    params: tuple[sympy.MatrixSymbol, ...]
    forward: sympy.MatrixExpr
    output: sympy.MatrixSymbol
    flatten: bool = False
    doc: str = ""

    @property
    def kind(self) -> str:
        return "matrix"

    @property
    def variables(self) -> tuple[sympy.MatrixSymbol, ...]:
        return self.inputs + self.params


def matrix_layer(
    name: str,
    forward: sympy.MatrixExpr,
    inputs: tuple[sympy.MatrixSymbol, ...],
    params: tuple[sympy.MatrixSymbol, ...] = (),
    flatten: bool = False,
    doc: str = "",
) -> MatrixSpec:
    """Declare a matrix layer from its forward expression.

    >>> X, W = sympy.MatrixSymbol("X", N, D), sympy.MatrixSymbol("W", D, M)
    >>> matrix_layer("MatMul", X * W, inputs=(X,), params=(W,)).output.shape
    (N, M)
    """
    if not name.isidentifier():
        raise SymgradError(f"layer name {name!r} is not a valid Python class name")
    free = forward.free_symbols
    for v in (*inputs, *params):
        if v not in free:
            raise SymgradError(f"{v} does not occur in the forward expression {forward}")
    output = sympy.MatrixSymbol("Y", *forward.shape)
    return MatrixSpec(name, tuple(inputs), tuple(params), forward, output, flatten, doc)


# --- row-wise layers and losses -----------------------------------------------------------------

n = sympy.Symbol("n", integer=True, positive=True)
i, j, k = sympy.symbols("i j k", integer=True, nonnegative=True)


@dataclass(frozen=True)
class RowSpec:
    """A layer acting on each row of an (N, n) array, written with indexed sums over the n
    columns. ``forward`` is the i-th output ``y[i]`` (a map such as softmax) or, for a loss, the
    loss of one row; a loss is averaged over the N rows. ``constraints`` are facts about the
    targets that the derivation may use, e.g. each row of ``t`` sums to 1."""

    name: str
    inputs: tuple[sympy.IndexedBase, ...]
    targets: tuple[sympy.IndexedBase, ...]
    forward: sympy.Expr
    output: sympy.IndexedBase
    is_loss: bool
    constraints: tuple[tuple[sympy.Expr, sympy.Expr], ...] = ()
    doc: str = ""

    @property
    def kind(self) -> str:
        return "loss" if self.is_loss else "rowwise"


def rowwise(name: str, forward: sympy.Expr, x: sympy.IndexedBase, doc: str = "") -> RowSpec:
    """Declare a row-wise map ``y[i] = forward`` (``i`` the column, sums over ``j``)."""
    _check_indexed(name, forward, x)
    return RowSpec(name, (x,), (), forward, sympy.IndexedBase("y"), False, (), doc)


def loss(
    name: str,
    row_loss: sympy.Expr,
    x: sympy.IndexedBase,
    t: sympy.IndexedBase,
    targets_sum_to_one: bool = False,
    doc: str = "",
) -> RowSpec:
    """Declare a loss by the loss of one row (a sum over the columns ``k``); the layer's loss is
    its mean over the batch. ``targets_sum_to_one`` states that each row of ``t`` is a
    probability distribution (one-hot labels are)."""
    _check_indexed(name, row_loss, x)
    constraints = ((sympy.Sum(t[k], (k, 0, n - 1)), sympy.S.One),) if targets_sum_to_one else ()
    return RowSpec(name, (x,), (t,), row_loss, sympy.IndexedBase("loss"), True, constraints, doc)


def _check_indexed(name: str, expr: sympy.Expr, x: sympy.IndexedBase) -> None:
    if not name.isidentifier():
        raise SymgradError(f"layer name {name!r} is not a valid Python class name")
    if not expr.has(x):
        raise SymgradError(f"{x} does not occur in the forward expression {expr}")
