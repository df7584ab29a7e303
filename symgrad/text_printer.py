"""Plain-text printer: one line of math as a textbook reader writes it, for ``--format text``.

SymPy's ``str`` is its own input language (``Sum(t[k], (k, 0, n - 1))``, ``X.T*dout``,
``Piecewise((dout, x > 0), (0, True))``, ``logistic(x)``). Here:

- products print with ``·``; a matrix product with ``@`` (NumPy's operator: ``*`` in NumPy is
  elementwise, so ``X.T*dout`` would mislead); transposes as ``Xᵀ``;
- ``Σ_k f`` for a sum over the columns of a row, and a sum of a matrix's rows (``doutᵀ·1``) as
  ``Σ_n dout[n, :]``, the column sums;
- ``dout·[x > 0]`` for a value that is kept where a condition holds (the Iverson bracket);
- the named functions as the parser spells them (``sigmoid``, ``softplus``);
- positive terms first: ``y[i] - t[i]``, not ``-t[i] + y[i]``.

>>> from sympy import Symbol, Piecewise, IndexedBase, Sum
>>> x, dout = Symbol("x"), Symbol("dout")
>>> text(Piecewise((dout, x > 0), (0, True)))
'dout·[x > 0]'
>>> t, y, k, i = IndexedBase("t"), IndexedBase("y"), Symbol("k"), Symbol("i")
>>> text(-t[i] + y[i] * Sum(t[k], (k, 0, 9)))
'y[i]·Σ_k t[k] - t[i]'
"""

from __future__ import annotations

import sympy
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm
from sympy.printing.str import StrPrinter

_NAMES = {"logistic": "sigmoid"}


class SymgradTextPrinter(StrPrinter):
    def _print_Mul(self, expr: sympy.Mul) -> str:
        return super()._print_Mul(expr).replace("*", "·").replace("··", "**")

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        return super()._print_Pow(expr, rational).replace("·", "*")

    def _print_Add(self, expr: sympy.Add, order: str | None = None) -> str:
        terms = sorted(self._as_ordered_terms(expr, order=order), key=_negative)
        out = self._print(terms[0])
        for term in terms[1:]:
            if _negative(term):
                out += f" - {self.parenthesize(-term, PRECEDENCE['Add'])}"
            else:
                out += f" + {self.parenthesize(term, PRECEDENCE['Add'])}"
        return out

    def _print_Sum(self, expr: sympy.Sum) -> str:
        body = self.parenthesize(expr.function, PRECEDENCE["Mul"])
        return "".join(f"Σ_{var} " for var, *_ in expr.limits) + body

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        pairs = list(expr.args)
        if len(pairs) == 2 and pairs[-1].cond == sympy.true and pairs[-1].expr == 0:
            value, cond = pairs[0]
            if value == 1:
                return f"[{self._print(cond)}]"
            return f"{self.parenthesize(value, PRECEDENCE['Mul'])}·[{self._print(cond)}]"
        from symgrad.i18n import tr

        parts = [
            tr("{value} if {condition}").format(value=self._print(v), condition=self._print(c))
            for v, c in pairs
            if c != sympy.true
        ]
        rest = [self._print(v) for v, c in pairs if c == sympy.true]
        parts += [tr("{value} otherwise").format(value=r) for r in rest]
        return "(" + "; ".join(parts) + ")"

    def _print_Function(self, expr: sympy.Function) -> str:
        name = _NAMES.get(expr.func.__name__, expr.func.__name__)
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Max(self, expr: sympy.Max) -> str:
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr: sympy.Min) -> str:
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_MatMul(self, expr: sympy.MatMul) -> str:
        args = list(expr.args)
        if len(args) == 2 and isinstance(args[1], sympy.OneMatrix) and args[1].shape[1] == 1:
            summed = args[0].arg if isinstance(args[0], sympy.Transpose) else args[0]
            return f"Σ_n {self._print(summed)}[n, :]"
        if len(args) == 2 and isinstance(args[0], sympy.OneMatrix):
            return f"1·{self.parenthesize(args[1], precedence(expr))}"
        return " @ ".join(self.parenthesize(a, precedence(expr)) for a in args)

    def _print_Transpose(self, expr: sympy.Transpose) -> str:
        return f"{self.parenthesize(expr.arg, PRECEDENCE['Pow'])}ᵀ"

    def _print_OneMatrix(self, expr: sympy.OneMatrix) -> str:
        return "1"

    def _print_MatrixSymbol(self, expr: sympy.MatrixSymbol) -> str:
        return expr.name


def _negative(term: sympy.Expr) -> bool:
    return bool(term.could_extract_minus_sign())


def for_display(expr: sympy.Basic) -> sympy.Basic:
    """``expr`` with the named functions renamed as the parser spells them (``sigmoid``), for
    SymPy's pretty printer."""
    return expr.replace(
        lambda e: isinstance(e, sympy.Function) and e.func.__name__ in _NAMES,
        lambda e: sympy.Function(_NAMES[e.func.__name__])(*e.args),
    )


def text(expr: sympy.Basic) -> str:
    """``expr`` as one line of textbook-style plain text."""
    return SymgradTextPrinter().doprint(expr)


class _Pretty(PrettyPrinter):
    """SymPy's pretty printer, its words for a ``Piecewise`` in the current language."""

    def _print_Piecewise(self, pexpr: sympy.Piecewise) -> prettyForm:
        from symgrad.i18n import tr

        rows = []
        for e, c in pexpr.args:
            if c == sympy.true:
                rows.append((self._print(e), prettyForm(tr("otherwise"))))
                continue
            before, _, after = tr("for {condition}").partition("{condition}")
            cond = self._print(c)
            cond = prettyForm(*cond.left(before)) if before else cond
            rows.append((self._print(e), prettyForm(*cond.right(after)) if after else cond))
        widths = [max(r[j].width() for r in rows) for j in range(2)]
        picture = None
        for row in rows:
            line = None
            for form, width in zip(row, widths):
                wleft = (width - form.width()) // 2
                form = prettyForm(*form.right(" " * (width - form.width() - wleft)))
                form = prettyForm(*form.left(" " * wleft))
                line = (
                    form if line is None else prettyForm(*prettyForm(*line.right("  ")).right(form))
                )
            picture = (
                line
                if picture is None
                else prettyForm(*prettyForm(*picture.below(" ")).below(line))
            )
        picture = prettyForm(*picture.parens("{", ""))
        picture.baseline = picture.height() // 2
        picture.binding = prettyForm.OPEN
        return picture


def pretty(expr: sympy.Basic) -> str:
    """``expr`` drawn by SymPy's pretty printer in Unicode, its words translated."""
    return _Pretty({"use_unicode": True}).doprint(expr)
