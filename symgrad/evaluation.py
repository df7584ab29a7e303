"""Evaluating a computational graph at given values, forward and backward (``symgrad graph``).

Values are exact: ``1.1`` is read as 11/10, so the textbook's shopping example gives a price of
exactly 715 and a tax gradient of exactly 650.

>>> g = evaluate_graph("(apple*apple_num + orange*orange_num)*tax",
...                    ["apple=100", "apple_num=2", "orange=150", "orange_num=3", "tax=1.1"])
>>> g.value
715
>>> print("\\n".join(g.gradient_lines()))
apple       2.2
apple_num   110
orange      3.3
orange_num  165
tax         650
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symgrad.constants import exact
from symgrad.errors import SymgradError
from symgrad.graph import Graph, build_graph
from symgrad.parse import parse_expr


@dataclass(frozen=True)
class GraphEvaluation:
    """A graph with its forward value at each node and the gradient of each input."""

    graph: Graph
    values: dict[sympy.Symbol, sympy.Expr]
    node_values: dict[sympy.Symbol, sympy.Expr]
    gradients: dict[sympy.Symbol, sympy.Expr]

    @property
    def value(self) -> sympy.Expr:
        return self.node_values[self.graph.output]

    def node_lines(self) -> list[str]:
        rows = [
            (str(n.symbol), str(n.local), n.op, fmt(self.node_values[n.symbol]))
            for n in self.graph.nodes
        ]
        return _columns(rows)

    def gradient_lines(self) -> list[str]:
        return _columns([(str(v), fmt(self.gradients[v])) for v in self.graph.inputs])

    def text(self) -> str:
        out = self.graph.output
        lines = ["forward (node = expression  [operation]  value):"]
        lines += ["  " + row for row in self.node_lines()]
        lines += ["", f"{out} = {fmt(self.value)}", "", f"backward (∂{out}/∂input):"]
        lines += ["  " + row for row in self.gradient_lines()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<GraphEvaluation {self.graph.output} = {fmt(self.value)}>"

    def _repr_svg_(self) -> str:
        """Jupyter draws the graph as the textbook does: values above, gradients below."""
        from symgrad.figures import graph_svg

        return graph_svg(self)

    def _repr_latex_(self) -> str:
        out = rf"\mathrm{{{_tex_name(self.graph.output)}}}"
        rows = [rf"{out} &= {fmt(self.value)}"]
        rows += [
            rf"\frac{{\partial {out}}}{{\partial \mathrm{{{_tex_name(v)}}}}} &= {fmt(g)}"
            for v, g in self.gradients.items()
        ]
        return "$\\begin{aligned}" + r" \\ ".join(rows) + "\\end{aligned}$"


def evaluate_graph(text: str, at: list[str], output: str | None = None) -> GraphEvaluation:
    """Parse ``text`` ("expr" or "name = expr"), bind ``at`` ("name=value"), evaluate."""
    name, _, rhs = text.rpartition("=") if _is_assignment(text) else ("", "", text)
    expr = exact(parse_expr(rhs))
    expr = expr.xreplace({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})
    output_symbol = sympy.Symbol(output or name.strip() or "out")
    inputs = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    if output_symbol in inputs:
        raise SymgradError(f"the output name {output_symbol} is also an input")
    values = _bind(at, inputs)
    try:
        return _evaluate(expr, inputs, output_symbol, values)
    except (ValueError, TypeError, ZeroDivisionError, ArithmeticError) as err:
        message = str(err).strip().replace("\n", " ")
        raise SymgradError(f"cannot evaluate the graph of {rhs.strip()!r}: {message}") from None


def _evaluate(
    expr: sympy.Expr,
    inputs: tuple[sympy.Symbol, ...],
    output_symbol: sympy.Symbol,
    values: dict[sympy.Symbol, sympy.Expr],
) -> GraphEvaluation:
    graph = build_graph(expr, inputs, output_symbol)
    node_values = {n.symbol: _exact(n.value.xreplace(values)) for n in graph.nodes}
    for n in graph.nodes:
        if not node_values[n.symbol].is_finite:
            at = ", ".join(f"{k} = {fmt(v)}" for k, v in values.items())
            raise SymgradError(f"node {n.symbol} = {n.local} is not finite at {at}")
    adjoints = graph.adjoints(sympy.S.One)
    adjoints = {k: v.xreplace({output_symbol: graph.nodes[-1].value}) for k, v in adjoints.items()}
    gradients = {
        v: _exact(graph.in_inputs(adjoints.get(v, sympy.S.Zero)).xreplace(values)) for v in inputs
    }
    for v, g in gradients.items():
        if not g.is_finite:
            raise SymgradError(
                f"the gradient of {v} is not finite (a kink or a pole at this point)"
            )
    return GraphEvaluation(graph, values, node_values, gradients)


def _is_assignment(text: str) -> bool:
    head, sep, _ = text.partition("=")
    return bool(sep) and head.strip().isidentifier()


def _bind(at: list[str], inputs: tuple[sympy.Symbol, ...]) -> dict[sympy.Symbol, sympy.Expr]:
    values: dict[sympy.Symbol, sympy.Expr] = {}
    names = {s.name: s for s in inputs}
    for item in at:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SymgradError(f"--at takes NAME=VALUE, got {item!r}")
        if key not in names:
            raise SymgradError(
                f"{key!r} does not occur in the expression (its inputs: {', '.join(names)})"
            )
        number = exact(parse_expr(value))
        if not number.is_number:
            raise SymgradError(f"the value of {key} must be a number, got {value!r}")
        values[names[key]] = number
    missing = [n for n in names if names[n] not in values]
    if missing:
        raise SymgradError(f"no value for {', '.join(missing)} (give --at {missing[0]}=VALUE)")
    return values


def _tex_name(symbol: sympy.Symbol) -> str:
    return symbol.name.replace("_", r"\_")


def _exact(e: sympy.Expr) -> sympy.Expr:
    e = sympy.nsimplify(e) if e.is_Float else sympy.simplify(e) if not e.is_Rational else e
    if not e.is_number:
        raise SymgradError(f"cannot evaluate {e}")
    return e


def fmt(v: sympy.Expr) -> str:
    """Exact decimals where they exist (715, 2.2), else 12 significant digits.

    >>> from sympy import Rational, exp
    >>> fmt(Rational(11, 5)), fmt(Rational(1, 3)), fmt(exp(1))
    ('2.2', '0.333333333333', '2.71828182846')
    """
    if v.is_Integer:
        return str(v)
    if v.is_Rational:
        q = int(v.q)
        for p in (2, 5):
            while q % p == 0:
                q //= p
        if q == 1:
            return format(sympy.Float(v, 50), "f").rstrip("0").rstrip(".")
    value = complex(v.evalf(20))
    if value.imag:
        return str(v)
    return f"{value.real:.12g}"


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
