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
    expr = sympy.sympify(expr)
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
