"""The PyTorch target: a derived layer as a ``torch.autograd.Function`` and a ``torch.nn.Module``.

For a layer ``Name`` the module defines ``NameFunction``, whose ``forward(ctx, x, *constants)``
computes what the derivation's forward computes and saves what it saves
(``ctx.save_for_backward``), or only x where that is fewer bytes (:func:`memory_choice`), and
whose ``backward(ctx, dout)`` is the derived formula (``None``
for each constant); and ``Name``, a ``torch.nn.Module`` holding the constants. Expressions print
through :class:`TorchPrinter`, the NumPy printer with ``torch`` calls (``torch.special.erfc``,
``torch.clamp(x, min=0)`` for a maximum with a number).

So far the target covers elementwise layers (one map, no parameters): the catalog's Relu,
Sigmoid, Tanh, Exp, LeakyReLU, Softplus, SiLU, GELU, GELUTanh and ELU, and any layer declared
from one expression. Others are refused with one line. Before :func:`generate_torch` returns,
each Function passes ``torch.autograd.gradcheck`` in float64 away from its kinks.

>>> import symgrad
>>> code = symgrad.generate(["Sigmoid"], target="torch")
>>> "ctx.save_for_backward(y)" in code and "dx = dout * (1 - y) * y" in code
True
"""

from __future__ import annotations

import textwrap
import types
from collections.abc import Iterable
from typing import Any

import sympy
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.printing.codeprinter import PrintMethodNotImplementedError

from symgrad import __version__, target_helpers
from symgrad.engine import Derivation
from symgrad.errors import SymgradError
from symgrad.functions import to_elementary
from symgrad.lowering import format_module
from symgrad.numpy_printer import SymgradNumPyPrinter, format_python
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
    "pi": "torch.pi",
    "inf": "torch.inf",
    "logical_and": "torch.logical_and",
    "logical_or": "torch.logical_or",
    "logical_not": "torch.logical_not",
}


class TorchPrinter(SymgradNumPyPrinter):
    """SymPy expressions as PyTorch code: NumPy's calls by their ``torch`` names, numbers as
    Python numbers (``2**0.5``, ``torch.pi``)."""

    def _module_format(self, fqn: str, register: bool = True) -> str:
        name = fqn.split(".")[-1]
        if name not in _CALLS:
            raise SymgradError(f"the torch target has no form for {fqn}")
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
        *branches, (last, cond) = expr.args
        if cond != sympy.true:
            raise SymgradError("the torch target needs a Piecewise whose last branch always holds")
        out = self._print(last)
        for value, c in reversed(branches):
            out = f"torch.where({self._print(c)}, {self._print(value)}, {out})"
        return out

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


def torch_code(expr: sympy.Expr) -> str:
    """``expr`` as one formatted PyTorch expression.

    >>> from sympy import Symbol, exp
    >>> torch_code(1 / (1 + exp(-Symbol("x"))))
    '1 / (1 + torch.exp(-x))'
    """
    try:
        return format_python(TorchPrinter().doprint(_tensor_branches(expr)))
    except PrintMethodNotImplementedError as err:  # one line, not SymPy's traceback
        raise SymgradError(f"the torch target cannot print {type(expr).__name__}") from err


def _tensor_branches(expr: sympy.Expr) -> sympy.Expr:
    """A choice between numbers folded into its product, ``dout * where(mask, 1, 0.01)`` as
    ``where(mask, dout, 0.01 * dout)``: ``torch.where`` of two Python numbers is a float32
    tensor whatever the inputs' dtype (0.01 would be rounded to float32)."""
    numbers = [p for p in expr.atoms(sympy.Piecewise) if all(v.is_number for v, _ in p.args)]
    return sympy.piecewise_fold(expr) if numbers else expr


def supported(d: Derivation) -> bool:
    """Is ``d`` a layer this target generates (elementwise, without parameters)?"""
    spec = d.spec
    return d.is_map and not spec.params and len(spec.inputs) == 1 and not spec.with_role("random")


def function_text(d: Derivation) -> str:
    """``NameFunction`` and ``Name`` for one elementwise layer."""
    if not supported(d):
        raise SymgradError(
            f"{d.name}: the torch target covers elementwise layers without parameters so far"
        )
    (x,) = (t.name for t in d.spec.inputs)
    (g,) = d.gradients
    constants = [n for n, _ in d.spec.constants]
    saved, recomputed = memory_choice(d)
    typed = ", ".join([f"{x}: torch.Tensor", *(f"{c}: float" for c in constants)])
    doc = f"{(d.spec.doc or d.name).rstrip('.')}. Derived backward: {g.name} = {torch_code(g.expr)}"
    lines = [
        f"class {d.name}Function(torch.autograd.Function):",
        *_docstring(doc),
        "",
        "    @staticmethod",
        *_signature("forward", f"{_CTX}, {typed}", "torch.Tensor"),
    ]
    for s in d.forward:
        lines += _assignments(s.target.name, s.body)
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
        lines += _assignments(st.target.name, st.body)
    lines += _assignments(g.name, g.expr)
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


def memory_choice(d: Derivation) -> tuple[list[str], list[Any]]:
    """What the Function saves, and the forward statements its backward computes again.

    The derivation's saved tensors, unless saving only the input keeps fewer bytes (GELU saves
    x and erfc(-x/√2), 2 elements' worth, where x alone is 1): then x, and the statements that
    make the rest are run again in backward. A mask counts 1 byte per element (bool), any
    other tensor the input's 4 or 8, so Sigmoid keeps y and ELU keeps x, not x and its mask.
    """
    saved = [t.name for t in d.saved]
    inputs = [t.name for t in d.spec.inputs]

    def size(name: str) -> float:
        made = next((st for st in d.forward if st.target.name == name), None)
        return 0.25 if made is not None and _is_mask(made.body) else 1.0

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


def _assignments(name: str, expr: sympy.Expr) -> list[str]:
    """``name = expr`` in a method body; where the line is too long, the repeated parts (else
    the largest) named first, ``dx_0 = ...``, so that every line fits as ``ruff format``
    leaves it."""
    code = torch_code(expr)
    if len(f"        {name} = {code}") <= _MAX or expr.is_Atom:
        return [f"        {name} = {code}"]
    names = sympy.numbered_symbols(f"{name}_")
    shared, (reduced,) = sympy.cse(expr, symbols=names, order="none")
    shared, reduced = _printable_shared(shared, reduced)
    if not shared:
        parts = [p.expr for p in expr.args] if isinstance(expr, sympy.Piecewise) else expr.args
        parts = [p for p in parts if isinstance(p, sympy.Expr) and not p.is_Atom]
        if not parts:
            raise SymgradError(f"cannot split the line of {name} to fit {_MAX} columns")
        big = max(parts, key=lambda a: len(torch_code(a)))
        part = sympy.Symbol(f"{name}_part")
        shared, reduced = [(part, big)], expr.xreplace({big: part})
    out = []
    for symbol, value in shared:
        out += _assignments(str(symbol), value)
    return out + _assignments(name, reduced)


def _printable_shared(shared: list, reduced: sympy.Expr) -> tuple[list, sympy.Expr]:
    """cse's shared parts that are values (a Piecewise's branch-condition pair is not one),
    the others put back where they were read."""
    back: dict[sympy.Symbol, sympy.Basic] = {}
    kept = []
    for symbol, value in shared:
        value = value.xreplace(back)
        if isinstance(value, sympy.Expr) and not isinstance(value, ExprCondPair):
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
        raise SymgradError("the torch target needs PyTorch: pip install torch") from err
    module = types.ModuleType("symgrad_torch_generated")
    exec(compile(text, "<symgrad torch>", "exec"), module.__dict__)
    for d in derivations:
        x = _points(d, torch)
        function = getattr(module, f"{d.name}Function")
        constants = [float(v) for _, v in d.spec.constants]

        def apply(t: Any, function: Any = function, constants: list = constants) -> Any:
            return function.apply(t, *constants)

        if not _forward_agrees(d, x.detach(), apply(x).detach()):
            raise SymgradError(f"{d.name}: the generated torch forward differs from the declared")
        if not torch.autograd.gradcheck(apply, (x,)):
            raise SymgradError(f"{d.name}: the generated torch Function fails gradcheck")
        if not torch.equal(getattr(module, d.name)()(x), apply(x)):
            raise SymgradError(f"{d.name}: the Module and the Function disagree")


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
