"""Computational graphs as written: the textbook's figures, node by node, and a property test."""

from __future__ import annotations

import cmath

import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symgrad.constants import exact
from symgrad.errors import SymgradError
from symgrad.evaluation import GraphEvaluation, evaluate_graph, fmt
from symgrad.graph import build_graph
from symgrad.parse import parse_expr, parse_written

SHOP_AT = ["apple=100", "apple_num=2", "orange=150", "orange_num=3", "tax=1.1"]
FIG_5_3_AT = ["apple=100", "apple_num=2", "tax=1.1"]


def _nodes(g: GraphEvaluation) -> list[tuple[str, str]]:
    """(op, value) of every node, in order."""
    return [(n.op, fmt(g.node_values[n.symbol])) for n in g.graph.nodes]


def _gradients(g: GraphEvaluation) -> dict[str, str]:
    return {str(v): fmt(d) for v, d in g.gradients.items()}


# The textbook's figures -----------------------------------------------------------------------


def test_figure_5_2_folds_each_constant_into_its_own_node() -> None:
    g = evaluate_graph("apple*2*1.1", ["apple=100"])
    assert _nodes(g) == [("×2", "200"), ("×1.1", "220")]  # never one ×2.2 node
    assert _gradients(g) == {"apple": "2.2"}
    first, second = g.graph.nodes
    assert [fmt(g.node_gradients[s]) for s in (first.symbol, second.symbol)] == ["1.1", "1"]
    assert second.args == (first.symbol,)


@pytest.mark.parametrize("text", ["apple*apple_num*tax", "(apple*apple_num)*tax"])
def test_figure_5_3_has_two_multiply_nodes(text: str) -> None:
    g = evaluate_graph(text, FIG_5_3_AT)
    assert _nodes(g) == [("×", "200"), ("×", "220")]
    assert _gradients(g) == {"apple": "2.2", "apple_num": "110", "tax": "200"}
    first, second = g.graph.nodes
    assert set(first.args) == {
        sympy.Symbol("apple", real=True),
        sympy.Symbol("apple_num", real=True),
    }
    assert first.symbol in second.args


def test_parentheses_give_the_graph_its_shape() -> None:
    g = evaluate_graph("apple*(apple_num*tax)", FIG_5_3_AT)
    assert _nodes(g) == [("×", "2.2"), ("×", "220")]
    assert _gradients(g) == {"apple": "2.2", "apple_num": "110", "tax": "200"}


def test_the_shopping_figure() -> None:
    g = evaluate_graph("(apple*apple_num + orange*orange_num)*tax", SHOP_AT)
    assert _nodes(g) == [("×", "200"), ("×", "450"), ("+", "650"), ("×", "715")]
    assert _gradients(g) == {
        "apple": "2.2",
        "apple_num": "110",
        "orange": "3.3",
        "orange_num": "165",
        "tax": "650",
    }
    assert [fmt(g.node_gradients[n.symbol]) for n in g.graph.nodes] == ["1.1", "1.1", "1.1", "1"]


def test_sigmoid_written_out_is_the_textbooks_chain() -> None:
    g = evaluate_graph("1/(1 + exp(-x))", ["x=0"])
    assert [op for op, _ in _nodes(g)] == ["×(-1)", "exp", "+1", "1/x"]
    assert _gradients(g) == {"x": "0.25"}
    assert g.graph.is_chain


def test_a_sigmoid_call_is_one_node_with_the_textbooks_derivative() -> None:
    g = evaluate_graph("y = sigmoid(x)", ["x=0"])
    (node,) = g.graph.nodes
    y = sympy.Symbol("y")
    assert node.op == "sigmoid" and sympy.expand(node.local_grads[0] - y * (1 - y)) == 0
    assert fmt(g.value) == "0.5" and _gradients(g) == {"x": "0.25"}


@pytest.mark.parametrize(
    ("text", "ops"),
    [
        ("-x", ["×(-1)"]),
        ("--x", ["×(-1)", "×(-1)"]),
        ("x - 1", ["-1"]),
        ("1 - x", ["1-x"]),
        ("x/2", ["/2"]),
        ("1/x", ["1/x"]),
        ("2/x", ["2/x"]),
        ("x/y", ["÷"]),
        ("x**2", ["x^2"]),
        ("x**-1", ["x^(-1)"]),
        ("2**x", ["2^x"]),
        ("x**y", ["^"]),
        ("x*(-2)", ["×(-2)"]),
        ("x*(2*1.1)", ["×(2*1.1)"]),
        ("pi*x", ["×pi"]),
        ("+x + 1", ["+1"]),
        ("sqrt(x) + abs(x)", ["√", "abs", "+"]),
        ("max(0, x) - relu(x)", ["max", "relu", "-"]),
        ("x*y + exp(x*y)", ["×", "exp", "+"]),  # the same x*y, written twice: one node
        ("x*y + y*x", ["×", "×", "+"]),  # written differently: two nodes
        ("x*2 + x*(1 + 1)", ["×2", "+"]),  # the same once constants are folded
    ],
)
def test_node_labels(text: str, ops: list[str]) -> None:
    at = [f"{v}=3" for v in parse_written(text).names()]
    assert [n.op for n in evaluate_graph(text, at).graph.nodes] == ops


def test_a_written_node_that_cancels_keeps_its_inputs() -> None:
    g = evaluate_graph("x - x", ["x=3"])
    assert _nodes(g) == [("-", "0")] and _gradients(g) == {"x": "0"}


def test_a_constant_or_a_lone_input_is_one_identity_node() -> None:
    assert [n.op for n in evaluate_graph("x", ["x=2"]).graph.nodes] == ["id"]
    assert fmt(evaluate_graph("(x)", ["x=2"]).gradients[sympy.Symbol("x", real=True)]) == "1"


def test_abs_of_a_node_differentiates_to_sign() -> None:
    g = evaluate_graph("abs(x*y)", ["x=-1", "y=2"])
    assert _gradients(g) == {"x": "-2", "y": "1"}


def test_evaluated_expressions_keep_sympys_shape() -> None:
    # The derivation engine passes evaluated expressions: they still give SymPy's nodes.
    x, y, z = sympy.symbols("x y z")
    assert [n.op for n in build_graph(x * y * z, (x, y, z), sympy.Symbol("out")).nodes] == ["×"]
    sigmoid = build_graph(1 / (1 + sympy.exp(-x)), (x,), sympy.Symbol("y"))
    assert [n.op for n in sigmoid.nodes] == ["×(-1)", "exp", "+1", "1/x"]


def test_the_written_tree_and_the_evaluated_expression_agree() -> None:
    text = "(apple*apple_num + orange*orange_num)*tax"
    tree = parse_written(text)
    assert tree.expr == parse_expr(text)
    apple = sympy.Symbol("apple")
    graph = build_graph(tree, (apple,), sympy.Symbol("out"))  # other names stay free symbols
    assert graph.nodes[-1].value == parse_expr(text)


# Property: the graph is the written expression, split honestly ---------------------------------

VARIABLES = ("x", "y", "z")
FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "softplus", "atan", "sin", "cos")
OPERATORS = ("+", "-", "*", "/")

NUMBERS = ("1", "2", "3", "0.5", "1.1", "0.25")
# Twice as many variables as numbers: few trees are constant.
leaves = st.sampled_from([("var", v) for v in VARIABLES * 4] + [("num", c) for c in NUMBERS])


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(OPERATORS), children, children),
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("call"), st.sampled_from(FUNCTIONS), children),
    )


trees = st.recursive(leaves, _extend, max_leaves=10)


def _text(t: tuple) -> str:
    """The tree as source text, every operation in parentheses."""
    kind = t[0]
    if kind in ("var", "num"):
        return t[1]
    if kind == "neg":
        return f"(-{_text(t[1])})"
    if kind == "call":
        return f"{t[1]}({_text(t[2])})"
    return f"({_text(t[2])} {t[1]} {_text(t[3])})"


def _is_constant(t: tuple) -> bool:
    kind = t[0]
    if kind in ("var", "num"):
        return kind == "num"
    return all(_is_constant(c) for c in t[1:] if isinstance(c, tuple))


def _key(t: tuple) -> object:
    """What identifies a node: the operation and its operands, constants by their value."""
    if _is_constant(t):
        return parse_expr(_text(t))
    if t[0] == "var":
        return t[1]
    return (t[0], *(c if isinstance(c, str) else _key(c) for c in t[1:]))


def _operations(t: tuple) -> dict[str, set]:
    """The distinct operations involving a variable, by kind: "bin", "neg" and "call"."""
    found: dict[str, set] = {"bin": set(), "neg": set(), "call": set()}
    stack = [t]
    while stack:
        u = stack.pop()
        if u[0] in found and not _is_constant(u):
            found[u[0]].add(_key(u))
        stack += [c for c in u[1:] if isinstance(c, tuple)]
    return found


def _number(e: sympy.Expr) -> complex:
    return complex(sympy.N(e, 30))


def _close(a: complex, b: complex) -> bool:
    return cmath.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(
    tree=trees,
    point=st.fixed_dictionaries(
        {v: st.sampled_from(["0.5", "1.25", "2", "3", "-0.75", "-1.5"]) for v in VARIABLES}
    ),
)
def test_the_graph_is_the_written_expression_split_honestly(tree: tuple, point: dict) -> None:
    text = _text(tree)
    names = parse_written(text).names()
    assume(names)
    at = [f"{v}={point[v]}" for v in names]
    try:
        g = evaluate_graph(text, at)
    except SymgradError as err:
        # Only a point outside the domain may be refused, and it says so.
        assert "not real" in str(err) or "not finite" in str(err), str(err)
        assume(False)
        return
    ops = [n.op for n in g.graph.nodes]
    found = _operations(tree)
    if tree[0] == "var":
        assert ops == ["id"]
    else:
        calls = sum(op in FUNCTIONS or op == "√" for op in ops)
        assert calls == len(found["call"]), (text, ops)
        assert len(ops) - calls - len(found["neg"]) == len(found["bin"]), (text, ops)
    symbols = {v: sympy.Symbol(v, real=True) for v in names}
    expr = exact(parse_expr(text)).xreplace({sympy.Symbol(v): s for v, s in symbols.items()})
    values = {s: exact(parse_expr(point[v])) for v, s in symbols.items()}
    assert _close(_number(g.value), _number(expr.xreplace(values))), text
    for v, s in symbols.items():
        expected = _number(sympy.diff(expr, s).xreplace(values))
        assert _close(_number(g.gradients[s]), expected), (text, v)
