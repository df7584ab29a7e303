"""Any generated layer as a ``torch.autograd.Function`` and a ``torch.nn.Module``, read from the
NumPy class symgrad generated and checked for it (:mod:`symgrad.layer_code`).

``NameFunction.forward(ctx, *inputs, *parameters, *state, *options)`` runs the class's forward
in torch and saves, with ``ctx.save_for_backward``, exactly what the class caches for backward
(and the parameters backward reads); shapes go on ``ctx``. ``backward(ctx, dout)`` runs the
class's derived backward and returns one gradient per argument, ``None`` for an option, a label
or an index. State the forward replaces (BatchNormalization's running averages) comes back as
extra, non-differentiable outputs, which the Module keeps as buffers. ``train_flg`` is the
Module's ``self.training``.
"""

from __future__ import annotations

import ast

from symgrad.dialects import Rewriter
from symgrad.errors import SymgradError
from symgrad.i18n import tr
from symgrad.layer_code import Arg, LayerCode
from symgrad.lowering import early_returns, lower, text
from symgrad.target_common import function_args

_CTX = "ctx: torch.autograd.function.FunctionCtx"


def _annotation(a: Arg) -> str:
    return a.annotation.replace("np.ndarray", "torch.Tensor").replace(
        "float | torch.Tensor", "torch.Tensor"
    )


def _device(code: LayerCode) -> str:
    return next((a.name for a in code.inputs if a.is_array), "")


def function_class(code: LayerCode) -> list[str]:
    """The lines of ``NameFunction`` and ``Name`` for one layer."""
    read_back = code.read_by_backward
    params_read = [p for p in code.params if p in read_back]
    options_read = [a.name for a in code.options if a.name in read_back]
    saved = [*code.saved, *params_read]
    early = early_returns(code.forward)
    names = {
        **{p: p for p in code.params},
        **{s: s for s in code.state},
        **{a.name: a.name for a in code.options},
        **{m: f"ctx.{m}" for m in code.metadata},
        **{s: s for s in code.saved},
    }

    def on_return(node: ast.Return, last: bool) -> list[ast.stmt]:
        out = []
        if last:
            out.append(f"ctx.save_for_backward({', '.join(saved)})")
            out += [f"ctx.{o} = {o}" for o in options_read]
        if early:
            out.append(f"ctx.derived = {last}")
        if code.state:
            out.append(f"ctx.mark_non_differentiable({', '.join(code.state)})")
        value = ast.unparse(node.value) if node.value else "None"
        out.append(f"return {', '.join([value, *code.state])}")
        return ast.parse("\n".join(out)).body

    fixed = frozenset(code.params)
    forward = lower(code.forward, names, Rewriter("torch", _device(code)), on_return, fixed=fixed)
    args = function_args(code)
    typed = [f"{_CTX}", *(_typed(code, n) for n in args)]
    result = "tuple[torch.Tensor, ...]" if code.state else "torch.Tensor"
    lines = [
        f"class {code.name}Function(torch.autograd.Function):",
        f'    """{_doc(code)}"""',
        "",
        "    @staticmethod",
        f"    def forward({', '.join(typed)}) -> {result}:",
        *text(forward),
        "",
        "    @staticmethod",
    ]
    unused = ", *unused: torch.Tensor" if code.state else ""
    lines.append(f"    def backward({_CTX}, dout: torch.Tensor{unused}) -> tuple:")
    head = []
    if early:
        message = f"{code.name}: the backward is derived for the training-mode forward only"
        head.append(f"        if not ctx.derived:\n            raise RuntimeError({message!r})")
    if saved:
        unpacked = f"({saved[0]},)" if len(saved) == 1 else ", ".join(saved)
        head.append(f"        {unpacked} = ctx.saved_tensors")
    head += [f"        {o} = ctx.{o}" for o in options_read]
    back_names = {**names, **{f"d{p}": f"d{p}" for p in code.params}}

    def on_back_return(node: ast.Return, last: bool) -> list[ast.stmt]:
        return [_gradients_return(code, args)]

    backward = lower(
        code.backward,
        back_names,
        Rewriter("torch", "dout"),
        on_back_return,
        drop=_stores_gradient,
        fixed=fixed,
    )
    if not any(isinstance(s, ast.Return) for s in code.backward):
        backward.append(_gradients_return(code, args))
    lines += head + text(backward)
    return [*lines, "", "", *module_class(code, args)]


def _doc(code: LayerCode) -> str:
    """The NumPy class's docstring (the derived formulas, in NumPy's spelling)."""
    return code.doc.strip().replace(chr(34) * 3, chr(39) * 3) + "\n    "


def _typed(code: LayerCode, name: str) -> str:
    arg = next((a for a in [*code.inputs, *code.init, *code.options] if a.name == name), None)
    if arg is None or not arg.annotation:
        return name
    return f"{name}: {_annotation(arg)}"


def _stores_gradient(s: ast.stmt) -> bool:
    """``self.dW = dW``: the gradient is returned instead."""
    return (
        isinstance(s, ast.Assign)
        and isinstance(s.targets[0], ast.Attribute)
        and isinstance(s.targets[0].value, ast.Name)
        and s.targets[0].value.id == "self"
    )


def _gradients_return(code: LayerCode, args: list[str]) -> ast.stmt:
    values = [code.gradients.get(a, "None") for a in args]
    missing = [p for p in code.params if p not in code.gradients]
    if missing:
        raise SymgradError(
            tr("{layer}: backward stores no gradient for {names}").format(
                layer=code.name, names=", ".join(missing)
            )
        )
    return ast.parse(f"return {', '.join(values)}").body[0]


def module_class(code: LayerCode, args: list[str]) -> list[str]:
    """``Name(torch.nn.Module)``: the NumPy class's constructor, parameters as
    ``torch.nn.Parameter``, state as buffers, ``train_flg`` as ``self.training``."""
    init = [
        f"{a.name}: {_annotation(a)}" + (f" = {a.default}" if a.default else "") for a in code.init
    ]
    lines = [
        f"class {code.name}(torch.nn.Module):",
        f'    """{code.name} as a module calling {code.name}Function."""',
        "",
        f"    def __init__({', '.join(['self', *init])}) -> None:",
        "        super().__init__()",
    ]
    for a in code.init:
        if a.name in code.params:
            lines.append(f"        self.{a.name} = torch.nn.Parameter(torch.as_tensor({a.name}))")
        elif a.name in code.state:
            value = f"None if {a.name} is None else torch.as_tensor({a.name})"
            lines.append(f'        self.register_buffer("{a.name}", {value})')
        else:
            lines.append(f"        self.{a.name} = {a.name}")
    inputs = [f"{a.name}: {_annotation(a)}" for a in code.inputs]
    result = "torch.Tensor"
    lines += ["", f"    def forward({', '.join(['self', *inputs])}) -> {result}:"]
    passed = [
        ("self.training" if code.mode and n == code.mode.name else f"self.{n}")
        if n not in {a.name for a in code.inputs}
        else n
        for n in args
    ]
    call = f"{code.name}Function.apply({', '.join(passed)})"
    if code.state:
        lines.append(f"        y, {', '.join(f'self.{s}' for s in code.state)} = {call}")
        lines.append("        return y")
    else:
        lines.append(f"        return {call}")
    if not code.init:
        lines[3:5] = []
    return lines
