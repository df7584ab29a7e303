"""Tensors over named axes: the nouns of symgrad's intermediate representation.

Notation: a tensor is written ``x[n, d]``: a name and the named axes it spans, in the order its
NumPy array stores them. Each axis has a symbolic size, its name in capitals (``n`` has size
``N``). ``...`` is a group of any number of leading axes (an elementwise layer's input of any
shape, LayerNorm's ``x[..., d]``); its size is ``B`` (the product of those axes). A scalar has
no axes (``loss[]``).

Roles say what a tensor is to the layer:

- ``input``: an argument of ``forward`` that gets a gradient (``dx``, returned by ``backward``);
- ``param``: a parameter held by the layer (``W``, ``gamma``); its gradient is stored (``dW``);
- ``target``: an argument of ``forward`` without a gradient (a loss's ``t``);
- ``const``: a number fixed at construction (``eps``, ``dropout_ratio``), no gradient;
- ``random``: drawn by ``forward`` (Dropout's mask), no gradient;
- ``state``: updated by ``forward`` and read in evaluation mode (running statistics);
- ``value``: computed by a statement (an intermediate, or the output).

In elementwise expressions a tensor stands for its element at the statement's index: the
scalar :attr:`Tensor.symbol`. A tensor's gradient ``d<name>`` spans the tensor's axes; the
output's is ``dout``, the argument of ``backward``.

>>> x = Tensor("x", ("n", "d"), "input")
>>> x, x.symbol, axis_size("n")
(x[n, d], x, N)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symgrad.names import grad_name as grad_name  # the one naming rule, re-exported

ELLIPSIS = "..."
dout = sympy.Symbol("dout")
"""The gradient of the output: the argument of ``backward``."""
ROLES = ("input", "param", "target", "const", "random", "state", "value")
DIFFERENTIABLE = ("input", "param")


@dataclass(frozen=True)
class Tensor:
    """A named array over named axes, with its role in the layer."""

    name: str
    axes: tuple[str, ...]
    role: str = "value"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r} for {self.name}")

    @property
    def symbol(self) -> sympy.Symbol:
        """The tensor's element, as a scalar symbol (plain: the engine adds ``real`` itself)."""
        return sympy.Symbol(self.name)

    @property
    def differentiable(self) -> bool:
        return self.role in DIFFERENTIABLE

    def __repr__(self) -> str:
        return f"{self.name}[{', '.join(self.axes)}]"

    def __str__(self) -> str:
        return self.name


def axis_size(axis: str) -> sympy.Symbol:
    """The symbolic size of an axis: ``N`` for ``n``; ``B`` for the ``...`` group."""
    name = "B" if axis == ELLIPSIS else axis.upper()
    return sympy.Symbol(name, integer=True, positive=True)


def index_symbol(axis: str) -> sympy.Symbol:
    """The position along an axis, as it appears in an index map (``s*oh + fh``): an integer
    symbol named after the axis (distinct from any tensor symbol, which has no assumptions)."""
    return sympy.Symbol(axis, integer=True, nonnegative=True)


def index_axis(symbol: sympy.Basic) -> str | None:
    """The axis an index symbol stands for, else None."""
    if isinstance(symbol, sympy.Symbol) and symbol == index_symbol(symbol.name):
        return symbol.name
    return None


def size_of(axes: tuple[str, ...]) -> sympy.Expr:
    """The number of elements spanned by ``axes``."""
    return sympy.Mul(*(axis_size(a) for a in axes))
