"""Tests for symgrad.parse: the whitelisted expression language of the command line."""

from __future__ import annotations

import builtins

import pytest
import sympy
from sympy import (
    Abs,
    Integer,
    Max,
    Min,
    Rational,
    Symbol,
    atan,
    cos,
    cosh,
    erf,
    exp,
    log,
    pi,
    sin,
    sinh,
    sqrt,
    tan,
    tanh,
)

from symgrad.constants import Decimal, exact
from symgrad.errors import SymgradError
from symgrad.parse import MAX_DEPTH, MAX_LENGTH, Written, operate, parse_expr, parse_written

x, y, z = Symbol("x"), Symbol("y"), Symbol("z")
apple, apple_num = Symbol("apple"), Symbol("apple_num")
orange, orange_num, tax = Symbol("orange"), Symbol("orange_num"), Symbol("tax")


ACCEPTED: list[tuple[str, sympy.Expr]] = [
    ("x*tanh(log(1+exp(x)))", x * tanh(log(1 + exp(x)))),
    ("(apple*apple_num + orange*orange_num)*tax", (apple * apple_num + orange * orange_num) * tax),
    ("1/(1+exp(-x))", 1 / (1 + exp(-x))),
    ("max(0, x)", Max(0, x)),
    ("min(x, y, z)", Min(x, y, z)),
    ("x**2 - 3.5*x", x**2 - Rational(7, 2) * x),
    ("0.01*x", Rational(1, 100) * x),
    ("1.1*x", Rational(11, 10) * x),
    ("2", Integer(2)),
    ("1e-3", Rational(1, 1000)),
    ("1E3*x", 1000 * x),
    (".5", Rational(1, 2)),
    ("1_000.25", Rational(4001, 4)),
    ("0x10", Integer(16)),
    ("0.1 + 0.2", Rational(3, 10)),
    ("-x", -x),
    ("+x", x),
    ("--x", x),
    ("x - y - z", x - y - z),
    ("x / y / z", x / (y * z)),
    ("2**3**2", Integer(512)),
    ("x**-1", 1 / x),
    ("sqrt(x)", sqrt(x)),
    ("abs(x)", Abs(x)),
    ("erf(x)", erf(x)),
    ("sigmoid(x)", 1 / (1 + exp(-x))),
    ("softplus(x)", log(1 + exp(x))),
    ("relu(x)", Max(0, x)),
    ("sin(x) + cos(x) + tan(x) + atan(x)", sin(x) + cos(x) + tan(x) + atan(x)),
    ("sinh(x)*cosh(x)", sinh(x) * cosh(x)),
    ("pi*x", pi * x),
    ("e*E", Symbol("e") * Symbol("E")),
    ("  x  ", x),
    ("(x\n + 1)", x + 1),
    ("x  # a comment", x),
    ("x" + "+x" * 900, 901 * x),
    ("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH, x),
    ("x**1000000", x**1000000),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted(text: str, expected: sympy.Expr) -> None:
    assert exact(parse_expr(text)) == expected


def test_decimals_are_exact_not_binary_floats() -> None:
    result = parse_expr("0.1")
    assert isinstance(result, Decimal) and result.value == Rational(1, 10)
    assert not result.atoms(sympy.Float)
    assert sympy.N(result, 40) == sympy.N(Rational(1, 10), 40)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("0.5*x*(1+tanh(0.7978845608*(x+0.044715*x**3)))", "0.7978845608*(0.044715*x**3 + x)"),
        ("0.01*x", "0.01*x"),
        ("1e-3*x", "1e-3*x"),
        ("x**0.5", "sqrt(x)"),
    ],
)
def test_decimals_are_kept_as_written(text: str, shown: str) -> None:
    # SymPy folds numbers into sums; a Decimal is printed as the user wrote it.
    expr = parse_expr(text)
    assert shown in str(expr)
    assert "/" not in str(expr) or "/" in text


REJECTED: list[tuple[str, str]] = [
    ("__import__('os')", "__import__"),
    ("os.system('ls')", "os.system"),
    ("x.real", "x.real"),
    ("lambda: 1", "lambda"),
    ("(lambda: 1)()", "lambda"),
    ("foo(x)", "foo"),
    ("exp", "exp"),
    ("x[0]", "x[0]"),
    ("'abc'", "abc"),
    ("x if y else z", "x if y else z"),
    ("x > 0", "x > 0"),
    ("x^2", "'**'"),
    ("f(x=1)", "f(x=1)"),
    ("exp(x=1)", "exp(x=1)"),
    ("", "empty"),
    ("   ", "empty"),
    ("x*", "column 3"),
    ("(" * 500 + "x" + ")" * 500, "nested too deeply"),
    ("-" * 500 + "x", "nested too deeply"),
    ("x**" * 200 + "x", "nested too deeply"),
    ("x" * (MAX_LENGTH + 1), "too long"),
    ("_x", "_x"),
    ("x and y", "and"),
    ("not x", "not"),
    ("x % 2", "%"),
    ("x // 2", "//"),
    ("~x", "~"),
    ("f'{x}'", "f-string"),
    ("(x := 1)", ":="),
    ("x, y", "tuple"),
    ("[x]", "list"),
    ("{x: y}", "dict"),
    ("[x for x in y]", "comprehension"),
    ("max(*x)", "*"),
    ("max(x)", "max"),
    ("exp(x, y)", "exp"),
    ("pi(x)", "pi"),
    ("True", "True"),
    ("None", "None"),
    ("1j", "1j"),
    ("b'x'", "b'x'"),
    ("x\n+1", "line 2"),
    ("x;y", "x;y"),
    ("1/0", "1/0"),
    ("log(0)", "log(0)"),
    ("9**9**9**9", "too large"),
    ("(2**1000)**1000", "too large"),
    ("sqrt(2)**(10**100)", "too large"),
    ("1e-99999999", "1e-99999999"),
    ("getattr(x, 'y')", "getattr"),
    ("x\0", "null"),
]


@pytest.mark.parametrize(("text", "mentioned"), REJECTED)
def test_rejected(text: str, mentioned: str) -> None:
    with pytest.raises(SymgradError) as info:
        parse_expr(text)
    message = str(info.value)
    assert message
    assert "\n" not in message
    assert mentioned in message


def test_rejected_messages_are_short() -> None:
    with pytest.raises(SymgradError) as info:
        parse_expr("x.real + " + "y + " * 400 + "y")
    assert len(str(info.value)) < 200


def test_caret_message() -> None:
    with pytest.raises(SymgradError, match=r"^'\^' is not an operator here; use '\*\*' for powers"):
        parse_expr("x^2")


def test_parsing_never_calls_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("eval or exec was called")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(sympy, "sympify", refuse)
    expected = x * tanh(log(1 + exp(x))) + Rational(1, 2)
    assert exact(parse_expr("x*tanh(log(1+exp(x))) + 0.5")) == expected
    with pytest.raises(SymgradError):
        parse_expr("__import__('os').system('true')")


def test_non_text_is_rejected() -> None:
    with pytest.raises(SymgradError, match="text"):
        parse_expr(42)  # type: ignore[arg-type]


# The written tree ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_written_tree_has_the_same_value(text: str, expected: sympy.Expr) -> None:
    assert parse_written(text).expr == parse_expr(text)


@pytest.mark.parametrize(("text", "mentioned"), REJECTED)
def test_written_tree_rejects_the_same_text_with_the_same_message(
    text: str, mentioned: str
) -> None:
    with pytest.raises(SymgradError) as written:
        parse_written(text)
    with pytest.raises(SymgradError) as evaluated:
        parse_expr(text)
    assert str(written.value) == str(evaluated.value)


def _shape(w: Written) -> object:
    """The tree as nested tuples: a leaf is its text, an operation (op, *operands)."""
    return w.text if not w.args else (w.op, *(_shape(a) for a in w.args))


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("a*b*c", ("*", ("*", "a", "b"), "c")),  # left-associative, as Python parses it
        ("(a*b)*c", ("*", ("*", "a", "b"), "c")),
        ("a*(b*c)", ("*", "a", ("*", "b", "c"))),
        ("a - b - c", ("-", ("-", "a", "b"), "c")),
        ("a/b/c", ("/", ("/", "a", "b"), "c")),
        ("a**b**c", ("**", "a", ("**", "b", "c"))),  # ** is right-associative
        ("-a*b", ("*", ("neg", "a"), "b")),
        ("-(a*b)", ("neg", ("*", "a", "b"))),
        ("+a", "a"),  # unary plus makes no node
        ("apple*2*1.1", ("*", ("*", "apple", "2"), "1.1")),
        ("1/(1 + exp(-x))", ("/", "1", ("+", "1", ("exp", ("neg", "x"))))),
        ("max(x, y, 0)", ("max", "x", "y", "0")),
        ("sigmoid(x)", ("sigmoid", "x")),
    ],
)
def test_written_tree_keeps_the_operations_as_written(text: str, shape: object) -> None:
    assert _shape(parse_written(text)) == shape


def test_written_nodes_know_their_text_and_whether_they_are_constant() -> None:
    tree = parse_written("x * (2 * 1.1) + pi")
    product, pi_ = tree.args
    assert (tree.text, product.text, pi_.text) == ("x * (2 * 1.1) + pi", "x * (2 * 1.1)", "pi")
    assert [a.constant for a in product.args] == [False, True]
    assert pi_.op == "number" and pi_.constant and pi_.expr is pi
    assert str(product.args[1].expr) == "2*1.1"  # never folded into 2.2


def test_written_tree_names_every_variable_even_where_it_cancels() -> None:
    tree = parse_written("x - x + y*0")
    assert tree.expr == 0 and tree.names() == ("x", "y")


def test_a_long_chain_is_walked_without_recursion() -> None:
    tree = parse_written("x" + "+x" * 900)
    ops = [w.op for w in tree.walk()]
    assert ops.count("+") == 900 and ops.count("name") == 901
    assert tree.expr == 901 * x


def test_operate_is_how_each_node_is_evaluated() -> None:
    assert operate("**", [x, Decimal("0.5")]) == sqrt(x)
    assert operate("neg", [x]) == -x
    assert operate("max", [x, y, 0]) == Max(x, y, 0)
    with pytest.raises(SymgradError, match="unknown operation"):
        operate("%", [x, y])
