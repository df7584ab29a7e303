"""Generated NumPy code read again in another array library: the array API standard, PyTorch,
JAX.

The NumPy target is the one symgrad prints from a derivation; the other targets are that code,
proven by its numerical check, rewritten statement by statement. The rewrite is a closed
vocabulary: every ``np.`` name and every array method the generated code uses has a form here
for each dialect, and anything else is refused with one line naming it (never passed through
unread). No formula is touched: ``dout * (1 - y) * y`` stays what it is; only the calls that
spell a reduction, a reshape or a contraction change.

Dialects:

* ``array-api``: functions of the namespace ``xp`` (``xp.sum(a, axis=0)``,
  ``xp.permute_dims(a, (1, 0))``, ``xp.reshape(a, shape)``): arrays of the standard have no
  methods beyond ``.T``, ``.mT``, ``.shape``, ``.ndim``, ``.dtype`` and ``.device``.
* ``torch``: ``torch.`` calls and tensor methods (``a.amax(axis=1, keepdims=True)``,
  ``a.permute(0, 2, 1)``, ``torch.tensordot(a, b, dims=...)``), a new tensor made on the device
  of the tensor it is sized from.
* ``jax``: ``jnp.`` (JAX's arrays keep NumPy's methods); a random draw takes ``key``.

>>> rewrite_expression("x.sum(axis=0) + np.exp(y)", "array-api")
'xp.sum(x, axis=0) + xp.exp(y)'
>>> rewrite_expression("x.max(axis=1, keepdims=True)", "torch")
'x.amax(axis=1, keepdims=True)'
>>> rewrite_expression("np.tensordot(a, b, axes=(1, 0))", "torch")
'torch.tensordot(a, b, dims=([1], [0]))'
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from symgrad.errors import SymgradError
from symgrad.i18n import tr

DIALECTS = ("array-api", "torch", "jax")

# What each dialect calls a module attribute of NumPy; a name missing from a dialect's row has no
# form there.
_NAMES: dict[str, dict[str, str]] = {
    "array-api": {
        "pi": "xp.pi",
        "inf": "xp.inf",
        "nan": "xp.nan",
        "float32": "xp.float32",
        "float64": "xp.float64",
        "newaxis": "None",
    },
    "torch": {
        "pi": "torch.pi",
        "inf": "torch.inf",
        "nan": "torch.nan",
        "float32": "torch.float32",
        "float64": "torch.float64",
        "newaxis": "None",
        "ndarray": "torch.Tensor",
    },
    "jax": {
        "pi": "jnp.pi",
        "inf": "jnp.inf",
        "nan": "jnp.nan",
        "float32": "jnp.float32",
        "float64": "jnp.float64",
        "integer": "jnp.integer",
        "newaxis": "None",
        "ndarray": "jax.Array",
    },
}

# Elementwise functions and others whose call reads the same in every dialect but the prefix.
_SAME = {
    "abs",
    "exp",
    "expm1",
    "log",
    "log1p",
    "sqrt",
    "tanh",
    "sign",
    "isfinite",
    "isinf",
    "isnan",
    "where",
    "copysign",
    "zeros_like",
    "empty_like",
    "full_like",
    "broadcast_to",
    "logaddexp",
    "sin",
    "cos",
    "minimum",
    "clip",
}
_PREFIX = {"array-api": "xp", "torch": "torch", "jax": "jnp"}

# The error functions: the NumPy target's own (NumPy has none); torch and JAX have accurate ones.
_SPECIAL = {
    "torch": {"erf": "torch.special.erf", "erfc": "torch.special.erfc"},
    "jax": {"erf": "jax.scipy.special.erf", "erfc": "jax.scipy.special.erfc"},
}

_ARITHMETIC = (ast.Mult, ast.Add, ast.Sub, ast.Div)

# Array methods: for the array API each becomes a function of the namespace.
_REDUCTIONS = {"sum", "mean", "max", "min", "any", "all", "argmax"}


def rewrite_expression(code: str, dialect: str, device: str = "") -> str:
    """One expression of generated NumPy code in ``dialect``; ``device`` names the array whose
    device a new array is made on (torch, array API)."""
    tree = ast.parse(code, mode="eval")
    return ast.unparse(Rewriter(dialect, device).visit(tree))


class Rewriter(ast.NodeTransformer):
    """The NodeTransformer behind :func:`rewrite_expression` (statements too)."""

    def __init__(
        self,
        dialect: str,
        device: str = "",
        key: str = "key",
        bools: set[str] = frozenset(),  # type: ignore[assignment]
        scalars: set[str] = frozenset(),  # type: ignore[assignment]
        takes: bool = True,
    ) -> None:
        if dialect not in DIALECTS:
            raise SymgradError(
                tr("unknown dialect {dialect}; known: {dialects}").format(
                    dialect=repr(dialect), dialects=", ".join(DIALECTS)
                )
            )
        self.dialect = dialect
        self.device = device
        self.key = key
        self.prefix = _PREFIX[dialect]
        self.bools = bools  # names holding masks (the array API does not promote bool)
        self.scalars = scalars  # names holding Python numbers (options)
        self.takes = takes  # is a[name] rows at integer ids (else a boolean mask)?

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        """``dout * mask`` in the array API: the mask cast to the other operand's dtype."""
        node = self.generic_visit(node)  # type: ignore[assignment]
        if self.dialect != "array-api" or not isinstance(node.op, _ARITHMETIC):
            return node
        sides = [node.left, node.right]
        masks = [
            isinstance(x, ast.Name | ast.Attribute) and ast.unparse(x) in self.bools for x in sides
        ]
        if masks.count(True) != 1:
            return node
        mask, other = (node.left, node.right) if masks[0] else (node.right, node.left)
        array = next((n for n in ast.walk(other) if isinstance(n, ast.Name) and n.id != "xp"), None)
        if array is None:
            return node
        cast = _call(
            _expr("xp.astype"),
            [mask, ast.Attribute(ast.Name(array.id, ast.Load()), "dtype", ast.Load())],
        )
        if masks[0]:
            node.left = cast
        else:
            node.right = cast
        return node

    # -- names -------------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if _is_np(node.value):
            return _expr(self.np_name(node.attr))
        node = self.generic_visit(node)
        assert isinstance(node, ast.Attribute)
        if node.attr == "size" and self.dialect == "torch":
            return _call(ast.Attribute(node.value, "numel", ast.Load()), [])
        if node.attr == "size" and self.dialect == "array-api":  # a method of torch tensors
            return _call(_expr("size"), [node.value])
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        """``W[idx]``, ``x[None]``: the standard indexes every axis, so ``W[idx, ...]``."""
        node = self.generic_visit(node)  # type: ignore[assignment]
        if self.dialect != "array-api":
            return node
        index = node.slice
        if isinstance(index, ast.Constant) and index.value is None:
            node.slice = ast.Tuple([index, ast.Constant(...)], ast.Load())
        on_shape = isinstance(node.value, ast.Attribute) and node.value.attr == "shape"
        ids = isinstance(index, ast.Name) and index.id not in self.bools and self.takes
        if ids and isinstance(node.ctx, ast.Load) and not on_shape:  # rows at integer ids
            a, i = ast.unparse(node.value), index.id
            taken = f"xp.take({a}, xp.reshape({i}, (-1,)), axis=0)"
            return _expr(f"xp.reshape({taken}, (*{i}.shape, *{a}.shape[1:]))")
        return node

    def np_name(self, name: str) -> str:
        known = _NAMES[self.dialect]
        if name in known:
            return known[name]
        raise SymgradError(
            tr("the {target} target has no form for {call}").format(
                target=self.dialect, call=f"np.{name}"
            )
        )

    # -- calls -------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Attribute) and _is_np(func.value):
            raw = func.attr == "issubdtype"  # its np.integer is read by the rule
            args = [a if raw and i else self.visit(a) for i, a in enumerate(node.args)]
            keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]
            return self.np_call(func.attr, args, keywords)
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Attribute)
            and _is_np(func.value.value)
            and f"{func.value.attr}.{func.attr}" == "random.rand"
        ):
            return self.random_uniform([self.visit(a) for a in node.args])
        if isinstance(func, ast.Name) and func.id == "float" and self.dialect != "array-api":
            return self.visit(node.args[0])  # a loss stays a tensor (0-d) in torch and JAX
        if isinstance(func, ast.Name) and func.id in _SPECIAL.get(self.dialect, {}):
            return _call(_expr(_SPECIAL[self.dialect][func.id]), [self.visit(a) for a in node.args])
        if isinstance(func, ast.Attribute) and func.attr in _METHODS:
            target = self.visit(func.value)
            args = [self.visit(a) for a in node.args]
            keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]
            return _METHODS[func.attr](self, target, args, keywords)
        return self.generic_visit(node)

    def np_call(self, name: str, args: list[ast.expr], keywords: list[ast.keyword]) -> ast.expr:
        if name == "where" and self.dialect == "array-api" and all(map(self.scalar, args[1:])):
            device = self.with_device([])  # the standard's where takes at most one scalar
            args = [*args[:2], _call(_expr("xp.asarray"), [args[2]], device)]
        if name in _SAME:
            if name in ("maximum", "minimum") and self.dialect == "torch":
                return self.torch_clamp(name, args)
            if name == "clip" and self.dialect == "torch":
                return _call(_expr("torch.clamp"), args, keywords)
            return _call(_expr(f"{self.prefix}.{name}"), args, keywords)
        if name == "maximum":
            if self.dialect == "torch":
                return self.torch_clamp(name, args)
            return _call(_expr(f"{self.prefix}.maximum"), args, keywords)
        rule = _NP_CALLS.get(name)
        if rule is None:
            raise SymgradError(
                tr("the {target} target has no form for {call}").format(
                    target=self.dialect, call=f"np.{name}"
                )
            )
        return rule(self, args, keywords)

    def scalar(self, node: ast.expr) -> bool:
        """Is ``node`` a Python number: constants and the class's number options only?"""
        return all(
            (isinstance(n, ast.Name) and n.id in self.scalars)
            or isinstance(
                n,
                ast.Constant
                | ast.BinOp
                | ast.UnaryOp
                | ast.operator
                | ast.unaryop
                | ast.expr_context,
            )
            for n in ast.walk(node)
        )

    def torch_clamp(self, name: str, args: list[ast.expr]) -> ast.expr:
        numbers = [a for a in args if _is_number(a)]
        tensors = [a for a in args if not _is_number(a)]
        if len(numbers) == 1 and len(tensors) == 1:  # torch.maximum wants two tensors
            bound = "min" if name == "maximum" else "max"
            return _call(_expr("torch.clamp"), tensors, [ast.keyword(bound, numbers[0])])
        return _call(_expr(f"torch.{name}"), args)

    def with_device(self, keywords: list[ast.keyword]) -> list[ast.keyword]:
        """A new array on the device of the array its dtype comes from (else ``self.device``)."""
        if self.dialect == "jax":
            return keywords
        source = next(
            (
                k.value.value
                for k in keywords
                if k.arg == "dtype" and isinstance(k.value, ast.Attribute)
            ),
            None,
        )
        if source is None and self.device:
            source = _expr(self.device)
        if source is None:
            return keywords
        return [*keywords, ast.keyword("device", ast.Attribute(source, "device", ast.Load()))]

    def random_uniform(self, args: list[ast.expr]) -> ast.expr:
        shape = _shape_of(args)
        if self.dialect == "torch":
            return _call(_expr("torch.rand"), [shape], self.with_device([]))
        if self.dialect == "jax":
            return _call(_expr("jax.random.uniform"), [_expr(self.key), shape])
        return _call(_expr("_uniform"), [_expr("xp"), shape, _expr(f"{self.device}.device")])

    # -- statements --------------------------------------------------------------------------

    def visit_With(self, node: ast.With) -> ast.AST | list[ast.stmt]:
        """``with np.errstate(...)``: NumPy's warnings only; the body stays."""
        (item,) = node.items
        call = item.context_expr
        func = call.func if isinstance(call, ast.Call) else None
        if isinstance(func, ast.Attribute) and _is_np(func.value) and func.attr == "errstate":
            return [self.visit(s) for s in node.body]
        return self.generic_visit(node)


def _is_np(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "np"


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int | float)


def _expr(code: str) -> ast.expr:
    return ast.parse(code, mode="eval").body


def _call(func: ast.expr, args: list[ast.expr], keywords: list[ast.keyword] = ()) -> ast.Call:  # type: ignore[assignment]
    return ast.Call(func, list(args), list(keywords))


def _shape_of(args: list[ast.expr]) -> ast.expr:
    """The arguments of ``reshape(*s)``/``reshape(a, b)``/``reshape(s)`` as one shape."""
    if len(args) == 1:
        (a,) = args
        return a.value if isinstance(a, ast.Starred) else a
    return ast.Tuple(list(args), ast.Load())


def _ints(node: ast.expr) -> ast.expr:
    """A tensordot axis given as one int, as a list of one (torch's dims)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return ast.List([node], ast.Load())
    return node


def _keyword(keywords: list[ast.keyword], name: str) -> ast.expr | None:
    return next((k.value for k in keywords if k.arg == name), None)


# --- np.<name>(...) ----------------------------------------------------------------------------


def _np_tensordot(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    axes = _keyword(kw, "axes")
    if axes is None:
        raise SymgradError(
            tr("the {target} target needs tensordot's axes= spelled out").format(target=r.dialect)
        )
    if isinstance(axes, ast.Tuple) and len(axes.elts) == 2:
        axes = ast.Tuple([_ints(e) for e in axes.elts], ast.Load())
    name = "dims" if r.dialect == "torch" else "axes"
    return _call(_expr(f"{r.prefix}.tensordot"), args, [ast.keyword(name, axes)])


def _np_reshape(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    return _call(_expr(f"{r.prefix}.reshape"), [args[0], _shape_of(args[1:])])


def _np_shape(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    (a,) = args
    if r.dialect == "torch":  # np.shape(b) + (1,): a tuple, not a torch.Size
        return _call(_expr("tuple"), [ast.Attribute(a, "shape", ast.Load())])
    return ast.Attribute(a, "shape", ast.Load())


def _np_ndim(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    (a,) = args
    return ast.Attribute(a, "ndim", ast.Load())


def _np_squeeze(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    axis = _keyword(kw, "axis")
    if r.dialect == "torch":
        return _call(_expr("torch.squeeze"), args, [ast.keyword("dim", axis)])
    return _call(_expr(f"{r.prefix}.squeeze"), args, [ast.keyword("axis", axis)])


def _np_expand_dims(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    axis = _keyword(kw, "axis")
    if r.dialect != "torch":
        return _call(_expr(f"{r.prefix}.expand_dims"), args, [ast.keyword("axis", axis)])
    try:
        given = ast.literal_eval(axis)  # type: ignore[arg-type]
    except ValueError as err:
        raise SymgradError(tr("the torch target needs expand_dims' axes as numbers")) from err
    values = list(given) if isinstance(given, tuple) else [given]
    # new trailing axes (negative) in the order -1, -2, ...; leading ones from the front
    out = args[0]
    for v in sorted(values, reverse=all(v < 0 for v in values)):
        out = _call(_expr("torch.unsqueeze"), [out, ast.Constant(v)])
    return out


def _np_creation(name: str) -> Callable[[Rewriter, list[ast.expr], list[ast.keyword]], ast.expr]:
    def rule(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
        return _call(_expr(f"{r.prefix}.{name}"), args, r.with_device(kw))

    return rule


def _np_asarray(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    name = "torch.as_tensor" if r.dialect == "torch" else f"{r.prefix}.asarray"
    return _call(_expr(name), args, kw)


def _np_issubdtype(r: Rewriter, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    dtype, kind = args
    if ast.unparse(kind) != "np.integer":
        raise SymgradError(
            tr("the {target} target knows issubdtype only for np.integer").format(target=r.dialect)
        )
    if r.dialect == "array-api":
        return _call(_expr("xp.isdtype"), [dtype, ast.Constant("integral")])
    if r.dialect == "torch":
        code = f"not ({ast.unparse(dtype)}.is_floating_point or {ast.unparse(dtype)}.is_complex)"
        return _expr(f"({code} and {ast.unparse(dtype)} != torch.bool)")
    return _call(_expr("jnp.issubdtype"), [dtype, _expr("jnp.integer")])


_NP_CALLS: dict[str, Callable[[Rewriter, list[ast.expr], list[ast.keyword]], ast.expr]] = {
    "tensordot": _np_tensordot,
    "reshape": _np_reshape,
    "shape": _np_shape,
    "ndim": _np_ndim,
    "squeeze": _np_squeeze,
    "expand_dims": _np_expand_dims,
    "zeros": _np_creation("zeros"),
    "empty": _np_creation("empty"),
    "eye": _np_creation("eye"),
    "arange": _np_creation("arange"),
    "asarray": _np_asarray,
    "issubdtype": _np_issubdtype,
    "result_type": lambda r, args, kw: _call(_expr(f"{r.prefix}.result_type"), args, kw),
    "full_like": lambda r, args, kw: _call(_expr(f"{r.prefix}.full_like"), args, kw),
}


# --- array methods -----------------------------------------------------------------------------

_Method = Callable[[Rewriter, ast.expr, list[ast.expr], list[ast.keyword]], ast.expr]


def _method(node: ast.expr, name: str, args: list[ast.expr], kw: list[ast.keyword]) -> ast.Call:
    return _call(ast.Attribute(node, name, ast.Load()), args, kw)


def _reduction(name: str) -> _Method:
    def rule(r: Rewriter, a: ast.expr, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
        if args:
            raise SymgradError(
                tr("the {target} target needs {method}'s axis spelled axis=").format(
                    target=r.dialect, method=name
                )
            )
        if r.dialect == "array-api":
            return _call(_expr(f"xp.{name}"), [a], kw)
        if r.dialect == "torch" and name in ("max", "min") and kw:
            return _method(a, f"a{name}", [], kw)  # Tensor.max(axis) is (values, indices)
        return _method(a, name, [], kw)

    return rule


def _reshape(r: Rewriter, a: ast.expr, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    if r.dialect == "array-api":
        return _call(_expr("xp.reshape"), [a, _shape_of(args)])
    return _method(a, "reshape", args, kw)


def _transpose(r: Rewriter, a: ast.expr, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    if r.dialect == "array-api":
        return _call(_expr("xp.permute_dims"), [a, _shape_of(args)])
    if r.dialect == "torch":
        return _method(a, "permute", args, kw)
    return _method(a, "transpose", args, kw)


def _swapaxes(r: Rewriter, a: ast.expr, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    if r.dialect != "array-api":
        return _method(a, "swapaxes", args, kw)
    if sorted(ast.unparse(x) for x in args) != ["-1", "-2"]:
        raise SymgradError(tr("the array-api target swaps only the last two axes"))
    return _call(_expr("xp.matrix_transpose"), [a])


def _astype(r: Rewriter, a: ast.expr, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    if r.dialect == "array-api":
        return _call(_expr("xp.astype"), [a, *args])
    if r.dialect == "torch":
        return _method(a, "to", args, kw)
    return _method(a, "astype", args, kw)


def _copy(r: Rewriter, a: ast.expr, args: list[ast.expr], kw: list[ast.keyword]) -> ast.expr:
    if r.dialect == "array-api":
        return _call(_expr("xp.asarray"), [a], [ast.keyword("copy", ast.Constant(True))])
    if r.dialect == "torch":
        return _method(a, "clone", [], [])
    return _method(a, "copy", [], [])


_METHODS: dict[str, _Method] = {
    **{name: _reduction(name) for name in _REDUCTIONS},
    "reshape": _reshape,
    "transpose": _transpose,
    "swapaxes": _swapaxes,
    "astype": _astype,
    "copy": _copy,
}
