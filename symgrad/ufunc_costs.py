"""What NumPy operations cost, in passes: the weights codegen chooses among proven-equal forms by.

One pass is one multiply of two arrays into a new one, the cost of any operation bound by
memory bandwidth. The other weights are measured, not guessed: ``benchmarks/bench_ufuncs.py``
times each operation on 2**20 elements (one thread, float32 and float64, the mean of the two
ratios, rounded; ``where`` on a random mask) and prints its figures beside these. Measured
with NumPy 2.4 on the project's x86-64 machine; the figures that decide choices differ by an
order of magnitude (``where`` and ``pow`` against arithmetic), so a machine that differs by a
factor of two picks the same forms.

``cost(code)`` adds the weights up over a printed NumPy expression:

>>> cost("dout * (1 - y**2)")
3
>>> cost("1 / (1 + np.exp(-x))") == 3 + PASSES["exp"]
True
>>> cost("np.where(mask, x, 0.01 * x)") > cost("x * np.maximum(mask.astype(x.dtype), 0.01)")
True
"""

from __future__ import annotations

import ast

PASSES: dict[str, int] = {
    "arithmetic": 1,  # + - * / and unary minus
    "square": 1,  # x**2 (NumPy squares; x**3 is pow, and the printer writes it as products)
    "compare": 1,
    "pow": 8,  # any other power of an array (of positive values: pow on a negative one is ~100)
    "exp": 3,
    "log": 3,
    "tanh": 2,
    "sqrt": 3,
    "maximum": 2,
    "minimum": 2,
    "abs": 1,
    "sign": 2,
    "where": 25,  # a random mask: a branch per element
    "astype": 1,
}
"""Passes per NumPy operation (see the module docstring). A named function's call
(``np.logaddexp``, the ``erfc`` helper) is costed by its entry in
:data:`symgrad.functions.TABLE`, measured by the same script."""

UNKNOWN_CALL = 10
"""A call this table and the named-function table do not know (a helper): costed as a few
transcendental passes."""


def call_cost(name: str, named: dict[str, int] | None = None) -> int:
    """A call by the name generated code writes (``np.exp``, ``erfc``): its passes here, or its
    entry in ``named`` (the named-function table's costs), or ``UNKNOWN_CALL``."""
    short = name.rpartition(".")[2]
    if short in PASSES:
        return PASSES[short]
    return (named or {}).get(name, UNKNOWN_CALL)


def cost(code: str, named: dict[str, int] | None = None) -> int:
    """The passes a NumPy expression makes, by ``PASSES``."""
    total = 0
    for node in ast.walk(ast.parse(code, mode="eval")):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            square = isinstance(node.right, ast.Constant) and node.right.value == 2
            total += PASSES["square" if square else "pow"] * _is_array_power(node)
        elif isinstance(node, (ast.BinOp, ast.UnaryOp)):
            total += PASSES["arithmetic"]
        elif isinstance(node, ast.Compare):
            total += PASSES["compare"]
        elif isinstance(node, ast.Call):
            total += call_cost(ast.unparse(node.func), named)
    return total


def _is_array_power(node: ast.BinOp) -> bool:
    """A power of something that may be an array; ``2**0.5`` is a Python number, free."""
    return not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
