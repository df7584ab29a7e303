"""Computational graphs: an expression split into the textbook's primitive nodes.

A forward expression such as ``1/(1 + exp(-x))`` becomes the chain of nodes the textbook draws,
each with one job::

    u1 = -x          node "×(-1)"   local derivative -1
    u2 = exp(u1)     node "exp"     local derivative exp(u1) = u2
    u3 = u2 + 1      node "+1"      local derivative 1
    y  = 1/u3        node "1/x"     local derivative -1/u3**2 = -y**2

Constants are folded into the node that uses them (``×(-1)``, ``+1``), identical subexpressions
share one node, and each node's local derivative with respect to each argument is written in
terms of the node's own output where that is shorter (exp → its output, 1/x → -output²), as the
textbook does. Everything here is pure SymPy.

>>> from sympy import Symbol, exp
>>> x = Symbol("x")
>>> g = build_graph(1 / (1 + exp(-x)), (x,), Symbol("y"))
>>> [n.op for n in g.nodes]
['×(-1)', 'exp', '+1', '1/x']
>>> g.nodes[-1].local_grads
(-y**2,)

An evaluated SymPy expression has SymPy's shape: ``(apple*apple_num)*tax`` is one product of
three factors, so it is one ×-node with three arguments. Given the :class:`~symgrad.parse.Written`
tree of the text instead (:func:`~symgrad.parse.parse_written`), the graph has the nodes the user
wrote, as the textbook draws them (its MulLayer and AddLayer are binary): one node per operator
and per call of the source, operands in source order, ``a*b*c`` as ``(a*b)*c``, unary minus as
×(-1), ``1/u`` as 1/x, and every subexpression without a variable folded as a constant into the
node that uses it (``apple*2*1.1`` is ×2 then ×1.1; ``2*1.1`` is never merged into 2.2):

>>> from symgrad.parse import parse_written
>>> apple, apple_num, tax = (Symbol(n) for n in ("apple", "apple_num", "tax"))
>>> [n.op for n in build_graph(parse_written("(apple*apple_num)*tax"),
...                            (apple, apple_num, tax), Symbol("price")).nodes]
['×', '×']
>>> [(n.op, n.local) for n in build_graph(parse_written("apple*2*1.1"), (apple,),
...                                       Symbol("price")).nodes]
[('×2', 2*apple), ('×1.1', 1.1*u1)]
>>> [n.op for n in build_graph(parse_written("sigmoid(x) - 2/x"), (x,), Symbol("y")).nodes]
['sigmoid', '2/x', '-']

In a written tree, two subexpressions share one node when they are the same operation on the
same arguments once constants are folded (``x*y + exp(x*y)`` has one ``x*y`` node, used twice);
``x*y`` and ``y*x`` are two nodes. The nodes of the written ``sigmoid`` and ``softplus`` are
:class:`~symgrad.functions.logistic` and :class:`~symgrad.functions.softplus`, whose local
derivatives are the textbook's ``y*(1 - y)`` and ``σ(u)``. When every input is real, the
intermediate node symbols are real too, so ``abs`` differentiates to ``sign``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy

from symgrad.constants import Decimal
from symgrad.conventions import differentiate
from symgrad.functions import logistic, softplus
from symgrad.parse import Written, operate


@dataclass(frozen=True)
class Node:
    """One primitive operation ``symbol = local`` of the graph."""

    symbol: sympy.Symbol
    op: str
    args: tuple[sympy.Symbol, ...]
    local: sympy.Expr
    value: sympy.Expr
    local_grads: tuple[sympy.Expr, ...]


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order; the last one is the output."""

    inputs: tuple[sympy.Symbol, ...]
    nodes: tuple[Node, ...]
    output: sympy.Symbol

    def node(self, symbol: sympy.Symbol) -> Node:
        return next(n for n in self.nodes if n.symbol == symbol)

    @property
    def is_chain(self) -> bool:
        """True when every node has one argument and each is used once: the textbook's chain."""
        used = [a for n in self.nodes for a in n.args]
        return all(len(n.args) == 1 for n in self.nodes) and len(used) == len(set(used))

    def adjoints(self, dout: sympy.Expr) -> dict[sympy.Symbol, sympy.Expr]:
        """∂L/∂v for every node and input v, given ∂L/∂output = ``dout`` (reverse mode)."""
        adj: dict[sympy.Symbol, sympy.Expr] = {self.output: sympy.sympify(dout)}
        for n in reversed(self.nodes):
            g = adj.get(n.symbol, sympy.S.Zero)
            for a, local in zip(n.args, n.local_grads):
                adj[a] = adj.get(a, sympy.S.Zero) + g * local
        return adj

    def in_inputs(self, expr: sympy.Expr) -> sympy.Expr:
        """Replace intermediate node symbols in ``expr`` by their values in the inputs."""
        return expr.xreplace({n.symbol: n.value for n in self.nodes if n.symbol != self.output})


@dataclass
class _Builder:
    inputs: tuple[sympy.Symbol, ...]
    output: sympy.Symbol
    prefix: str
    nodes: list[Node] = field(default_factory=list)
    memo: dict[sympy.Expr, sympy.Symbol] = field(default_factory=dict)

    def visit(self, e: sympy.Expr, root: bool = False) -> sympy.Expr:
        """Return the symbol (or constant) standing for ``e``, adding nodes as needed."""
        if e.is_number or e in self.inputs:
            return e
        if e in self.memo:
            return self.memo[e]
        if e.is_Symbol:
            return e
        op, parts = _split(e)
        args_in = [self.visit(p) for p in parts]
        local = _rebuild(e, parts, args_in)
        args = tuple(dict.fromkeys(a for a in args_in if a.is_Symbol))
        symbol = self.output if root else sympy.Symbol(f"{self.prefix}{len(self.nodes) + 1}")
        grads = tuple(_in_own_output(differentiate(local, a), local, symbol) for a in args)
        self.nodes.append(Node(symbol, op, args, local, e, grads))
        self.memo[e] = symbol
        return symbol


def build_graph(
    expr: sympy.Expr | Written,
    inputs: tuple[sympy.Symbol, ...],
    output: sympy.Symbol,
    prefix: str = "u",
) -> Graph:
    """Split ``expr`` into primitive nodes; the root node is named ``output``.

    ``expr`` is an evaluated SymPy expression, split as SymPy's tree is shaped, or a
    :class:`~symgrad.parse.Written` tree, split as the user wrote it (see the module docstring);
    a written name is the input of that name, or stays a free symbol if no input has it.
    """
    if isinstance(expr, Written):
        return _written_graph(expr, tuple(inputs), output, prefix)
    builder = _Builder(tuple(inputs), output, prefix)
    if expr.is_number or expr in inputs:
        # A layer that is a constant or the identity still gets one node.
        builder.nodes.append(
            Node(
                output,
                "id",
                tuple(inputs[:1]),
                expr,
                expr,
                tuple(sympy.diff(expr, a) for a in inputs[:1]),
            )
        )
    else:
        builder.visit(expr, root=True)
    return Graph(tuple(inputs), tuple(builder.nodes), output)


def _written_graph(
    tree: Written, inputs: tuple[sympy.Symbol, ...], output: sympy.Symbol, prefix: str
) -> Graph:
    """The graph of the operations written in ``tree`` (see the module docstring)."""
    by_name = {s.name: s for s in inputs}
    rename = {sympy.Symbol(name): s for name, s in by_name.items()}
    if tree.constant or tree.op == "name":
        return build_graph(tree.expr.xreplace(rename), inputs, output, prefix)
    real = all(s.is_real for s in inputs)
    stands: dict[int, sympy.Expr] = {}  # id of a subtree → the symbol or constant standing for it
    shared: dict[tuple[object, ...], sympy.Symbol] = {}
    nodes: list[Node] = []
    for w in tree.walk():
        if w.constant:
            stands[id(w)] = w.expr
            continue
        if w.op == "name":
            stands[id(w)] = by_name.get(w.expr.name, w.expr)
            continue
        parts = tuple(stands[id(a)] for a in w.args)
        if w.op in ("<", "<=", ">", ">="):  # where()'s condition: no node, no derivative
            stands[id(w)] = operate(w.op, parts)
            continue
        key = (w.op, parts)
        if key in shared:  # never the root: no subtree is written like the whole
            stands[id(w)] = shared[key]
            continue
        name = f"{prefix}{len(nodes) + 1}"
        symbol = (
            output if w is tree else sympy.Symbol(name, real=True) if real else sympy.Symbol(name)
        )
        local = _written_local(w.op, parts)
        args = tuple(dict.fromkeys(p for p in parts if p.is_Symbol))
        grads = tuple(_in_own_output(differentiate(local, a), local, symbol) for a in args)
        value = w.expr.xreplace(rename)
        nodes.append(Node(symbol, _written_op(w.op, parts), args, local, value, grads))
        shared[key] = stands[id(w)] = symbol
    return Graph(inputs, tuple(nodes), output)


_NAMED_FUNCTIONS = {"sigmoid": logistic, "softplus": softplus}


def _written_local(op: str, parts: Sequence[sympy.Expr]) -> sympy.Expr:
    """The node's expression: the written operation on its argument symbols and constants."""
    if op in _NAMED_FUNCTIONS:
        return _NAMED_FUNCTIONS[op](*parts)
    return operate(op, parts)


def _written_op(op: str, parts: Sequence[sympy.Expr]) -> str:
    """The label of a written node: ``×``, ``×2``, ``+1``, ``1/x``, ``x^2``, ``exp``, ...

    A constant operand is written into the label, in parentheses unless it is a plain number
    or a call; ``x`` stands for the other operand where the constant comes first.
    """
    if op == "neg":
        return "×(-1)"
    if op == "sqrt":
        return "√"
    symbol = {"+": "+", "-": "-", "*": "×", "/": "÷", "**": "^"}.get(op)
    if symbol is None:
        return op  # a call: its function's name
    left, right = parts
    if left.is_Symbol and right.is_Symbol:
        return symbol
    if right.is_Symbol:  # the constant comes first
        c = _constant(left)
        return {"**": f"{c}^x", "-": f"{c}-x", "/": f"{c}/x"}.get(op, f"{symbol}{c}")
    c = _constant(right)
    return {"**": f"x^{c}", "/": f"/{c}"}.get(op, f"{symbol}{c}")


def _constant(c: sympy.Expr) -> str:
    """``c`` in a node label: ``2``, ``1.1``, ``pi``, ``exp(2)`` bare; ``(-1)``, ``(1/3)``."""
    plain = (
        (c.is_Integer and c >= 0)
        or isinstance(c, Decimal | sympy.NumberSymbol | sympy.Function)
        or (c.is_Pow and c.exp == sympy.S.Half)
    )
    return str(c) if plain else f"({c})"


def _split(e: sympy.Expr) -> tuple[str, list[sympy.Expr]]:
    """The node label of ``e`` and its non-constant parts."""
    if isinstance(e, sympy.Mul):
        # Every constant factor (a Decimal as written, π, ...) folds into the node's label.
        numbers = [f for f in e.args if f.is_number]
        factors = [f for f in e.args if not f.is_number]
        coeff = sympy.Mul(*numbers)
        if len(factors) == 1 and coeff != 1:
            return f"×({_num(coeff)})" if coeff.is_negative else f"×{_num(coeff)}", factors
        return "×", [f for f in e.args]
    if isinstance(e, sympy.Add):
        numbers = [a for a in e.args if a.is_number]
        terms = [a for a in e.args if not a.is_number]
        coeff = sympy.Add(*numbers)
        if len(terms) == 1 and coeff != 0:
            return (f"+{_num(coeff)}" if coeff.is_positive else f"-{_num(-coeff)}"), terms
        return "+", list(e.args)
    if isinstance(e, sympy.Pow):
        base, ex = e.args
        if ex == -1:
            return "1/x", [base]
        if ex.is_number:
            return ("√" if ex == sympy.S.Half else f"x^{_num(ex)}"), [base]
        return "^", [base, ex]
    name = getattr(e.func, "__name__", type(e).__name__).lower()
    if isinstance(e, sympy.Piecewise):
        # One node: its branches and conditions are read from the inputs directly.
        return name, sorted(e.free_symbols, key=lambda s: s.name)
    parts = [a for a in e.args if not a.is_number]
    return name, parts


def _rebuild(e: sympy.Expr, parts: list[sympy.Expr], symbols: list[sympy.Expr]) -> sympy.Expr:
    return e.xreplace(dict(zip(parts, symbols)))


def _in_own_output(d: sympy.Expr, local: sympy.Expr, symbol: sympy.Symbol) -> sympy.Expr:
    """Write a local derivative in terms of the node's output when that is shorter."""
    if local.is_number:  # a written node that cancels (x - x): no output to write it in
        return d
    if isinstance(local, sympy.Piecewise) or local.has(sympy.Max, sympy.Min):
        return d
    candidate = d.subs(local, symbol)
    only_output = candidate.free_symbols <= {symbol} | (d.free_symbols - local.free_symbols)
    if only_output and sympy.count_ops(candidate) <= sympy.count_ops(d):
        return candidate
    return d


def _num(c: sympy.Expr) -> str:
    return str(c)
