"""Declaring a layer as text: statements over named axes, parsed safely and never evaluated.

One statement per line (or separated by ``;``)::

    mu[d] = mean_n(x[n, d])
    xc[n, d] = x[n, d] - mu[d]
    var[d] = mean_n(xc[n, d]**2)
    xhat[n, d] = xc[n, d] / sqrt(var[d] + eps)
    y[n, d] = gamma[d] * xhat[n, d] + beta[d]

A tensor is a name with its axes in brackets (``...`` for any number of axes, once); a name
without brackets is a scalar constant (``eps``). ``sum_k(e)``, ``mean_k(e)`` and ``max_k(e)``
reduce an expression over the axis ``k``, ``sum(e)`` and ``mean(e)`` over all of its axes;
inside one, an axis that is not the tensor's own is a dummy index and is read as the tensor's
axis at that place (``sum_j(exp(x[n, j]))`` over ``x[n, k]`` sums over ``k``). Reductions
nest into one (``mean_n(sum_k(e))`` is one sum over ``n`` and ``k``, divided by ``N``), and a
constant multiple of a reduction is one statement (``loss = -mean_n(...)``). Everything else
is the expression language of :mod:`symgrad.parse`: the same whitelist, the same one-line
errors. Tensors defined by no statement are inputs, unless named as parameters, targets or
constants. A reduction inside a larger expression becomes a statement of its own (``y_sum``),
so that every statement has one kind.

>>> layer = declare("Softmax", "y[n, k] = exp(x[n, k]) / sum_j(exp(x[n, j]))")
>>> layer.statements
(y_sum[n] = sum_k exp(x), y[n, k] = exp(x)/y_sum)
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy

from symgrad import parse
from symgrad.constants import Decimal as DecimalConstant
from symgrad.constants import exact
from symgrad.errors import SymgradError
from symgrad.i18n import tr
from symgrad.program import Draw, Fact, Layer, Running, ordered
from symgrad.statements import Contract, Map, Reduce, Statement
from symgrad.statements.reduce import TIES
from symgrad.tensors import ELLIPSIS, Tensor, axis_size, size_of

REDUCTIONS = ("sum", "mean", "max")


def declare(
    name: str,
    text: str,
    *,
    inputs: Sequence[str] = (),
    params: Sequence[str] = (),
    targets: Sequence[str] = (),
    constants: Mapping[str, float] | None = None,
    doc: str = "",
    facts: Sequence[tuple[str, str, float]] = (),
    flatten: bool = False,
    eval_text: str = "",
    running: Mapping[str, str] | None = None,
    draws: Mapping[str, str] | None = None,
    momentum: float = 0.9,
    shared: Sequence[str] = (),
    sizes: Mapping[str, str] | None = None,
    ties: str = "split",
    positive: Sequence[str] = (),
) -> Layer:
    """A :class:`~symgrad.program.Layer` from its forward as text.

    ``params`` become constructor arguments with gradients; ``constants`` constructor keyword
    arguments with defaults; ``targets`` forward arguments without gradients; ``facts`` are
    ``(tensor, axis, value)``: the sum over ``axis`` is ``value`` for every row (one-hot targets:
    ``("t", "k", 1)``). ``eval_text`` is the forward of evaluation mode; ``running`` maps a state
    tensor to the statistic it follows; ``draws`` maps a random tensor to the NumPy code that
    draws it. ``shared`` names parameters that may also be given as one number for all their
    elements (PReLU's ``alpha`` of shape ``()`` instead of ``(C,)``): the generated backward
    then sums their gradient to one number. ``sizes`` gives an axis's size that no argument
    carries, in the other sizes and the integer constants (a convolution's ``"oh": "1 + (H +
    2*pad - FH) // stride"``, a pooling window's ``"fh": "pool_h"``); a constant whose value
    is ``None`` is a required argument of the constructor. ``ties`` says where a max
    reduction's gradient goes when maxima tie: ``"split"`` evenly (``torch.amax``) or to the
    ``"first"`` (max pooling). ``positive`` names constants that must be positive (Huber's
    ``delta``): the generated forward refuses other values, and the backward may rely on it.
    """
    if not name.isidentifier():
        raise SymgradError(
            tr("layer name {name!r} is not a valid Python class name").format(name=name)
        )
    constants = dict(constants or {})
    roles = {n: "param" for n in params} | {n: "target" for n in targets}
    roles |= {n: "const" for n in constants}
    roles |= {n: "random" for n in (draws or {})} | {n: "state" for n in (running or {})}
    if ties not in TIES:
        raise SymgradError(
            tr("{layer}: ties is one of {choices}, not {ties!r}").format(
                layer=name, choices=", ".join(TIES), ties=ties
            )
        )
    builder = _Program(name, roles, constants, ties=ties, sizes=dict(sizes or {}))
    statements = builder.parse(text)
    eval_statements = (
        _Program(name, roles, constants, builder.tensors).parse(eval_text) if (eval_text) else ()
    )
    tensors = builder.roles(list(inputs), statements)
    for n in [*params, *targets]:
        if n not in {t.name for t in tensors}:
            raise SymgradError(
                tr("{layer}: {name!r} is declared but the forward never uses it").format(
                    layer=name, name=n
                )
            )
    for n in shared:
        if n not in params:
            raise SymgradError(
                tr("{layer}: {name!r} is declared shared but is not a parameter").format(
                    layer=name, name=n
                )
            )
    for n in positive:
        value = constants.get(n)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise SymgradError(
                tr(
                    "{layer}: {name!r} is declared positive but is not a constant with a "
                    "positive default"
                ).format(layer=name, name=n)
            )
    values = {s.target.name for s in statements}
    return Layer(
        name=name,
        statements=tuple(statements),
        tensors=ordered(t for t in tensors if t.name not in values),
        doc=doc,
        constants=tuple((k, _number(v) if v is not None else None) for k, v in constants.items()),
        facts=tuple(Fact(t, (axis,), _number(v), f"Σ_{axis} {t} = {v}") for t, axis, v in facts),
        flatten=flatten,
        eval_statements=tuple(eval_statements),
        running=tuple(Running(s, stat) for s, stat in (running or {}).items()),
        draws=tuple(Draw(t, code) for t, code in (draws or {}).items()),
        momentum=momentum,
        shared=tuple(shared),
        sizes=tuple(
            (axis, _size_expr(name, axis, e, constants)) for axis, e in (sizes or {}).items()
        ),
        flags=tuple(k for k, v in constants.items() if isinstance(v, bool)),
        positive=tuple(positive),
        source=text,
    )


def _size_expr(layer: str, axis: str, text: str, constants: Mapping[str, object]) -> sympy.Expr:
    """A declared size: integers, axis sizes (capitals) and constants with ``+ - * //``."""

    def build(node: ast.expr) -> sympy.Expr:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return sympy.Integer(node.value)
        if isinstance(node, ast.Name) and node.id in constants:
            return sympy.Symbol(node.id)
        if isinstance(node, ast.Name) and node.id.isupper():
            return axis_size(node.id.lower())
        if isinstance(node, ast.BinOp):
            a, b = build(node.left), build(node.right)
            ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
            if isinstance(node.op, ast.FloorDiv):
                return sympy.floor(a / b)
            if type(node.op) in ops:
                return ops[type(node.op)]
        raise SymgradError(
            tr(
                "{layer}: the size of {axis} is integers, sizes and constants with + - * //: "
                "{text!r}"
            ).format(layer=layer, axis=axis, text=text)
        )

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise SymgradError(
            tr("{layer}: cannot parse the size of {axis}: {reason}").format(
                layer=layer, axis=axis, reason=exc.msg
            )
        ) from None
    return build(tree.body)


def _number(value: float) -> sympy.Expr:
    if isinstance(value, bool):  # a flag (Attention's causal): 1 or 0 in the formulas
        return sympy.Integer(int(value))
    return DecimalConstant(repr(float(value))) if isinstance(value, float) else sympy.sympify(value)


@dataclass
class _Program:
    layer: str
    role_of: dict[str, str]
    constants: dict[str, float]
    tensors: dict[str, Tensor] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    ties: str = "split"
    sizes: dict[str, str] = field(default_factory=dict)

    def same_size(self, written: str, declared: str) -> bool:
        """Does ``sizes`` declare axis ``written`` the size of axis ``declared``, or the other
        way round (``"s": "T"``: ``s`` for ``t``, and ``t`` for ``s``)?"""
        if ELLIPSIS in (written, declared) or written == declared:
            return False
        return axis_size(declared).name == self.sizes.get(written, "").strip() or (
            axis_size(written).name == self.sizes.get(declared, "").strip()
        )

    def parse(self, text: str) -> list[Statement]:
        self.statements = []
        for line in _statements(text):
            self.statement(line)
        if not self.statements:
            raise SymgradError(tr("{layer}: the forward has no statement").format(layer=self.layer))
        return self.statements

    def statement(self, line: str) -> None:
        tree = _parse_statement(line)
        if isinstance(tree, ast.Expr):  # ``x[n, c, h, w]``: the axes of an argument
            node = tree.value
            self.reference(node.value.id, _axes(node.slice, line), line)
            return
        target = self.lhs(tree.targets[0], line)
        builder = _Expression(line, self, lhs=target.name)
        value = tree.value
        if isinstance(value, ast.Subscript) and _positions(value.slice) is not None:
            self.add(builder.gather(value, target))
            return
        if _reduction(value) is not None:
            op, axis, body = _reduction(value)
            self.add(builder.reduction(op, axis, body, target))
            return
        expr = builder.expr(value)
        merged = self.merged(expr, builder, target)
        if merged is not None:
            self.add(merged)
            return
        self.check_axes(expr, target, line)
        self.add(Map.of(target, expr, tuple(builder.used.values())))

    def merged(self, expr: sympy.Expr, builder: _Expression, target: Tensor) -> Statement | None:
        """``c·T`` where ``T`` is a reduction this line created and ``c`` a constant: one
        reduction with ``c`` in its body (``loss = -mean_n(...)`` is one statement)."""
        if not builder.created:
            return None
        temp = builder.created[-1]
        coefficient = sympy.cancel(expr / temp.target.symbol)
        if coefficient.has(temp.target.symbol) or any(
            self.tensors[v.name].axes for v in coefficient.free_symbols if v.name in self.tensors
        ):
            return None
        if set(target.axes) != set(temp.target.axes):
            return None
        self.statements.remove(temp)
        del self.tensors[temp.target.name]
        return _scaled(
            temp,
            coefficient,
            target,
            tuple(self.tensors[v.name] for v in coefficient.free_symbols if v.name in self.tensors),
        )

    def lhs(self, node: ast.expr, line: str) -> Tensor:
        if isinstance(node, ast.Name):
            return self.define(node.id, (), line)
        if not isinstance(node, ast.Subscript) or not isinstance(node.value, ast.Name):
            raise SymgradError(
                tr("{layer}: the left side must be a tensor, as in y[n, d]: {line!r}").format(
                    layer=self.layer, line=line
                )
            )
        return self.define(node.value.id, _axes(node.slice, line), line)

    def define(self, name: str, axes: tuple[str, ...], line: str) -> Tensor:
        if name in self.tensors and self.tensors[name].role != "value":
            raise SymgradError(
                tr("{layer}: {name!r} is an argument and cannot be assigned").format(
                    layer=self.layer, name=name
                )
            )
        if any(s.target.name == name for s in self.statements):
            raise SymgradError(
                tr("{layer}: {name!r} is assigned twice").format(layer=self.layer, name=name)
            )
        _check_name(name, self.layer)
        tensor = Tensor(name, axes, "value")
        self.tensors[name] = tensor
        return tensor

    def add(self, statement: Statement) -> None:
        self.statements.append(statement)
        self.tensors[statement.target.name] = statement.target

    def reference(self, name: str, axes: tuple[str, ...], line: str) -> Tensor:
        _check_name(name, self.layer)
        known = self.tensors.get(name)
        if known is None:
            role = self.role_of.get(name, "input")
            known = Tensor(name, axes, role)
            self.tensors[name] = known
        return known

    def check_axes(self, expr: sympy.Expr, target: Tensor, line: str) -> None:
        used = set()
        for s in expr.free_symbols:
            t = self.tensors.get(s.name)
            used |= set(t.axes) if t is not None else set()
        extra = used - set(target.axes)
        if extra:
            raise SymgradError(
                tr(
                    "{layer}: the right side varies along {axes}, which {target} lacks (sum or "
                    "mean over it?): {line!r}"
                ).format(
                    layer=self.layer,
                    axes=", ".join(sorted(extra)),
                    target=f"{target.name}[{', '.join(target.axes)}]",
                    line=line,
                )
            )

    def roles(self, order: list[str], statements: list[Statement]) -> list[Tensor]:
        """The tensors referenced, with constants as scalars; inputs in ``order`` first."""
        out = list(self.tensors.values())
        for name in self.constants:
            if name not in self.tensors:
                out.append(Tensor(name, (), "const"))
        inputs = [t for t in out if t.role == "input"]
        unknown = [n for n in order if n not in {t.name for t in inputs}]
        if unknown:
            raise SymgradError(
                tr("{layer}: no input called {name!r}").format(layer=self.layer, name=unknown[0])
            )
        ranked = sorted(inputs, key=lambda t: order.index(t.name) if t.name in order else 99)
        return ranked + [t for t in out if t.role != "input"]


class _Expression(parse._Builder):
    """The parser's whitelist, plus tensor references ``x[n, d]`` and reductions."""

    def __init__(
        self,
        line: str,
        program: _Program,
        renames: dict[str, str] | None = None,
        lhs: str = "r",
    ) -> None:
        super().__init__(line)
        self.program = program
        self.used: dict[str, Tensor] = {}
        self.renames = dict(renames or {})
        self.lhs = lhs
        self.created: list[Statement] = []

    def expr(self, node: ast.expr) -> sympy.Expr:
        try:
            return self.build(node, 1).expr
        except SymgradError:
            raise
        except Exception as exc:  # SymPy may raise almost anything; users see one line
            raise SymgradError(
                tr("cannot build {code!r}: {reason}").format(
                    code=self.source, reason=parse._one_line(str(exc))
                )
            ) from None

    def build(self, node: ast.expr, depth: int) -> parse.Written:
        if isinstance(node, ast.Subscript):
            return self.leaf("name", node, self.tensor(node))
        if isinstance(node, ast.Call) and _reduction(node) is not None:
            op, axis, body = _reduction(node)
            target = self.program.define(self.fresh(op), (), self.source)
            statement = self.reduction(op, axis, body, target)
            self.program.add(statement)
            self.created.append(statement)
            self.used[statement.target.name] = statement.target
            return self.leaf("name", node, statement.target.symbol)
        return super().build(node, depth)

    def fresh(self, op: str) -> str:
        """A name for a reduction inside a larger expression: ``y_sum``, ``y_sum2``, ..."""
        base = f"{self.lhs}_{op}"
        taken = set(self.program.tensors)
        if base not in taken:
            return base
        return next(f"{base}{k}" for k in range(2, 10**6) if f"{base}{k}" not in taken)

    def name(self, node: ast.Name) -> sympy.Expr:
        target = self.program.tensors.get(self.lhs)
        axes = target.axes if target is not None else ()
        if node.id in axes and node.id not in self.program.tensors:  # a position: where(i == v)
            from symgrad.tensors import index_symbol

            return index_symbol(node.id)
        size = self.size(node.id)
        if size is not None:
            return size
        expr = super().name(node)
        if isinstance(expr, sympy.Symbol):
            if node.id in self.program.tensors and self.program.tensors[node.id].axes:
                raise SymgradError(
                    tr("{layer}: write {name} with its axes, {tensor}").format(
                        layer=self.program.layer,
                        name=node.id,
                        tensor=f"{node.id}[{', '.join(self.program.tensors[node.id].axes)}]",
                    )
                )
            tensor = self.program.reference(node.id, (), self.source)
            self.used[tensor.name] = tensor
            return tensor.symbol
        return expr

    def size(self, name: str) -> sympy.Expr | None:
        """``E`` for the size of an axis ``e`` that the program or this line writes, where no
        tensor or constant has that name (attention's ``/ sqrt(E)``)."""
        if not name.isupper() or name in self.program.tensors or name in self.program.role_of:
            return None
        axes = {a for t in self.program.tensors.values() for a in t.axes}
        axes |= set(self.program.sizes)  # a declared size: a head's E
        for node in ast.walk(ast.parse(self.source)):
            if isinstance(node, ast.Subscript):
                items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                axes |= {i.id for i in items if isinstance(i, ast.Name)}
        axis = next((a for a in sorted(axes) if axis_size(a).name == name), None)
        return axis_size(axis) if axis is not None else None

    def tensor(self, node: ast.Subscript) -> sympy.Expr:
        if not isinstance(node.value, ast.Name):
            raise SymgradError(
                tr("only tensors can be indexed: {code}").format(code=self.quote(node))
            )
        if _positions(node.slice) is not None:
            return self.read_at(node)
        axes = tuple(self.renames.get(a, a) for a in _axes(node.slice, self.source))
        tensor = self.program.reference(node.value.id, axes, self.source)
        if len(tensor.axes) != len(axes):
            raise SymgradError(
                tr(
                    "{layer}: {name} has {count} axes ({axes}), written with {written}: {code}"
                ).format(
                    layer=self.program.layer,
                    name=tensor.name,
                    count=len(tensor.axes),
                    axes=", ".join(tensor.axes),
                    written=len(axes),
                    code=self.quote(node),
                )
            )
        for written, declared in zip(axes, tensor.axes):
            if written != declared and self.renamed(written, declared):
                return self.read_at(node, _items(node.slice))
            if written != declared:
                raise SymgradError(
                    tr(
                        "{layer}: {name} is {tensor!r}; write the same axis names, or sum over a "
                        "dummy axis: {code}"
                    ).format(
                        layer=self.program.layer,
                        name=tensor.name,
                        tensor=tensor,
                        code=self.quote(node),
                    )
                )
        self.used[tensor.name] = tensor
        return tensor.symbol

    def gather(self, node: ast.Subscript, target: Tensor) -> Statement:
        """``target = x[positions]``: ``x`` read at an index map (see
        :mod:`symgrad.statements.gather`); ``x``'s own axes declared before, as
        ``x[n, c, h, w]``."""
        from symgrad.statements.gather import Gather

        source, indices, labels = self.positions(node, set(target.axes))
        used = _axes_read(indices, labels)
        unread = [a for a in target.axes if a not in used]
        if unread:
            raise SymgradError(
                tr("{layer}: {target!r} does not vary along {axis}: {code!r}").format(
                    layer=self.program.layer, target=target, axis=unread[0], code=self.source
                )
            )
        return Gather.of(target, source, indices, labels)

    def renamed(self, written: str, declared: str) -> bool:
        """Is ``x[..., s, ...]`` for ``x[..., t, ...]`` a read of ``x`` along another axis of
        the same size (self-attention's keys, ``k[n, h, s, e]``)? Only where the sizes say so,
        ``sizes={"s": "T"}``: anything else is a typo, not a rename."""
        return self.program.same_size(written, declared)

    def read_at(self, node: ast.Subscript, items: list[ast.expr] | None = None) -> sympy.Expr:
        """A tensor read at positions inside an expression (a formula's ``dout[n, f, (h + pad
        - fh)/stride, ...]``): a gather of its own, over the axes its positions read."""
        from symgrad.statements.gather import Gather

        known = {a for t in self.program.tensors.values() for a in t.axes} | set(self.renames)
        known |= set(self.program.sizes)
        source, indices, labels = self.positions(node, known, items)
        axes = tuple(_axes_read(indices, labels))
        for done in self.program.statements:  # the same read twice (x as keys and values)
            same = isinstance(done, Gather) and done.target.axes == axes
            if same and (done.source, done.indices) == (source, indices):
                self.used[done.target.name] = done.target
                return done.target.symbol
        name = self._gather_name(source, axes, labels)
        target = self.program.define(name, axes, self.source)
        statement = Gather.of(target, source, indices, labels)
        self.program.add(statement)
        self.used[name] = target
        return target.symbol

    def _gather_name(self, source: Tensor, axes: tuple[str, ...], labels: tuple) -> str:
        """A read along new axes and nothing else (a reshape, a rename) is named by its source
        and the new axes (``Wq_he`` for ``Wq[d, h*E + e]``, ``x_s`` for keys along ``s``);
        any other read by the statement it is in (``y_at``)."""
        new = [a for a in axes if a not in source.axes]
        if labels or not new or len(axes) < len(source.axes):
            return self.fresh("at")
        base = f"{source.name}_{''.join(new)}"
        taken = set(self.program.tensors)
        return next(n for n in (base, *(f"{base}{k}" for k in range(2, 99))) if n not in taken)

    def positions(
        self, node: ast.Subscript, known: set[str], items: list[ast.expr] | None = None
    ) -> tuple[Tensor, tuple[sympy.Expr, ...], tuple[Tensor, ...]]:
        """The tensor a subscript reads, its positions, and the tensors of labels in them.
        A position is written in the axes ``known``, integer constants and integers with
        ``+ - * /`` (a position off the integers reads 0), or is a tensor of labels."""
        from symgrad.tensors import index_symbol

        if not isinstance(node.value, ast.Name) or node.value.id not in self.program.tensors:
            raise SymgradError(
                tr(
                    "{layer}: declare the axes of the tensor read at positions first, as in "
                    "x[n, c, h, w]: {code!r}"
                ).format(layer=self.program.layer, code=self.source)
            )
        source = self.program.tensors[node.value.id]
        items = _positions(node.slice) if items is None else items
        if len(items) != len(source.axes):
            raise SymgradError(
                tr("{layer}: {tensor!r} is read at {count} positions: {code}").format(
                    layer=self.program.layer, tensor=source, count=len(items), code=self.quote(node)
                )
            )
        labels: dict[str, Tensor] = {}
        ops = {ast.Add: sympy.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sympy.Mul}
        ops[ast.Div] = lambda a, b: a / b
        ops[ast.FloorDiv] = lambda a, b: sympy.floor(a / b)  # a head's index in c: c // E
        ops[ast.Mod] = sympy.Mod

        def build(item: ast.expr) -> sympy.Expr:
            if isinstance(item, ast.Constant) and isinstance(item.value, int):
                return sympy.Integer(item.value)
            if isinstance(item, ast.Name) and item.id in known:
                return index_symbol(self.renames.get(item.id, item.id))
            if isinstance(item, ast.Name) and self.program.role_of.get(item.id) == "const":
                return self.program.reference(item.id, (), self.source).symbol
            if isinstance(item, ast.Name) and self.size(item.id) is not None:
                return self.size(item.id)  # a head's width E in h*E + e
            if isinstance(item, ast.Subscript) and isinstance(item.value, ast.Name):
                axes = _axes(item.slice, self.source)
                tensor = self.program.reference(item.value.id, axes, self.source)
                if tensor.axes != axes or not set(axes) <= known:
                    raise SymgradError(
                        tr(
                            "{layer}: labels {tensor!r} must be read at the target's axes: {code}"
                        ).format(layer=self.program.layer, tensor=tensor, code=self.quote(item))
                    )
                labels[tensor.name] = tensor
                return tensor.symbol
            if isinstance(item, ast.BinOp) and type(item.op) in ops:
                return ops[type(item.op)](build(item.left), build(item.right))
            if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub):
                return -build(item.operand)
            raise SymgradError(
                tr(
                    "{layer}: a position is the target's axes, integer constants and integers "
                    "with + - * / // %, or labels: {code}"
                ).format(layer=self.program.layer, code=self.quote(item))
            )

        indices = tuple(build(item) for item in items)
        return source, indices, tuple(labels.values())

    def reduction(self, op: str, axis: str, body: ast.expr, target: Tensor) -> Statement:
        """``target = op_axis(body)``, the dummy ``axis`` read as the tensors' own; with no
        axis (``sum(e)``), over every axis of ``e``."""
        if isinstance(axis, tuple):  # sum_(c, fh, fw)(e): over the axes named
            renames = self.renames | {a: a for a in axis}  # positions may use the summed axes
            inner = _Expression(self.source, self.program, renames, self.lhs)
            expr = inner.expr(body)
            spanned = set().union(*(set(t.axes) for t in inner.used.values()))
            missing = [a for a in axis if a not in spanned]
            if missing:
                raise SymgradError(
                    tr("{layer}: {reduction} over {axis}, which nothing in it has: {code}").format(
                        layer=self.program.layer,
                        reduction=op,
                        axis=missing[0],
                        code=self.quote(body),
                    )
                )
            return self.reduction_over(op, axis, expr, inner, target, spanned)
        renames = self.renames | ({axis: _declared_axis(body, axis, self.program)} if axis else {})
        inner = _Expression(self.source, self.program, renames, self.lhs)
        expr = inner.expr(body)
        spanned: set[str] = set()
        for t in inner.used.values():
            spanned |= set(t.axes)
        for t in inner.created:
            spanned |= set(t.summed)
        if not axis:
            reduced = tuple(a for a in _order(inner.used.values()) if a in spanned)
            if not reduced:
                raise SymgradError(
                    tr("{layer}: {reduction}() of a scalar: {code}").format(
                        layer=self.program.layer, reduction=op, code=self.quote(body)
                    )
                )
            return self.reduction_over(op, reduced, expr, inner, target, spanned)
        real_axis = renames[axis]
        if real_axis not in spanned:
            raise SymgradError(
                tr(
                    "{layer}: {reduction}_{axis} sums over {axis}, which nothing in it has: {code}"
                ).format(layer=self.program.layer, reduction=op, axis=axis, code=self.quote(body))
            )
        return self.reduction_over(op, (real_axis,), expr, inner, target, spanned)

    def reduction_over(
        self,
        op: str,
        reduced: tuple[str, ...],
        expr: sympy.Expr,
        inner: _Expression,
        target: Tensor,
        spanned: set[str],
    ) -> Statement:
        if op == "mean":
            expr = expr / size_of(reduced)
        nested = _nested(expr, inner, op)
        if nested is not None:  # mean_n(sum_k(e)) is one sum over (n, k)
            temp, coefficient = nested
            self.program.statements.remove(temp)
            del self.program.tensors[temp.target.name]
            inner.used.pop(temp.target.name, None)
            for t in temp.operands:
                inner.used[t.name] = t
            expr = coefficient * temp.body
            reduced = (*temp.summed, *reduced)
            op = op if temp.op == op else "sum"  # mean_n of sum_k: a sum with 1/N inside
        axes = tuple(a for a in _order(inner.used.values()) if a in spanned and a not in reduced)
        positions = [a for a in _axes_read((expr,), ()) if a not in axes and a not in reduced]
        axes = tuple(a for a in (target.axes or axes) if a in {*axes, *positions}) or axes
        target = Tensor(target.name, target.axes or axes, "value")
        if target.axes and set(target.axes) != set(axes):
            where = ", ".join(reduced)
            raise SymgradError(
                tr(
                    "{layer}: {reduction} over {reduced} leaves axes ({axes}), but {target!r} is "
                    "declared: {code!r}"
                ).format(
                    layer=self.program.layer,
                    reduction=op,
                    reduced=where,
                    axes=", ".join(axes),
                    target=target,
                    code=self.source,
                )
            )
        operands = tuple(inner.used.values())
        if op == "sum" and nested is None and _is_product_of(expr, operands):
            return Contract.of(target, tuple(t for t in operands if t.symbol in expr.free_symbols))
        ties = self.program.ties if op == "max" else "split"
        return Reduce(target, _used(operands, expr), expr, tuple(reduced), op, ties)


def _used(operands: tuple[Tensor, ...], expr: sympy.Expr) -> tuple[Tensor, ...]:
    names = {v.name for v in expr.free_symbols}
    return tuple(o for o in operands if o.name in names)


def _nested(expr: sympy.Expr, inner: _Expression, op: str) -> tuple[Reduce, sympy.Expr] | None:
    """``c·T`` with ``T`` a sum or mean the body just created, ``c`` constant along it."""
    if op == "max" or not inner.created:
        return None
    temp = inner.created[-1]
    if not isinstance(temp, Reduce) or temp.op == "max":
        return None
    coefficient = sympy.cancel(expr / temp.target.symbol)
    if coefficient.has(temp.target.symbol):
        return None
    if any(inner.used[v.name].axes for v in coefficient.free_symbols if v.name in inner.used):
        return None
    return temp, coefficient


def _scaled(
    temp: Statement, coefficient: sympy.Expr, target: Tensor, extra: tuple[Tensor, ...]
) -> Statement:
    """A reduction with its body multiplied by a constant, defining ``target`` instead."""
    body = coefficient * temp.body
    operands = tuple(dict.fromkeys((*temp.operands, *extra)))
    target = Tensor(target.name, target.axes or temp.target.axes, "value")
    if isinstance(temp, Reduce):
        return Reduce(target, _used(operands, body), body, temp.summed, temp.op)
    return Contract(target, _used(operands, body), body, temp.summed)


def _statements(text: str) -> list[str]:
    """The statements of a program: one per line or ``;``, a line continued while a bracket is
    open; ``#`` starts a comment."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        pending = f"{pending} {line}".strip() if pending else line
        if not pending or _open_brackets(pending) > 0:
            continue
        out += [part.strip() for part in pending.split(";") if part.strip()]
        pending = ""
    if pending:
        raise SymgradError(tr("a bracket is never closed: {code!r}").format(code=pending))
    return out


def _open_brackets(text: str) -> int:
    return sum(text.count(o) - text.count(c) for o, c in ("()", "[]"))


def _order(tensors: object) -> list[str]:
    seen: list[str] = []
    for t in tensors:
        for a in t.axes:
            if a not in seen:
                seen.append(a)
    return seen


def _is_product_of(expr: sympy.Expr, operands: tuple[Tensor, ...]) -> bool:
    factors = sympy.Mul.make_args(expr)
    symbols = {t.symbol: t for t in operands}
    if len(factors) < 2 or not all(f in symbols for f in factors):
        return False
    return len({symbols[f].axes for f in factors}) > 1


def _declared_axis(body: ast.expr, dummy: str, program: _Program) -> str:
    """The axis a dummy index stands for: the declared axis at its place in the tensors."""
    found: set[str] = set()
    for node in ast.walk(body):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            if _positions(node.slice) is not None:  # read at positions: a gather's own axes
                continue
            tensor = program.tensors.get(node.value.id)
            written = _axes(node.slice, program.layer)
            if tensor is None:
                found |= {dummy} if dummy in written else set()
                continue
            for w, d in zip(written, tensor.axes):
                renamed = program.same_size(w, d)  # v[.., s, e] for v[.., t, e]
                if w == dummy:
                    found.add(w if renamed else d)
    if len(found) > 1:
        raise SymgradError(
            tr("{layer}: the dummy axis {dummy} stands for different axes ({axes})").format(
                layer=program.layer, dummy=dummy, axes=", ".join(sorted(found))
            )
        )
    return found.pop() if found else dummy


def _reduction(node: ast.expr) -> tuple[str, str, ast.expr] | None:
    """``(op, axis, body)`` for a call ``sum_k(body)`` (``sum_(...)(body)`` over the ``...``
    group), else None."""
    if not isinstance(node, ast.Call):
        return None
    inner = node.func
    if (
        isinstance(inner, ast.Call)
        and isinstance(inner.func, ast.Name)
        and inner.func.id.rstrip("_") in REDUCTIONS
        and inner.func.id.endswith("_")
        and len(inner.args) == 1
        and isinstance(inner.args[0], ast.Constant)
        and inner.args[0].value is Ellipsis
    ):
        if len(node.args) != 1 or node.keywords:
            raise SymgradError(
                tr("{function}(...)() takes one expression").format(function=inner.func.id)
            )
        return inner.func.id.rstrip("_"), ELLIPSIS, node.args[0]
    if (
        isinstance(inner, ast.Call)
        and isinstance(inner.func, ast.Name)
        and inner.func.id in tuple(f"{r}_" for r in REDUCTIONS)
        and inner.args
        and all(isinstance(a, ast.Name) for a in inner.args)
    ):
        if len(node.args) != 1 or node.keywords:
            raise SymgradError(
                tr("{function}(...)() takes one expression").format(function=inner.func.id)
            )
        return inner.func.id.rstrip("_"), tuple(a.id for a in inner.args), node.args[0]
    if not isinstance(node.func, ast.Name):
        return None
    op, sep, axis = node.func.id.partition("_")
    if op not in REDUCTIONS or (sep and not axis.isidentifier()) or (sep and not axis):
        return None
    if len(node.args) != 1 or node.keywords:
        raise SymgradError(tr("{function}() takes one expression").format(function=node.func.id))
    return op, axis, node.args[0]


def _axes_read(indices: tuple[sympy.Expr, ...], labels: tuple[Tensor, ...]) -> list[str]:
    """The axes positions read, in order: their index symbols' (within one position the
    one that moves by 1 last, as a row-major ``h*E + e`` has ``h`` before ``e``), then the
    labels' axes."""
    from symgrad.tensors import index_axis

    out = []
    for i in indices:
        read = [v for v in sympy.ordered(i.free_symbols) if index_axis(v)]
        read.sort(key=lambda v: sympy.diff(i, v) == 1)
        out += [index_axis(v) for v in read]
    out += [a for t in labels for a in t.axes]
    return list(dict.fromkeys(out))


def _items(node: ast.expr) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, ast.Tuple) else [node]


def _positions(node: ast.expr) -> list[ast.expr] | None:
    """The items of a subscript that reads positions (``x[n, c, s*oh + fh]``, ``W[ids[n], d]``),
    or None when every item is a plain axis name."""
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    if all(
        isinstance(i, ast.Name) or (isinstance(i, ast.Constant) and i.value is ...) for i in items
    ):
        return None
    return list(items)


def _axes(node: ast.expr, line: str) -> tuple[str, ...]:
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    out = []
    for item in items:
        if isinstance(item, ast.Constant) and item.value is Ellipsis:
            out.append(ELLIPSIS)
        elif isinstance(item, ast.Name) and not item.id.startswith("_"):
            out.append(item.id)
        else:
            raise SymgradError(
                tr("axes are names (or ...), as in x[n, d]: {line!r}").format(line=line)
            )
    if len(set(out)) != len(out):
        raise SymgradError(tr("an axis is written twice: {line!r}").format(line=line))
    return tuple(out)


def _check_name(name: str, layer: str) -> None:
    if name.startswith("_") or not name.isidentifier():
        raise SymgradError(
            tr("{layer}: {name!r} cannot be a tensor name").format(layer=layer, name=name)
        )
    if name in ("dout", "self", "np", "train_flg"):
        raise SymgradError(tr("{layer}: {name!r} is reserved").format(layer=layer, name=name))


def _parse_statement(line: str) -> ast.Assign | ast.Expr:
    try:
        tree = ast.parse(line, mode="exec")
    except SyntaxError as exc:
        raise SymgradError(
            tr("cannot parse {line!r}: {reason}").format(line=line, reason=exc.msg)
        ) from None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        node = tree.body[0].value
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            return tree.body[0]
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        raise SymgradError(
            tr("a statement is `target[axes] = expression`: {line!r}").format(line=line)
        )
    statement = tree.body[0]
    if len(statement.targets) != 1:
        raise SymgradError(tr("one target per statement: {line!r}").format(line=line))
    return statement


__all__ = ["REDUCTIONS", "declare", "exact"]
