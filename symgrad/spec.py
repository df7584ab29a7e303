"""Declaring layers: what a layer computes, and nothing about how its backward works.

Every layer is a :class:`~symgrad.program.Layer`, a short program of statements over named axes.
Two ways to declare one:

- :func:`layer` (:func:`symgrad.language.declare`): the statements as text,
  ``"y[n, d] = gamma[d] * x[n, d] + beta[d]"``, for any layer;
- :func:`elementwise`: one scalar expression applied to arrays of any shape element by element,
  the special case of one map statement over the ``...`` axes.

Notation used throughout symgrad:

- ``x`` (and ``y`` for a second input of a binary layer such as Mul) are the inputs;
- the output of an elementwise layer is ``y`` with one input and ``out`` with several, as in the
  textbook's ``MulLayer.forward(x, y)``;
- ``dout`` is the upstream gradient ∂L/∂(output), the argument of ``backward``;
- ``dx``, ``dy`` are the gradients the backward returns, ``dW``, ``dgamma`` those it stores.

>>> from sympy import exp
>>> spec = elementwise("Sigmoid", 1 / (1 + exp(-x)), x)
>>> spec.output, spec.inputs
(y[...], (x[...],))
"""

from __future__ import annotations

import keyword

import sympy

from symgrad.constants import readable
from symgrad.errors import SymgradError
from symgrad.i18n import tr
from symgrad.language import declare
from symgrad.program import Layer
from symgrad.statements import Map
from symgrad.tensors import ELLIPSIS, Tensor, dout

x, y = sympy.symbols("x y")

RESERVED_NAMES = frozenset({"self", "np", "dout", "out", "mask", "train_flg"})

layer = declare
"""Declare any layer from its statements as text (:func:`symgrad.language.declare`)."""


def elementwise(
    name: str, expr: sympy.Expr | str, *inputs: sympy.Symbol | str, doc: str = ""
) -> Layer:
    """Declare an elementwise layer from its forward expression alone.

    ``inputs`` are the variables in the order ``forward`` takes them; with one input the output
    is called ``y``, with several ``out``. Input names may be strings.

    >>> import sympy
    >>> t = sympy.Symbol("t")
    >>> elementwise("Square", t**2, t)
    <Layer Square: y[...] = t**2>
    >>> elementwise("Bad", t**2, "z")
    Traceback (most recent call last):
    ...
    symgrad.errors.SymgradError: variable 'z' does not occur in the forward expression t**2
    """
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SymgradError(
            tr("layer name {name!r} is not a valid Python class name").format(name=name)
        )
    if isinstance(expr, str):
        from symgrad.parse import parse_expr

        expr = parse_expr(expr)
    expr = _plain_symbols(name, readable(sympy.sympify(expr)))
    if not inputs:
        raise SymgradError(tr("layer {layer}: name at least one input variable").format(layer=name))
    symbols = tuple(_as_symbol(v) for v in inputs)
    free = expr.free_symbols
    for s in symbols:
        if s.name in RESERVED_NAMES or not s.name.isidentifier() or keyword.iskeyword(s.name):
            raise SymgradError(
                tr("layer {layer}: {name!r} cannot be used as an input name").format(
                    layer=name, name=s.name
                )
            )
        if s not in free:
            raise SymgradError(
                tr("variable {name!r} does not occur in the forward expression {expr}").format(
                    name=s.name, expr=expr
                )
            )
    if len(set(symbols)) != len(symbols):
        raise SymgradError(tr("layer {layer}: input names repeat").format(layer=name))
    extra = sorted(str(s) for s in free - set(symbols))
    if extra:
        raise SymgradError(
            tr("layer {layer}: the forward expression uses {names}, which is not an input").format(
                layer=name, names=", ".join(extra)
            )
        )
    output = "y" if len(symbols) == 1 else "out"
    if output in {s.name for s in symbols}:
        output = "out"
    tensors = tuple(Tensor(s.name, (ELLIPSIS,), "input") for s in symbols)
    statement = Map.of(Tensor(output, (ELLIPSIS,)), expr, tensors)
    return Layer(name, (statement,), tensors, doc=doc, source=str(expr))


def _as_symbol(v: sympy.Symbol | str) -> sympy.Symbol:
    name = v if isinstance(v, str) else v.name
    return sympy.Symbol(name)


def _plain_symbols(name: str, expr: sympy.Expr) -> sympy.Expr:
    """Every symbol as a plain one of the same name: a variable is known by its name, whatever
    assumptions (``real=True``) the user's SymPy symbol carries; the engine adds its own."""
    by_name: dict[str, sympy.Symbol] = {}
    for s in sorted(expr.free_symbols, key=sympy.default_sort_key):
        if s.name in by_name:
            raise SymgradError(
                tr("layer {layer}: two different symbols are called {name!r}").format(
                    layer=name, name=s.name
                )
            )
        by_name[s.name] = s
    return expr.xreplace({s: sympy.Symbol(s.name) for s in by_name.values()})


__all__ = ["RESERVED_NAMES", "dout", "elementwise", "layer", "x", "y"]
