"""Evaluating a computational graph at given values, forward and backward (``symgrad graph``).

The graph has the nodes the user wrote (:func:`symgrad.parse.parse_written`): ``(a*b)*c`` is two
×-nodes, ``apple*2*1.1`` is ×2 then ×1.1, as in the textbook's figures. The forward pass computes
each node from its arguments' values and the backward pass multiplies each node's gradient by its
local derivatives, node by node, as the textbook's layers do.

Values are exact: ``1.1`` is read as 11/10, so the textbook's shopping example gives a price of
exactly 715 and a tax gradient of exactly 650. A value or gradient that is infinite, undefined
or not real (``log(x)`` at x = -1) is a :class:`~symgrad.errors.SymgradError` naming the node
and the reason, never a number.

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
>>> [(str(n.symbol), n.op, fmt(g.node_values[n.symbol])) for n in g.graph.nodes]
[('u1', '×', '200'), ('u2', '×', '450'), ('u3', '+', '650'), ('out', '×', '715')]
>>> evaluate_graph("log(x)", ["x=-1"])
Traceback (most recent call last):
    ...
symgrad.errors.SymgradError: node out = log(x) is not real at x = -1 (log of a negative number)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symgrad.constants import exact
from symgrad.errors import SymgradError
from symgrad.functions import to_elementary
from symgrad.graph import Graph, Node, build_graph
from symgrad.i18n import columns, tr
from symgrad.parse import parse_expr, parse_written


@dataclass(frozen=True)
class GraphEvaluation:
    """A graph with its forward value at each node and the gradient of each input.

    ``values`` are the inputs' values, ``node_values`` each node's, ``gradients`` ∂out/∂input
    and ``node_gradients`` ∂out/∂source for every input and node (the red numbers of a figure).
    """

    graph: Graph
    values: dict[sympy.Symbol, sympy.Expr]
    node_values: dict[sympy.Symbol, sympy.Expr]
    gradients: dict[sympy.Symbol, sympy.Expr]
    node_gradients: dict[sympy.Symbol, sympy.Expr]

    @property
    def value(self) -> sympy.Expr:
        return self.node_values[self.graph.output]

    def node_lines(self) -> list[str]:
        rows = [
            (str(n.symbol), str(n.local), n.op, fmt(self.node_values[n.symbol]))
            for n in self.graph.nodes
        ]
        return columns(rows)

    def gradient_lines(self) -> list[str]:
        return columns([(str(v), fmt(self.gradients[v])) for v in self.graph.inputs])

    def text(self) -> str:
        out = self.graph.output
        lines = [tr("forward (node = expression  [operation]  value):")]
        lines += ["  " + row for row in self.node_lines()]
        lines += ["", f"{out} = {fmt(self.value)}", ""]
        lines += [tr("backward (∂{output}/∂input):").format(output=out)]
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
    """Parse ``text`` ("expr" or "name = expr"), bind ``at`` ("name=value"), evaluate.

    The graph is built from the expression as written (see the module docstring); every
    written name is an input, even where it cancels (``x - x``).
    """
    name, _, rhs = text.rpartition("=") if _is_assignment(text) else ("", "", text)
    tree = parse_written(rhs)
    output_symbol = sympy.Symbol(output or name.strip() or "out")
    inputs = tuple(sympy.Symbol(n, real=True) for n in tree.names())
    if output_symbol.name in tree.names():
        raise SymgradError(tr("the output name {name} is also an input").format(name=output_symbol))
    values = _bind(at, inputs)
    graph = build_graph(tree, inputs, output_symbol)
    try:
        return _evaluate(graph, values)
    except (ValueError, TypeError, ZeroDivisionError, ArithmeticError) as err:
        message = str(err).strip().replace("\n", " ")
        raise SymgradError(
            tr("cannot evaluate the graph of {expression}: {reason}").format(
                expression=repr(rhs.strip()), reason=message
            )
        ) from None


def _evaluate(graph: Graph, values: dict[sympy.Symbol, sympy.Expr]) -> GraphEvaluation:
    """Forward through the nodes, then backward, checking every number on the way."""
    point = ", ".join(f"{k} = {fmt(v)}" for k, v in values.items())
    known: dict[sympy.Symbol, sympy.Expr] = dict(values)
    for n in graph.nodes:
        value = _exact(_numeric(n.local).xreplace(known))
        what = tr("node {node} = {expression}").format(node=n.symbol, expression=_shown(n.value))
        _check(value, what, point, n.local, known, graph)
        known[n.symbol] = value
    adjoints: dict[sympy.Symbol, sympy.Expr] = {graph.output: sympy.S.One}
    for n in reversed(graph.nodes):
        upstream = adjoints.get(n.symbol, sympy.S.Zero)
        for a, local in zip(n.args, n.local_grads):
            slope = _exact(_numeric(local).xreplace(known))
            _check_slope(slope, n, a, local, point, known, graph)
            adjoints[a] = adjoints.get(a, sympy.S.Zero) + upstream * slope
    sources = (*graph.inputs, *(n.symbol for n in graph.nodes))
    node_gradients = {s: _exact(adjoints.get(s, sympy.S.Zero)) for s in sources}
    for v in graph.inputs:
        if not node_gradients[v].is_finite:
            raise SymgradError(_not_finite(tr("the gradient of {input}").format(input=v), point))
    node_values = {n.symbol: known[n.symbol] for n in graph.nodes}
    gradients = {v: node_gradients[v] for v in graph.inputs}
    return GraphEvaluation(graph, values, node_values, gradients, node_gradients)


def _check(
    value: sympy.Expr,
    what: str,
    point: str,
    expr: sympy.Expr,
    known: dict[sympy.Symbol, sympy.Expr],
    graph: Graph,
) -> None:
    """Raise, naming ``what`` and why, unless ``value`` (``expr`` at ``known``) is real, finite.

    ``what`` is a noun phrase, already translated: ``node u1 = log(x)``."""
    if value.is_finite is not True:
        if value is sympy.nan:
            message = tr("{what} is not finite at {point} (undefined, as 0/0 is)")
        else:
            message = tr("{what} is not finite at {point} (infinite)")
        raise SymgradError(message.format(what=what, point=point))
    if not _is_real(value):
        raise SymgradError(
            tr("{what} is not real at {point} ({reason})").format(
                what=what, point=point, reason=_why_complex(expr, known, graph)
            )
        )


def _not_finite(what: str, point: str) -> str:
    """The message for a gradient ``what`` (a translated noun phrase) that is infinite."""
    return tr("{what} is not finite at {point} (a kink or a pole at this point)").format(
        what=what, point=point
    )


def _check_slope(
    slope: sympy.Expr,
    n: Node,
    arg: sympy.Symbol,
    local: sympy.Expr,
    point: str,
    known: dict[sympy.Symbol, sympy.Expr],
    graph: Graph,
) -> None:
    """Raise unless the local derivative ∂n/∂arg is real and finite at this point."""
    which = arg if arg in graph.inputs else f"{arg} = {_shown(graph.node(arg).value)}"
    what = tr("the gradient of {input} (∂{node}/∂{argument} = {local} at node {node})").format(
        input=which, node=n.symbol, argument=arg, local=_shown(local)
    )
    if slope.is_finite is not True:
        raise SymgradError(_not_finite(what, point))
    _check(slope, what, point, local, known, graph)


def _is_real(value: sympy.Expr) -> bool:
    """Whether the finite number ``value`` is real; by 30 digits where SymPy cannot tell."""
    if value.is_real is not None:
        return bool(value.is_real)
    z = complex(value.evalf(30))
    return abs(z.imag) <= 1e-25 * max(1.0, abs(z.real))


def _why_complex(expr: sympy.Expr, known: dict[sympy.Symbol, sympy.Expr], graph: Graph) -> str:
    """The first operation in ``expr`` that takes real numbers to a complex one, in words, with
    the offending argument and its value where the message does not show them already."""
    for e in sympy.postorder_traversal(_numeric(expr)):
        if not isinstance(e, sympy.log | sympy.Pow) or not e.free_symbols:
            continue
        args = [_exact(a.xreplace(known)) for a in e.args]
        if not all(_is_real(a) for a in args) or _is_real(_exact(e.xreplace(known))):
            continue
        if isinstance(e, sympy.log):
            which = _which(e.args[0], args[0], graph)
            if which:
                return tr("log of a negative number: {argument}").format(argument=which)
            return tr("log of a negative number")
        base, exponent = e.args
        which = _which(base, args[0], graph)
        if exponent == sympy.S.Half:
            if which:
                return tr("square root of a negative number: {argument}").format(argument=which)
            return tr("square root of a negative number")
        power = exponent if exponent.is_number else fmt(args[1])
        if which:
            return tr("a negative number to the power {power}: {argument}").format(
                power=power, argument=which
            )
        return tr("a negative number to the power {power}").format(power=power)
    return tr("its value is complex")


def _which(arg: sympy.Expr, value: sympy.Expr, graph: Graph) -> str:
    """``"x - 2 = -1"``: the offending argument and its value; ``""`` where it is an input or a
    constant (the message shows those already)."""
    if arg in graph.inputs or arg.is_number:
        return ""
    shown = graph.in_inputs(arg)
    if arg == graph.output:
        shown = graph.nodes[-1].value
    return f"{_shown(shown)} = {fmt(value)}"


def _numeric(e: sympy.Expr) -> sympy.Expr:
    """``e`` ready for numbers: exact decimals, and logistic and softplus written with exp."""
    e = exact(e)
    return to_elementary(e)


def _shown(e: sympy.Expr, limit: int = 60) -> str:
    """``e`` on one line, shortened to ``limit`` characters."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
            raise SymgradError(tr("--at takes NAME=VALUE, got {item}").format(item=repr(item)))
        if key not in names:
            raise SymgradError(
                tr("{name} does not occur in the expression (its inputs: {inputs})").format(
                    name=repr(key), inputs=", ".join(names)
                )
            )
        number = exact(parse_expr(value))
        if not number.is_number:
            raise SymgradError(
                tr("the value of {name} must be a number, got {value}").format(
                    name=key, value=repr(value)
                )
            )
        if not _is_real(number):
            raise SymgradError(
                tr("the value of {name} must be a real number, got {value}").format(
                    name=key, value=repr(value)
                )
            )
        values[names[key]] = number
    missing = [n for n in names if names[n] not in values]
    if missing:
        raise SymgradError(
            tr("no value for {names} (give --at {first}=VALUE)").format(
                names=", ".join(missing), first=missing[0]
            )
        )
    return values


def _tex_name(symbol: sympy.Symbol) -> str:
    return symbol.name.replace("_", r"\_")


def _exact(e: sympy.Expr) -> sympy.Expr:
    e = sympy.nsimplify(e) if e.is_Float else sympy.simplify(e) if not e.is_Rational else e
    if not e.is_number:
        raise SymgradError(tr("cannot evaluate {expression}").format(expression=e))
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
