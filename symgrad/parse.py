"""Turn expression text from the command line into a SymPy expression, safely.

The text is parsed with :mod:`ast` and the tree is walked against a whitelist; SymPy objects are
built directly. No Python is evaluated and ``sympy.sympify`` is never called on the text.

What is accepted:

* numbers: integer and decimal literals (``2``, ``3.5``, ``1e-3``). A decimal literal is a
  :class:`~symgrad.constants.Decimal`: exact (``0.01`` is 1/100, never the binary float nearest
  to it) and printed as written, because SymPy would otherwise fold ``0.7978845608*(x +
  0.044715*x**3)`` into 15-digit fractions; in an exponent it is the exact rational
  (``x**0.5`` is ``sqrt(x)``);
* names: any identifier is a variable (``sympy.Symbol``), except that ``pi`` is ``sympy.pi``,
  names starting with ``_`` are rejected, and function names must be called;
* operators ``+ - * / **`` and unary ``+ -`` (``^`` is rejected: write ``**``);
* calls of these functions with positional arguments: ``exp log sqrt tanh sinh cosh sin cos
  tan atan erf abs relu sigmoid softplus`` (one argument each), ``max min`` (two or more) and
  ``where(a < b, p, q)`` (``p`` where the comparison holds, else ``q``; ``< <= > >=``).
  ``sigmoid(u)`` is ``1/(1 + exp(-u))``, ``softplus(u)`` is ``log(1 + exp(u))`` and ``relu(u)``
  is ``Max(0, u)``.

Everything else (attributes, subscripts, strings, lambdas, comparisons outside ``where``, ...)
is a :class:`~symgrad.errors.SymgradError` with a one-line message naming the offending part.

>>> parse_expr("x*tanh(log(1 + exp(x)))")
x*tanh(log(exp(x) + 1))
>>> parse_expr("x**2 - 3.5*x")
x**2 - 3.5*x
>>> parse_expr("x**0.5")
sqrt(x)
>>> parse_expr("x^2")
Traceback (most recent call last):
    ...
symgrad.errors.SymgradError: '^' is not an operator here; use '**' for powers (in 'x^2')

SymPy evaluates as it builds: ``(apple*apple_num)*tax`` becomes one product of three factors and
``apple*2*1.1`` one product with two numbers. :func:`parse_written` keeps what the user wrote: a
:class:`Written` tree with one node per operator and per call of the source, each carrying its
text and its SymPy value (the same value :func:`parse_expr` returns; one walk builds both).

>>> tree = parse_written("(apple*apple_num)*tax")
>>> tree.op, [a.text for a in tree.args]
('*', ['apple*apple_num', 'tax'])
>>> tree.expr
apple*apple_num*tax
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sympy

from symgrad.constants import Decimal as DecimalConstant
from symgrad.constants import exact
from symgrad.errors import SymgradError
from symgrad.i18n import N_, tr

__all__ = [
    "BINARY_OPS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Written",
    "operate",
    "parse_expr",
    "parse_written",
]

MAX_LENGTH = 2000
"""Longest text accepted, in characters."""

MAX_DEPTH = 100
"""Deepest nesting accepted: parentheses, or operators and calls inside one another."""

_MAX_DECIMAL_EXPONENT = 1000
_MAX_POWER_BITS = 100_000
_MAX_SHOWN = 60


def _sigmoid(u: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + sympy.exp(-u))


def _softplus(u: sympy.Expr) -> sympy.Expr:
    return sympy.log(1 + sympy.exp(u))


def _relu(u: sympy.Expr) -> sympy.Expr:
    return sympy.Max(0, u)


_UNARY_FUNCTIONS: dict[str, Callable[[sympy.Expr], sympy.Expr]] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "atan": sympy.atan,
    "erf": sympy.erf,
    "abs": sympy.Abs,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
}

_VARIADIC_FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {"max": sympy.Max, "min": sympy.Min}

_COMPARISONS: dict[type[ast.cmpop], str] = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_RELATIONS: dict[str, Callable[[sympy.Expr, sympy.Expr], sympy.Basic]] = {
    "<": sympy.Lt,
    "<=": sympy.Le,
    ">": sympy.Gt,
    ">=": sympy.Ge,
}


def _where(condition: sympy.Basic, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return sympy.Piecewise((a, condition), (b, True))


_FUNCTION_NAMES = frozenset(_UNARY_FUNCTIONS) | frozenset(_VARIADIC_FUNCTIONS) | {"where"}

_BINARY_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}

BINARY_OPS = ("+", "-", "*", "/", "**")
"""The binary operators of a :class:`Written` tree, as in the source."""

_OPERATIONS: dict[str, Callable[..., sympy.Expr]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** exact(b),
    "neg": lambda a: -a,
    **_UNARY_FUNCTIONS,
    **_VARIADIC_FUNCTIONS,
    **_RELATIONS,
    "where": _where,
}

_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.Invert: "~",
    ast.Not: "not",
}

_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Attribute: N_("attribute access is not allowed: {code}"),
    ast.Subscript: N_("subscripts are not allowed: {code}"),
    ast.Slice: N_("slices are not allowed: {code}"),
    ast.Lambda: N_("lambda is not allowed: {code}"),
    ast.ListComp: N_("comprehensions are not allowed: {code}"),
    ast.SetComp: N_("comprehensions are not allowed: {code}"),
    ast.DictComp: N_("comprehensions are not allowed: {code}"),
    ast.GeneratorExp: N_("generator expressions are not allowed: {code}"),
    ast.Compare: N_("comparisons are not allowed: {code}"),
    ast.BoolOp: N_("boolean operators ('and', 'or') are not allowed: {code}"),
    ast.IfExp: N_("conditional expressions are not allowed: {code}"),
    ast.NamedExpr: N_("':=' is not allowed: {code}"),
    ast.JoinedStr: N_("f-strings are not allowed: {code}"),
    ast.FormattedValue: N_("f-strings are not allowed: {code}"),
    ast.Tuple: N_("tuples are not allowed: {code}"),
    ast.List: N_("lists are not allowed: {code}"),
    ast.Set: N_("sets are not allowed: {code}"),
    ast.Dict: N_("dicts are not allowed: {code}"),
    ast.Starred: N_("'*' unpacking is not allowed: {code}"),
    ast.Await: N_("await is not allowed: {code}"),
    ast.Yield: N_("yield is not allowed: {code}"),
    ast.YieldFrom: N_("yield is not allowed: {code}"),
}


@dataclass(frozen=True, eq=False)
class Written:
    """One operation of the source text, as the user wrote it.

    ``op`` is ``"name"`` (a variable), ``"number"`` (a literal, or ``pi``), one of
    :data:`BINARY_OPS`, ``"neg"`` (unary minus; unary plus makes no node), or the name of the
    called function as written (``"exp"``, ``"sigmoid"``, ``"max"``). ``args`` are the operands
    in source order: Python's operators are left-associative, so ``a*b*c`` is ``(a*b)*c``, a
    product of a product, and parentheses give the tree its shape. ``expr`` is the SymPy value of
    this subtree, evaluated (what :func:`parse_expr` returns for its text); ``text`` is its source
    text on one line. ``constant`` says the subtree names no variable (``2*1.1``, ``pi/2``).

    Identity is the object's: two subtrees written alike are two objects (the graph builder
    decides what to share).

    >>> tree = parse_written("apple*2*1.1")
    >>> [(w.op, w.text) for w in tree.walk()]
    [('name', 'apple'), ('number', '2'), ('*', 'apple*2'), ('number', '1.1'), ('*', 'apple*2*1.1')]
    >>> tree.expr, tree.names()
    (2*1.1*apple, ('apple',))
    """

    op: str
    args: tuple[Written, ...]
    expr: sympy.Expr
    text: str
    constant: bool

    def walk(self) -> Iterator[Written]:
        """Every subtree once, operands before the operation that uses them (no recursion)."""
        stack: list[tuple[Written, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded or not node.args:
                yield node
                continue
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(node.args))

    def names(self) -> tuple[str, ...]:
        """The variables written in this subtree, sorted (even where they cancel, as in x - x)."""
        return tuple(sorted({w.expr.name for w in self.walk() if w.op == "name"}))


def operate(op: str, args: Sequence[sympy.Expr]) -> sympy.Expr:
    """The SymPy value of the operation ``op`` of a :class:`Written` node applied to ``args``.

    This is how the parser evaluates each node; the graph builder uses it for node expressions.
    A power's exponent is made exact (``x**0.5`` is ``sqrt(x)``).

    >>> x = sympy.Symbol("x")
    >>> operate("-", [x, 1]), operate("**", [x, DecimalConstant("0.5")]), operate("sigmoid", [x])
    (x - 1, sqrt(x), 1/(1 + exp(-x)))
    """
    if op not in _OPERATIONS:
        raise SymgradError(f"unknown operation {op!r}")
    return _OPERATIONS[op](*args)


def parse_expr(text: str) -> sympy.Expr:
    """Parse ``text`` into a SymPy expression without evaluating any Python.

    Raises :class:`SymgradError` with a one-line message for anything outside the accepted
    language (see the module docstring).

    >>> parse_expr("(apple*apple_num + orange*orange_num)*tax")
    tax*(apple*apple_num + orange*orange_num)
    >>> exact(parse_expr("0.01*x")) == sympy.Rational(1, 100) * sympy.Symbol("x")
    True
    >>> parse_expr("__import__('os')")
    Traceback (most recent call last):
        ...
    symgrad.errors.SymgradError: names starting with '_' are not allowed: '__import__'
    """
    return parse_written(text).expr


def parse_written(text: str) -> Written:
    """Parse ``text`` into its :class:`Written` tree: the operations as the user wrote them.

    Accepts and rejects exactly what :func:`parse_expr` does, with the same messages, and
    ``parse_written(text).expr == parse_expr(text)``.

    >>> tree = parse_written("(apple*apple_num + orange*orange_num)*tax")
    >>> [w.op for w in tree.walk() if w.op in BINARY_OPS]
    ['*', '*', '+', '*']
    >>> [w.op for w in parse_written("-x + sigmoid(x)/2").walk()]
    ['name', 'neg', 'name', 'sigmoid', 'number', '/', '+']
    """
    source = _checked_text(text)
    tree = _syntax_tree(source)
    try:
        return _Builder(source).build(tree.body, 1)
    except SymgradError:
        raise
    except RecursionError:
        raise SymgradError(
            tr("expression is nested too deeply: {code}").format(code=_quote(source))
        ) from None
    except Exception as exc:  # SymPy may raise almost anything; users see one line
        raise SymgradError(
            tr("cannot build {code}: {reason}").format(
                code=_quote(source), reason=_one_line(str(exc))
            )
        ) from None


def _checked_text(text: str) -> str:
    """Return ``text`` stripped, after the checks that need no parsing."""
    if not isinstance(text, str):
        raise SymgradError(
            tr("expression must be text, not {type}").format(type=type(text).__name__)
        )
    if len(text) > MAX_LENGTH:
        raise SymgradError(
            tr("expression is too long ({length} characters; at most {limit})").format(
                length=len(text), limit=MAX_LENGTH
            )
        )
    source = text.strip()
    if not source:
        raise SymgradError(tr("empty expression"))
    if _bracket_depth(source) > MAX_DEPTH:
        raise SymgradError(
            tr("expression is nested too deeply (more than {limit} parentheses)").format(
                limit=MAX_DEPTH
            )
        )
    return source


def _bracket_depth(source: str) -> int:
    """The deepest bracket nesting in ``source``, counted on characters alone."""
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _syntax_tree(source: str) -> ast.Expression:
    """Parse ``source`` as one Python expression, turning every failure into a SymgradError."""
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        reason = _one_line(exc.msg or "invalid syntax")
        line, column, several = _position(source, exc)
        message = (
            tr("cannot parse {code}: {reason} at line {line}, column {column}")
            if several
            else tr("cannot parse {code}: {reason} at column {column}")
        )
        raise SymgradError(
            message.format(code=_quote(source), reason=reason, line=line, column=column)
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        reason = _one_line(str(exc)) or type(exc).__name__
        raise SymgradError(
            tr("cannot parse {code}: {reason}").format(code=_quote(source), reason=reason)
        ) from None


def _position(source: str, error: SyntaxError) -> tuple[int, int, bool]:
    """Where ``error`` happened: its line and column, and whether the source has several lines
    (a message names the line only then)."""
    lines = source.splitlines() or [""]
    line = error.lineno if error.lineno and 1 <= error.lineno <= len(lines) else len(lines)
    column = error.offset or len(lines[line - 1]) + 1  # SyntaxError says 0 at the end of input
    return line, column, len(lines) > 1


class _Builder:
    """Walks a whitelisted ``ast`` tree and builds the :class:`Written` tree it denotes."""

    def __init__(self, source: str) -> None:
        self.source = source

    def build(self, node: ast.expr, depth: int) -> Written:
        if depth > MAX_DEPTH:
            raise SymgradError(
                tr("expression is nested too deeply (more than {limit} levels)").format(
                    limit=MAX_DEPTH
                )
            )
        if isinstance(node, ast.Constant):
            return self.leaf("number", node, self.constant(node))
        if isinstance(node, ast.Name):
            expr = self.name(node)
            return self.leaf("number" if expr is sympy.pi else "name", node, expr)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.forbidden(node)

    def leaf(self, op: str, node: ast.expr, expr: sympy.Expr) -> Written:
        return Written(op, (), expr, self.text(node), op == "number")

    def node(self, op: str, node: ast.expr, args: Sequence[Written]) -> Written:
        """The operation ``op`` on ``args``, checked (see :meth:`checked`) unless it is ``neg``."""
        expr = operate(op, [a.expr for a in args])
        if op != "neg":
            expr = self.checked(expr, node)
        return Written(op, tuple(args), expr, self.text(node), all(a.constant for a in args))

    def constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise SymgradError(
                tr("{code} is not allowed in an expression").format(code=self.quote(node))
            )
        if isinstance(value, int):
            return sympy.Integer(value)
        if isinstance(value, float):
            return self.decimal(node)
        if isinstance(value, complex):
            raise SymgradError(
                tr("complex numbers are not allowed: {code}").format(code=self.quote(node))
            )
        if isinstance(value, str | bytes):
            raise SymgradError(tr("strings are not allowed: {code}").format(code=self.quote(node)))
        raise SymgradError(tr("this constant is not allowed: {code}").format(code=self.quote(node)))

    def decimal(self, node: ast.Constant) -> sympy.Expr:
        """The exact value of a decimal literal, read from its source text."""
        literal = (self.segment(node) or repr(node.value)).replace("_", "")
        try:
            number = Decimal(literal)
        except InvalidOperation:
            raise SymgradError(
                tr("not a decimal number: {code}").format(code=self.quote(node))
            ) from None
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int) or abs(exponent) > _MAX_DECIMAL_EXPONENT:
            raise SymgradError(tr("number out of range: {code}").format(code=self.quote(node)))
        return DecimalConstant(literal)

    def name(self, node: ast.Name) -> sympy.Expr:
        identifier = node.id
        if identifier.startswith("_"):
            raise SymgradError(
                tr("names starting with '_' are not allowed: '{name}'").format(name=identifier)
            )
        if identifier in _FUNCTION_NAMES:
            raise SymgradError(
                tr(
                    "'{name}' is a function; call it, as in {name}(x), or use another variable name"
                ).format(name=identifier)
            )
        if identifier == "pi":
            return sympy.pi
        return sympy.Symbol(identifier)

    def binary(self, node: ast.BinOp, depth: int) -> Written:
        """Build ``a + b - c * d ...``: left-associative chains are walked without recursion."""
        if isinstance(node.op, ast.Pow):
            return self.power(node, depth)
        chain: list[ast.BinOp] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp) and not isinstance(current.op, ast.Pow):
            chain.append(current)
            current = current.left
        result = self.build(current, depth + 1)
        for link in reversed(chain):
            op = self.operator(link)
            result = self.node(op, link, [result, self.build(link.right, depth + 1)])
        return result

    def operator(self, node: ast.BinOp) -> str:
        op = _BINARY_OPERATORS.get(type(node.op))
        if op is not None:
            return op
        if isinstance(node.op, ast.BitXor):
            raise SymgradError(
                tr("'^' is not an operator here; use '**' for powers (in {code})").format(
                    code=self.quote(node)
                )
            )
        symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
        raise SymgradError(
            tr("operator '{operator}' is not allowed: {code}").format(
                operator=symbol, code=self.quote(node)
            )
        )

    def power(self, node: ast.BinOp, depth: int) -> Written:
        base = self.build(node.left, depth + 1)
        exponent = self.build(node.right, depth + 1)
        if _power_too_large(base.expr, exact(exponent.expr)):
            raise SymgradError(
                tr("power is too large to compute exactly: {code}").format(code=self.quote(node))
            )
        return self.node("**", node, [base, exponent])

    def unary(self, node: ast.UnaryOp, depth: int) -> Written:
        if isinstance(node.op, ast.USub):
            return self.node("neg", node, [self.build(node.operand, depth + 1)])
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand, depth + 1)
        symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
        raise SymgradError(
            tr("operator '{operator}' is not allowed: {code}").format(
                operator=symbol, code=self.quote(node)
            )
        )

    def call(self, node: ast.Call, depth: int) -> Written:
        function = self.function_name(node)
        if node.keywords:
            raise SymgradError(
                tr("keyword arguments are not allowed: {code}").format(code=self.quote(node))
            )
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise SymgradError(
                tr("'*' unpacking is not allowed: {code}").format(code=self.quote(node))
            )
        self.check_arity(function, node.args, node)
        if function == "where":
            return self.where(node, depth)
        return self.node(function, node, [self.build(arg, depth + 1) for arg in node.args])

    def where(self, node: ast.Call, depth: int) -> Written:
        """``where(a < b, p, q)``: ``p`` where the comparison holds, else ``q``."""
        test = node.args[0]
        if not isinstance(test, ast.Compare) or len(test.ops) != 1:
            raise SymgradError(
                tr("where() takes a comparison first, as in where(x > 0, x, 0): {code}").format(
                    code=self.quote(node)
                )
            )
        op = _COMPARISONS.get(type(test.ops[0]))
        if op is None:
            raise SymgradError(
                tr("where() compares with < <= > >=: {code}").format(code=self.quote(test))
            )
        sides = [self.build(test.left, depth + 1), self.build(test.comparators[0], depth + 1)]
        condition = Written(
            op,
            tuple(sides),
            operate(op, [a.expr for a in sides]),
            self.text(test),
            all(a.constant for a in sides),
        )
        values = [self.build(arg, depth + 1) for arg in node.args[1:]]
        return self.node("where", node, [condition, *values])

    def function_name(self, node: ast.Call) -> str:
        """The whitelisted name that ``node`` calls, or a SymgradError saying why not."""
        func = node.func
        if isinstance(func, ast.Attribute):
            raise SymgradError(
                tr("attribute access is not allowed: {code}").format(code=self.quote(node))
            )
        if not isinstance(func, ast.Name):
            raise SymgradError(
                tr("only named functions can be called, not {callee} (in {code})").format(
                    callee=self.quote(func), code=self.quote(node)
                )
            )
        if func.id.startswith("_"):
            raise SymgradError(
                tr("names starting with '_' are not allowed: '{name}'").format(name=func.id)
            )
        if func.id not in _FUNCTION_NAMES:
            known = ", ".join(sorted(_FUNCTION_NAMES))
            raise SymgradError(
                tr("unknown function '{name}' in {code}; known functions: {known}").format(
                    name=func.id, code=self.quote(node), known=known
                )
            )
        return func.id

    def check_arity(self, function: str, args: Sequence[ast.expr], node: ast.Call) -> None:
        if function in _VARIADIC_FUNCTIONS and len(args) < 2:
            raise SymgradError(
                tr("{function}() takes at least 2 arguments, got {count}: {code}").format(
                    function=function, count=len(args), code=self.quote(node)
                )
            )
        if function == "where" and len(args) != 3:
            raise SymgradError(
                tr(
                    "where() takes 3 arguments (a comparison and two values), got {count}: {code}"
                ).format(count=len(args), code=self.quote(node))
            )
        if function in _UNARY_FUNCTIONS and len(args) != 1:
            raise SymgradError(
                tr("{function}() takes exactly 1 argument, got {count}: {code}").format(
                    function=function, count=len(args), code=self.quote(node)
                )
            )

    def checked(self, expr: sympy.Expr, node: ast.expr) -> sympy.Expr:
        """``expr``, unless it is undefined or infinite (as ``1/0`` or ``log(0)`` are)."""
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise SymgradError(
                tr("undefined or infinite value (division by zero?) in {code}").format(
                    code=self.quote(node)
                )
            )
        return expr

    def forbidden(self, node: ast.AST) -> SymgradError:
        message = _FORBIDDEN.get(type(node))
        if message is None:
            return SymgradError(
                tr("'{kind}' is not allowed: {code}").format(
                    kind=type(node).__name__, code=self.quote(node)
                )
            )
        return SymgradError(tr(message).format(code=self.quote(node)))

    def segment(self, node: ast.AST) -> str | None:
        return ast.get_source_segment(self.source, node)

    def text(self, node: ast.AST) -> str:
        """The source text of ``node`` on one line."""
        return _one_line(self.segment(node) or "")

    def quote(self, node: ast.AST) -> str:
        segment = self.segment(node)
        return _quote(segment) if segment else tr("a {kind}").format(kind=type(node).__name__)


def _power_too_large(base: sympy.Expr, exponent: sympy.Expr) -> bool:
    """Whether SymPy might build huge exact numbers for ``base**exponent``, as for ``9**9**9``.

    The estimate is the size, in bits, of the base's rational numbers times the exponent.
    """
    if not isinstance(exponent, sympy.Rational):
        return False
    base_bits = sum(
        max(abs(atom.p).bit_length(), atom.q.bit_length())
        for atom in base.atoms(sympy.Rational)
        if abs(atom) != 1
    )
    return bool(abs(exponent) * base_bits > _MAX_POWER_BITS)


def _one_line(message: str) -> str:
    """``message`` with every run of whitespace or unprintable characters made one space."""
    return " ".join("".join(c if c.isprintable() else " " for c in message).split())


def _quote(text: str) -> str:
    """``text`` on one line, shortened, in quotes that it does not contain."""
    shown = _one_line(text)
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    return f'"{shown}"' if "'" in shown else f"'{shown}'"
