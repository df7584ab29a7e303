"""LaTeX printer: SymPy's :class:`LatexPrinter`, overriding only what it gets wrong for us.

- ``dout`` prints as ``\\frac{\\partial L}{\\partial y}`` (the upstream gradient, named after the
  layer's output), the notation of the textbook's computational graphs;
- the engine's named functions print as ``\\sigma(u)`` and ``\\operatorname{softplus}(u)``;
- boolean masks print as the indicator ``\\mathbb{1}[\\text{mask}]``;
- transposes print as ``X^{\\mathsf{T}}`` (SymPy writes ``X^{T}``, which reads as a power).

>>> from sympy import Symbol
>>> y, dout = Symbol("y"), Symbol("dout")
>>> latex(dout * y * (1 - y))
'\\\\frac{\\\\partial L}{\\\\partial y} y \\\\left(1 - y\\\\right)'
"""

from __future__ import annotations

import sympy
from sympy.printing.latex import LatexPrinter

from symgrad.functions import TABLE, Named


class SymgradLatexPrinter(LatexPrinter):
    _default_settings = {**LatexPrinter._default_settings, "output_name": "y"}  # noqa: RUF012

    def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:
        if expr.name == "dout":
            name = self._settings["output_name"]
            name = rf"\mathrm{{{name}}}" if len(name) > 1 else name
            return rf"\frac{{\partial L}}{{\partial {name}}}"
        if expr.name.startswith("mask"):
            return rf"\mathbb{{1}}[\text{{{expr.name}}}]"
        if expr.name == "out":
            return r"\mathrm{out}"
        return super()._print_Symbol(expr, style=style)

    def _print_Indexed(self, expr: sympy.Indexed) -> str:
        if expr.base.name == "dout":
            index = ", ".join(self._print(a) for a in expr.indices)
            name = self._settings["output_name"]
            return rf"\left(\frac{{\partial L}}{{\partial {name}}}\right)_{{{index}}}"
        return super()._print_Indexed(expr)

    def _print_MatrixSymbol(self, expr: sympy.MatrixSymbol) -> str:
        if expr.name == "dout":
            return rf"\frac{{\partial L}}{{\partial {self._settings['output_name']}}}"
        return super()._print_MatrixSymbol(expr)

    def _print_OneMatrix(self, expr: sympy.OneMatrix) -> str:
        return r"\mathbf{1}"

    def _print_Transpose(self, expr: sympy.Transpose) -> str:
        arg = expr.arg
        inner = self._print(arg)
        if not isinstance(arg, sympy.MatrixSymbol):
            inner = rf"\left({inner}\right)"
        return rf"{inner}^{{\mathsf{{T}}}}"


def _install_named_functions() -> None:
    """Each named function prints as its table entry says (:data:`symgrad.functions.TABLE`)."""
    for function, named in TABLE.items():

        def method(
            self: SymgradLatexPrinter,
            expr: sympy.Expr,
            exp: str | None = None,
            named: Named = named,
        ) -> str:
            text = named.latex(self, expr)
            return f"{text}^{{{exp}}}" if exp else text

        setattr(SymgradLatexPrinter, f"_print_{function.__name__}", method)


_install_named_functions()


def latex(expr: sympy.Basic, output: str = "y") -> str:
    """Print ``expr`` with symgrad's notation; ``output`` names the layer output for ``dout``."""
    return SymgradLatexPrinter({"output_name": output}).doprint(expr)
