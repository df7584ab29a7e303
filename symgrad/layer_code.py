"""A generated NumPy layer class read back as parts: what ``__init__`` takes, what ``forward``
caches and ``backward`` reads, which gradients it returns and which it stores.

The torch and JAX targets are not classes with a cache but functions with saved values
(``ctx.save_for_backward``, a ``custom_vjp``'s residuals), so they need the class's parts by
kind:

* **parameters** (``W``, ``gamma``): tensors the layer learns, with a gradient ``d<name>``;
* **state** (``running_mean``): arrays ``forward`` replaces, returned as extra outputs;
* **options** (``stride``, ``eps``, ``train_flg``): everything else ``__init__`` or ``forward``
  takes, passed through and never differentiated;
* **saved** (``x``, ``mask``): the arrays ``forward`` caches for ``backward``, exactly the
  derivation's saved quantities; **metadata** (``x_shape``): the cached shapes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from symgrad.engine import Derivation
from symgrad.errors import SymgradError
from symgrad.i18n import tr


@dataclass(frozen=True)
class Arg:
    """One argument: its name, its annotation and default as source text."""

    name: str
    annotation: str
    default: str | None = None

    @property
    def is_array(self) -> bool:
        return "ndarray" in self.annotation


@dataclass
class LayerCode:
    """The parts of one generated class (see the module docstring)."""

    name: str
    doc: str
    init: list[Arg]
    inputs: list[Arg]  # forward's arguments, train_flg excluded
    mode: Arg | None  # train_flg, where forward takes one
    forward: list[ast.stmt]
    backward: list[ast.stmt]
    dout: Arg
    params: list[str]
    state: list[str] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    gradients: dict[str, str] = field(default_factory=dict)  # argument -> its gradient's name
    returns_loss: bool = False

    @property
    def options(self) -> list[Arg]:
        out = [a for a in self.init if a.name not in self.params and a.name not in self.state]
        return [*out, *([self.mode] if self.mode else [])]

    @property
    def read_by_backward(self) -> set[str]:
        """The attributes ``backward`` reads (``self.W``, ``self.stride``)."""
        return {
            n.attr
            for s in self.backward
            for n in ast.walk(s)
            if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name)
            and n.value.id == "self"
            and isinstance(n.ctx, ast.Load)
        }


def read_class(module: ast.Module, d: Derivation) -> LayerCode:
    """The parts of the class ``d.name`` in a generated NumPy module."""
    cls = next((n for n in module.body if isinstance(n, ast.ClassDef) and n.name == d.name), None)
    if cls is None:
        raise SymgradError(
            tr("{layer}: no class of that name in the generated module").format(layer=d.name)
        )
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    doc = ast.get_docstring(cls, clean=False) or d.name
    init = methods.get("__init__")
    init_args = _args(init) if init else []
    fields = _fields(init) if init else {}
    forward, backward = methods["forward"], methods["backward"]
    forward_args = _args(forward)
    mode = next((a for a in forward_args if a.name == "train_flg"), None)
    (dout,) = _args(backward)
    code = LayerCode(
        name=d.name,
        doc=doc,
        init=init_args,
        inputs=[a for a in forward_args if a.name != "train_flg"],
        mode=mode,
        forward=_body(forward),
        backward=_body(backward),
        dout=dout,
        params=[t.name for t in d.spec.params],
        returns_loss=ast.unparse(forward.returns) == "float" if forward.returns else False,
    )
    initial = {a.name for a in init_args}
    for target in _self_stores(code.forward):
        if target in initial:
            if target not in code.params and target not in code.state:
                code.state.append(target)
        elif target not in code.saved and target not in code.metadata:
            kind = fields.get(target, "")
            (code.saved if "ndarray" in kind else code.metadata).append(target)
    for target, value in _self_assignments(code.backward):
        if target.startswith("d") and target[1:] in code.params:
            code.gradients[target[1:]] = value
    code.gradients.update(_returned(code))
    return code


def _args(f: ast.FunctionDef) -> list[Arg]:
    args = f.args.args[1:]  # not self
    defaults = [None] * (len(args) - len(f.args.defaults)) + list(f.args.defaults)
    return [
        Arg(
            a.arg,
            ast.unparse(a.annotation) if a.annotation else "",
            ast.unparse(v) if v is not None else None,
        )
        for a, v in zip(args, defaults, strict=True)
    ]


def _fields(init: ast.FunctionDef) -> dict[str, str]:
    """``self.name: annotation = None`` declarations in ``__init__``."""
    out = {}
    for s in init.body:
        if isinstance(s, ast.AnnAssign) and _self_attr(s.target):
            out[s.target.attr] = ast.unparse(s.annotation)  # type: ignore[union-attr]
    return out


def _body(f: ast.FunctionDef) -> list[ast.stmt]:
    body = list(f.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # a docstring
    return body


def _self_attr(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _self_stores(body: list[ast.stmt]) -> list[str]:
    out = []
    for node in (n for s in body for n in ast.walk(s)):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _self_attr(node):
            out.append(node.attr)
    return out


def _self_assignments(body: list[ast.stmt]) -> list[tuple[str, str]]:
    out = []
    for s in body:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and _self_attr(s.targets[0]):
            out.append((s.targets[0].attr, ast.unparse(s.value)))  # type: ignore[attr-defined]
    return out


def _returned(code: LayerCode) -> dict[str, str]:
    """Input name -> gradient name, from ``return dx, dy`` (``d`` + the input's name)."""
    returns = [s for s in code.backward if isinstance(s, ast.Return)]
    if not returns or returns[-1].value is None:
        return {}
    value = returns[-1].value
    names = value.elts if isinstance(value, ast.Tuple) else [value]
    out = {}
    differentiable = [a.name for a in code.inputs]
    for n in names:
        if not isinstance(n, ast.Name) or n.id[1:] not in differentiable:
            raise SymgradError(
                tr("{layer}: backward returns {value}, not d<input>").format(
                    layer=code.name, value=ast.unparse(n)
                )
            )
        out[n.id[1:]] = n.id
    return out
