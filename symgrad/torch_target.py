"""The PyTorch target: a derived layer as a ``torch.autograd.Function`` and a ``torch.nn.Module``.

For a layer ``Name`` the module defines ``NameFunction``, whose ``forward(ctx, x, *constants)``
computes what the derivation's forward computes and saves what it saves
(``ctx.save_for_backward``), or only x where that is fewer bytes (:func:`memory_choice`), and
whose ``backward(ctx, dout)`` is the derived formula (``None``
for each constant); and ``Name``, a ``torch.nn.Module`` holding the constants. Expressions print
through :class:`TorchPrinter`, the NumPy printer with ``torch`` calls (``torch.special.erfc``,
``torch.clamp(x, min=0)`` for a maximum with a number).

A product or sum is one new tensor updated in place (:mod:`symgrad.inplace`: ``dx = 1 - y``,
``dx *= dout``, ``dx *= y``), and a mask read only to choose between numbers is a 0/1 tensor
of the input's dtype (:func:`float_masks`): on a CPU both are several times faster than the
one-line form, whose every operation allocates, and than ``torch.where`` on a bool mask.

Elementwise layers (one map, no parameters: the catalog's Relu, Sigmoid, Tanh, Exp, LeakyReLU,
Softplus, SiLU, GELU, GELUTanh and ELU, and any layer declared from one expression) are printed
here from their derivation, and each Function passes ``torch.autograd.gradcheck`` in float64
away from its kinks before :func:`generate_torch` returns; every other layer is read from its
checked NumPy class (:mod:`symgrad.torch_classes`).

>>> import symgrad
>>> code = symgrad.generate(["Sigmoid"], target="torch")
>>> print(code[code.index("(y,) = ctx"):code.index("return dx")].strip())
(y,) = ctx.saved_tensors
        dx = 1 - y
        dx *= dout
        dx *= y
"""

from __future__ import annotations

import textwrap
import types
from collections.abc import Iterable
from typing import Any

import sympy
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.printing.codeprinter import PrintMethodNotImplementedError

from symgrad import __version__, inplace, target_helpers
from symgrad.engine import Derivation
from symgrad.errors import SymgradError
from symgrad.functions import to_elementary
from symgrad.i18n import tr
from symgrad.lowering import format_module
from symgrad.numpy_printer import SymgradNumPyPrinter, format_python, number_choice
from symgrad.target_common import numpy_classes
from symgrad.torch_classes import function_class

_CALLS = {
    "abs": "torch.abs",
    "exp": "torch.exp",
    "expm1": "torch.expm1",
    "log": "torch.log",
    "log1p": "torch.log1p",
    "logaddexp": "torch.logaddexp",
    "maximum": "torch.maximum",
    "minimum": "torch.minimum",
    "sqrt": "torch.sqrt",
    "tanh": "torch.tanh",
    "where": "torch.where",
    "sin": "torch.sin",
    "cos": "torch.cos",
    "tan": "torch.tan",
    "sinh": "torch.sinh",
    "cosh": "torch.cosh",
    "arctan": "torch.atan",
    "sign": "torch.sign",
    "clip": "torch.clamp",
    "pi": "torch.pi",
    "inf": "torch.inf",
    "logical_and": "torch.logical_and",
    "logical_or": "torch.logical_or",
    "logical_not": "torch.logical_not",
}


class TorchPrinter(SymgradNumPyPrinter):
    """SymPy expressions as PyTorch code: NumPy's calls by their ``torch`` names, numbers as
    Python numbers (``2**0.5``, ``torch.pi``). ``masks``: the names of masks held as 0/1
    tensors of the input's dtype (:func:`float_masks`), whose choices print as arithmetic."""

    def __init__(self, masks: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.masks = masks

    def _module_format(self, fqn: str, register: bool = True) -> str:
        name = fqn.split(".")[-1]
        if name not in _CALLS:
            raise SymgradError(tr("the torch target has no form for {call}").format(call=fqn))
        return _CALLS[name]

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, e = expr.as_base_exp()
        if expr.is_number and e == sympy.S.Half:  # a constant: a number, not a tensor call
            return f"{self.parenthesize(base, 60)}**0.5"
        return super()._print_Pow(expr, rational=rational)

    def _fold(self, fqn: str, args: tuple[sympy.Expr, ...]) -> str:
        numbers = [a for a in args if a.is_number]
        tensors = [a for a in args if not a.is_number]
        if len(numbers) == 1 and len(tensors) == 1:  # max(x, 0): torch.maximum wants tensors
            bound = "min" if fqn.endswith("maximum") else "max"
            return f"torch.clamp({self._print(tensors[0])}, {bound}={self._print(numbers[0])})"
        return super()._fold(fqn, args)

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        """Branches as nested ``torch.where`` (torch has no ``select``); the last must hold."""
        chosen = _choice(expr, self.masks)
        if chosen is not None:
            return self._print_choice(*chosen)
        *branches, (last, cond) = expr.args
        if cond != sympy.true:
            raise SymgradError(
                tr("the torch target needs a Piecewise whose last branch always holds")
            )
        out = self._print(last)
        for value, c in reversed(branches):
            condition = f"{c}.bool()" if str(c) in self.masks else self._print(c)
            out = f"torch.where({condition}, {self._print(value)}, {out})"
        return out

    def _print_choice(
        self, common: sympy.Expr, mask: str, one: sympy.Expr, zero: sympy.Expr
    ) -> str:
        """``common * (mask * one + (1 - mask) * zero)``, for a 0/1 ``mask``: exact, the
        numbers ``one`` and ``zero`` being finite (``x * 1 + 0 * c`` is ``x``), and a product
        where ``torch.where`` on a bool mask takes 4 ms per million elements on a CPU. Where
        ``one`` is 1 and ``0 < zero < 1`` (LeakyReLU's slope), the choice is
        ``torch.clamp(mask, min=zero)``: max(1, zero) = 1 and max(0, zero) = zero, one pass;
        ``zero`` is then rounded to the tensor's dtype before the product, so in bfloat16 the
        result may differ from ``0.01 * x`` in its last bit (float32 and float64: bit-equal)."""
        if one == 1 and 0 < zero < 1:
            choice = f"torch.clamp({mask}, min={self._print(zero)})"
        else:
            terms = []
            if one != 0:
                terms.append(mask if one == 1 else f"{mask} * {self._print(one)}")
            if zero != 0:
                terms.append(f"(1 - {mask})" + ("" if zero == 1 else f" * {self._print(zero)}"))
            choice = " + ".join(terms) or "0"
            choice = f"({choice})" if len(terms) > 1 else choice
        return choice if common == 1 else f"{self.parenthesize(common, 50)} * {choice}"

    def _print_logistic(self, expr: sympy.Expr) -> str:
        return f"torch.sigmoid({self._print(expr.args[0])})"

    def _print_softplus(self, expr: sympy.Expr) -> str:
        u = self._print(expr.args[0])
        return f"(torch.clamp({u}, min=0) + torch.log1p(torch.exp(-torch.abs({u}))))"

    def _print_expm1(self, expr: sympy.Expr) -> str:
        return f"torch.expm1({self._print(expr.args[0])})"

    def _print_log1p(self, expr: sympy.Expr) -> str:
        return f"torch.log1p({self._print(expr.args[0])})"

    def _print_logaddexp(self, expr: sympy.Expr) -> str:
        return f"torch.logaddexp({', '.join(self._print(a) for a in expr.args)})"

    def _print_erf(self, expr: sympy.Expr) -> str:
        return f"torch.special.erf({self._print(expr.args[0])})"

    def _print_erfc(self, expr: sympy.Expr) -> str:
        return f"torch.special.erfc({self._print(expr.args[0])})"


def torch_code(expr: sympy.Expr, masks: frozenset[str] = frozenset()) -> str:
    """``expr`` as one formatted PyTorch expression.

    >>> from sympy import Symbol, exp
    >>> torch_code(1 / (1 + exp(-Symbol("x"))))
    '1 / (1 + torch.exp(-x))'
    """
    try:
        return format_python(TorchPrinter(masks).doprint(_tensor_branches(expr)))
    except PrintMethodNotImplementedError as err:  # one line, not SymPy's traceback
        raise SymgradError(
            tr("the torch target cannot print {kind}").format(kind=type(expr).__name__)
        ) from err


def _tensor_branches(expr: sympy.Expr) -> sympy.Expr:
    """A choice between numbers folded into its product, ``dout * where(mask, 1, 0.01)`` as
    ``where(mask, dout, 0.01 * dout)``: ``torch.where`` of two Python numbers is a float32
    tensor whatever the inputs' dtype (0.01 would be rounded to float32)."""
    numbers = [p for p in expr.atoms(sympy.Piecewise) if all(v.is_number for v, _ in p.args)]
    return sympy.piecewise_fold(expr) if numbers else expr


_COMPARE = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "==": "eq", "!=": "ne"}


def _choice(
    p: sympy.Piecewise, masks: frozenset[str]
) -> tuple[sympy.Expr, str, sympy.Expr, sympy.Expr] | None:
    """A :func:`~symgrad.numpy_printer.number_choice` whose condition is a float mask in
    ``masks``, as ``(t, mask, c1, c0)``; else None."""
    chosen = number_choice(p)
    if chosen is None or not chosen[1].is_Symbol or str(chosen[1]) not in masks:
        return None
    t, mask, c1, c0 = chosen
    return t, str(mask), c1, c0


def float_masks(d: Derivation) -> frozenset[str]:
    """The masks held as 0/1 tensors of the input's dtype rather than bool: each made by one
    comparison and read only to choose between multiples of one value by numbers
    (:func:`_choice`), as Relu's and LeakyReLU's are. ``torch.where`` on a bool mask is slow
    on a CPU (measured 4.2 ms per million float32 elements with a random mask, against
    0.1 ms for a product); a 0/1 mask costs 4 bytes an element, as the input does. A product
    with a 0/1 mask differs from ``torch.where`` in one case: where the value not chosen is
    infinite or nan (an overflowed ``dout``), ``inf * 0`` is nan, where ``torch.where`` gives
    0; the values chosen between are multiples of one value by finite numbers, so this is
    never an overflow of the layer's own."""
    made = {
        st.target.name
        for st in d.forward
        if isinstance(st.body, sympy.core.relational.Relational) and st.body.rel_op in _COMPARE
    }
    exprs = [st.body for st in d.forward] + [g.expr for g in d.gradients]
    candidates = frozenset(made)
    read_otherwise = {
        str(s)
        for e in exprs
        for s in _tensor_branches(e)
        .replace(
            lambda p: isinstance(p, sympy.Piecewise) and _choice(p, candidates) is not None,
            lambda p: sympy.S.Zero,
        )
        .free_symbols
    }
    return candidates - read_otherwise


def _float_mask(body: sympy.core.relational.Relational) -> str:
    """A comparison as a 0/1 tensor of its tensor side's dtype: ``torch.gt(x, 0, out=...)``
    writes float32 at 0.1 ms per million, where ``(x > 0).to(x.dtype)`` takes 1 ms."""
    if body.lhs.is_number:
        body = body.reversed
    lhs, rhs = torch_code(body.lhs), torch_code(body.rhs)
    return f"torch.{_COMPARE[body.rel_op]}({lhs}, {rhs}, out=torch.empty_like({lhs}))"


def supported(d: Derivation) -> bool:
    """Is ``d`` a layer this target generates (elementwise, without parameters)?"""
    spec = d.spec
    return d.is_map and not spec.params and len(spec.inputs) == 1 and not spec.with_role("random")


def function_text(d: Derivation) -> str:
    """``NameFunction`` and ``Name`` for one elementwise layer."""
    if not supported(d):
        raise SymgradError(
            tr(
                "{layer}: the torch target covers elementwise layers without parameters so far"
            ).format(layer=d.name)
        )
    (x,) = (t.name for t in d.spec.inputs)
    (g,) = d.gradients
    constants = [n for n, _ in d.spec.constants]
    masks = float_masks(d)
    saved, recomputed = memory_choice(d, masks)
    typed = ", ".join([f"{x}: torch.Tensor", *(f"{c}: float" for c in constants)])
    formula = torch_code(g.expr, masks)
    doc = f"{(d.spec.doc or d.name).rstrip('.')}. Derived backward: {g.name} = {formula}"
    lines = [
        f"class {d.name}Function(torch.autograd.Function):",
        *_docstring(doc),
        "",
        "    @staticmethod",
        *_signature("forward", f"{_CTX}, {typed}", "torch.Tensor"),
    ]
    read = {str(a) for st in d.forward for a in st.body.free_symbols}
    for s in d.forward:  # a mask the forward no longer reads and backward recomputes: skipped
        if s.target.name in read | set(saved) | {d.output.name}:
            lines += _assignments(s.target.name, s.body, masks, in_place=False)
    lines.append(f"        ctx.save_for_backward({', '.join(saved)})")
    lines += [f"        ctx.{c} = {c}" for c in constants]
    lines.append(f"        return {d.output.name}")
    result = "tuple[torch.Tensor, None]" if constants else "torch.Tensor"
    if len(constants) > 1:
        result = f"tuple[torch.Tensor, {', '.join(['None'] * len(constants))}]"
    lines += [
        "",
        "    @staticmethod",
        *_signature("backward", f"{_CTX}, dout: torch.Tensor", result),
    ]
    if saved:
        unpacked = f"({saved[0]},)" if len(saved) == 1 else ", ".join(saved)
        lines.append(f"        {unpacked} = ctx.saved_tensors")
    lines += [f"        {c} = ctx.{c}" for c in constants]
    for st in recomputed:  # fewer bytes saved: these are computed again from the input
        lines += _assignments(st.target.name, st.body, masks)
    lines += _assignments(g.name, g.expr, masks)
    lines.append(f"        return {', '.join([g.name, *(['None'] * len(constants))])}")
    lines += ["", "", f"class {d.name}(torch.nn.Module):", f'    """{d.name} as a module."""', ""]
    defaults = dict(d.spec.constants)
    params = "".join(f", {c}: float = {float(defaults[c])!r}" for c in constants)
    lines.append(f"    def __init__(self{params}) -> None:")
    lines.append("        super().__init__()")
    lines += [f"        self.{c} = {c}" for c in constants]
    lines += ["", f"    def forward(self, {x}: torch.Tensor) -> torch.Tensor:"]
    call = ", ".join([x, *(f"self.{c}" for c in constants)])
    lines.append(f"        return {d.name}Function.apply({call})")
    return "\n".join(lines)


def memory_choice(
    d: Derivation, masks: frozenset[str] = frozenset()
) -> tuple[list[str], list[Any]]:
    """What the Function saves, and the forward statements its backward computes again.

    The derivation's saved tensors, unless saving only the input keeps fewer bytes (GELU saves
    x and erfc(-x/√2), 2 elements' worth, where x alone is 1): then x, and the statements that
    make the rest are run again in backward. A bool mask counts 1 byte per element, any
    other tensor (a 0/1 mask in ``masks`` too) the input's 4 or 8, so Sigmoid keeps y and ELU
    keeps x, not x and its mask.
    """
    saved = [t.name for t in d.saved]
    inputs = [t.name for t in d.spec.inputs]

    def size(name: str) -> float:
        made = next((st for st in d.forward if st.target.name == name), None)
        bool_mask = made is not None and _is_mask(made.body) and name not in masks
        return 0.25 if bool_mask else 1.0

    if sum(map(size, saved)) <= len(inputs) or not set(inputs) <= _reachable(d):
        return saved, []
    needed = {n for n in saved if n not in inputs}
    for st in reversed(d.forward):
        if st.target.name in needed:
            needed |= {str(a) for a in st.body.free_symbols}
    return inputs, [st for st in d.forward if st.target.name in needed]


def _is_mask(body: sympy.Expr) -> bool:
    return isinstance(body, sympy.logic.boolalg.Boolean)


def _reachable(d: Derivation) -> set[str]:
    """The inputs the forward statements read (all of them, for a map)."""
    return {str(a) for st in d.forward for a in st.body.free_symbols}


_MAX = 100
_CTX = "ctx: torch.autograd.function.FunctionCtx"


def _docstring(text: str) -> list[str]:
    """A class docstring, wrapped at the line length."""
    rows = textwrap.wrap(f'"""{text}."""', width=_MAX - 4, break_on_hyphens=False)
    return ["    " + row for row in rows]


def _signature(name: str, args: str, result: str) -> list[str]:
    one = f"    def {name}({args}) -> {result}:"
    if len(one) <= _MAX:
        return [one]
    return [
        f"    def {name}(",
        *(f"        {a.strip()}," for a in args.split(",")),
        f"    ) -> {result}:",
    ]


def _assignments(
    name: str, expr: sympy.Expr, masks: frozenset[str] = frozenset(), in_place: bool = True
) -> list[str]:
    """``name = expr`` in a method body: its repeated parts named first (``dx_0 = ...``), then
    one new tensor updated in place (:func:`symgrad.inplace.chain`, ``dx = 1 - y``,
    ``dx *= y``, ...); where a line is still too long, its largest part is named first, so
    that every line fits as ``ruff format`` leaves it. A mask in ``masks`` is made as a 0/1
    tensor (:func:`float_masks`). ``in_place=False`` (forward) keeps one expression per line:
    autograd can then differentiate the forward itself, the oracle the tests hold backward
    to (an in-place update of a tensor autograd saved would stop it)."""
    if name in masks:
        return [f"        {name} = {_float_mask(expr)}"]
    expr = _tensor_branches(expr)
    shared, (reduced,) = sympy.cse(expr, symbols=sympy.numbered_symbols(f"{name}_"), order="none")
    shared, reduced = _printable_shared(shared, reduced)
    out = [line for s, v in shared for line in _assignments(str(s), v, masks, in_place)]

    def code(e: sympy.Expr) -> str:
        return torch_code(e, masks)

    made = inplace.chain(name, reduced, code) if in_place else [f"{name} = {code(reduced)}"]
    lines = [f"        {line}" for line in made]
    if all(len(line) <= _MAX for line in lines) or reduced.is_Atom:
        return out + lines
    parts = [p.expr for p in reduced.args] if isinstance(reduced, sympy.Piecewise) else reduced.args
    parts = [p for p in parts if isinstance(p, sympy.Expr) and not p.is_Atom]
    if not parts:
        raise SymgradError(
            tr("cannot split the line of {name} to fit {width} columns").format(
                name=name, width=_MAX
            )
        )
    big = max(parts, key=lambda a: len(code(a)))
    part = sympy.Symbol(f"{name}_part")
    head = _assignments(str(part), big, masks, in_place)
    return out + head + _assignments(name, reduced.xreplace({big: part}), masks, in_place)


def _printable_shared(shared: list, reduced: sympy.Expr) -> tuple[list, sympy.Expr]:
    """cse's shared parts that are tensor values, the others put back where they were read: a
    Piecewise's branch-condition pair is no value, and a constant stays in its line (one Python
    number, no tensor pass)."""
    back: dict[sympy.Symbol, sympy.Basic] = {}
    kept = []
    for symbol, value in shared:
        value = value.xreplace(back)
        if isinstance(value, sympy.Expr) and not (
            isinstance(value, ExprCondPair) or value.is_number
        ):
            kept.append((symbol, value))
        else:
            back[symbol] = value
    return kept, reduced.xreplace(back)


def names_of(derivations: Iterable[Derivation]) -> list[str]:
    """What the module defines: ``NameFunction`` and ``Name`` per layer."""
    return [n for d in derivations for n in (f"{d.name}Function", d.name)]


def generate_torch(
    derivations: Iterable[Derivation], exports: list[str], source: str = "symgrad.layers"
) -> str:
    """One module with ``NameFunction`` and ``Name`` per layer (``exports``: its ``__all__``
    lines), checked before it is returned: an elementwise layer printed from its derivation
    (:func:`function_text`), any other read from its checked NumPy class
    (:mod:`symgrad.torch_classes`)."""
    from symgrad.target_check import require

    require("torch")
    ds = list(derivations)
    general = [d for d in ds if not supported(d)]
    numpy_source, codes = numpy_classes(general) if general else ("", [])
    code_of = {c.name: c for c in codes}
    parts = [
        function_text(d) if supported(d) else "\n".join(function_class(code_of[d.name])) for d in ds
    ]
    header = [
        f"# Generated by symgrad {__version__} from {source}. Do not edit; run `symgrad codegen`.",
        '"""PyTorch layers whose backward formulas were derived by symgrad.',
        "",
        "Each ``NameFunction`` is a ``torch.autograd.Function`` that saves what the derived",
        "backward needs and computes that backward; ``Name`` is a ``torch.nn.Module`` calling it.",
        '"""',
        "",
        "import torch",
        "",
        *exports,
    ]
    body = "\n\n\n".join(parts)
    helpers = "".join(h + "\n\n" for h in target_helpers.used("torch", body))
    text = format_module("\n".join(header) + "\n\n\n" + helpers + body + "\n")
    verify_torch(text, [d for d in ds if supported(d)])
    if general:
        from symgrad.target_check import check_target

        check_target("torch", text, numpy_source, general, codes)
    return text


def verify_torch(text: str, derivations: list[Derivation]) -> None:
    """Each Function's forward equals the declared map (evaluated by mpmath, not by the printed
    code) and it passes ``torch.autograd.gradcheck`` in float64 at points away from its kinks
    (|x| ≥ 0.05) and inside its domain, its output equal to the Module's; else
    :class:`SymgradError`."""
    try:
        import torch
    except ImportError as err:
        raise SymgradError(tr("the torch target needs PyTorch: pip install torch")) from err
    module = types.ModuleType("symgrad_torch_generated")
    exec(compile(text, "<symgrad torch>", "exec"), module.__dict__)
    for d in derivations:
        x = _points(d, torch)
        function = getattr(module, f"{d.name}Function")
        constants = [float(v) for _, v in d.spec.constants]

        def apply(t: Any, function: Any = function, constants: list = constants) -> Any:
            return function.apply(t, *constants)

        if not _forward_agrees(d, x.detach(), apply(x).detach()):
            raise SymgradError(
                tr("{layer}: the generated torch forward differs from the declared").format(
                    layer=d.name
                )
            )
        if not torch.autograd.gradcheck(apply, (x,)):
            raise SymgradError(
                tr("{layer}: the generated torch Function fails gradcheck").format(layer=d.name)
            )
        if not torch.equal(getattr(module, d.name)()(x), apply(x)):
            raise SymgradError(
                tr("{layer}: the Module and the Function disagree").format(layer=d.name)
            )


def _points(d: Derivation, torch: Any) -> Any:
    """64 float64 points inside the layer's domain (``log(x)``: x > 0), none within 0.05 of
    the kink at 0."""
    import numpy as np

    from symgrad.sampling import sample

    rng = np.random.default_rng(0)
    found: list[float] = []
    while len(found) < 64:
        _, (drawn, *_) = sample(d, rng)
        found += [float(v) for v in np.ravel(drawn) if abs(v) >= 0.05]
    return torch.tensor(found[:64], dtype=torch.float64).requires_grad_()


def _forward_agrees(d: Derivation, x: Any, y: Any) -> bool:
    """``y`` is the declared map at ``x`` to 1e-12 relative (to the larger of 1 and it), the
    map evaluated in mpmath with the named functions written out."""
    import mpmath

    (statement,) = d.spec.statements
    (symbol,) = (t.symbol for t in d.spec.inputs)
    body = to_elementary(statement.body).xreplace(
        {sympy.Symbol(n): sympy.Float(v) for n, v in d.spec.constants}
    )
    exact = sympy.lambdify(symbol, body, "mpmath")
    with mpmath.workdps(30):
        return all(
            abs(float(exact(mpmath.mpf(a))) - b) <= 1e-12 * max(1.0, abs(b))
            for a, b in zip(x.tolist(), y.tolist())
        )
