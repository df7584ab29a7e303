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

Text placed in LaTeX goes through one function, :func:`escape_text`, whether it is a paragraph
of the document or a label inside a formula (:func:`text`: ``\\text{...}`` pieces):

>>> print(escape_text("mask x <= 0, so ReLU′(0) = 0"))
mask x \\textless{}= 0, so ReLU\\('\\)(0) = 0
>>> print(text("columns inside the row (i < n)"))
\\text{columns inside the row (i }{<}\\text{ n)}
"""

from __future__ import annotations

import re

import sympy
from sympy.printing.latex import LatexPrinter

from symgrad.functions import TABLE, Named


class SymgradLatexPrinter(LatexPrinter):
    _default_settings = {**LatexPrinter._default_settings, "output_name": "y"}  # noqa: RUF012

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        """SymPy's ``cases``, its words ("for", "otherwise") in the current language."""
        from symgrad.i18n import tr

        rows = []
        for e, c in expr.args:
            if c == sympy.true:
                rows.append(rf"{self._print(e)} & {text(tr('otherwise'))}")
                continue
            before, _, after = tr("for {condition}").partition("{condition}")
            row = [text(before.strip()) + r"\:"] if before.strip() else []
            row.append(self._print(c))
            row += [r"\:" + text(after.strip())] if after.strip() else []
            rows.append(f"{self._print(e)} & {' '.join(row)}")
        body = r" \\".join(rows)
        return rf"\begin{{cases}} {body} \end{{cases}}"

    def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:
        if expr.name == "dout":
            name = self._settings["output_name"]
            name = rf"\mathrm{{{name}}}" if len(name) > 1 else name
            return rf"\frac{{\partial L}}{{\partial {name}}}"
        if re.fullmatch(r"mask\d*", expr.name):  # the engine's masks, not a user's "masked"
            return rf"\mathbb{{1}}[{text(expr.name)}]"
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
        if not isinstance(arg, sympy.MatrixSymbol) or inner.startswith(r"\frac"):
            inner = rf"\left({inner}\right)"  # a fraction's transpose, not its numerator's
        return rf"{inner}^{{\mathsf{{T}}}}"

    def _as_ordered_terms(self, expr: sympy.Expr, order: str | None = None) -> list:
        """Terms of a sum with the positive ones first: ``y_i - t_i``, not ``-t_i + y_i``."""
        terms = super()._as_ordered_terms(expr, order=order)
        if isinstance(expr, sympy.Add):
            terms = sorted(terms, key=lambda a: a.could_extract_minus_sign())
        return terms


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


# --- text inside LaTeX ---------------------------------------------------------------------------

#: What each character that LaTeX does not print as itself becomes: (in running text, in math).
#: Running text is pdflatex's default OT1 encoding, where ``<`` ``>`` ``|`` print as ``¡ ¿ —``;
#: ``None`` there means "as math" (the text ``\\$`` needs a bitmap font without cm-super).
#: The math column serves :func:`text`: KaTeX, GitHub's MathJax and pdflatex each show macros
#: inside ``\\text{...}`` their own way, so specials go outside it, as math.
SPECIALS: dict[str, tuple[str | None, str]] = {
    "\\": (r"\textbackslash{}", r"\backslash"),
    "{": (r"\{", r"\{"),
    "}": (r"\}", r"\}"),
    "&": (r"\&", r"\&"),
    "%": (r"\%", r"\%"),
    "#": (r"\#", r"\#"),
    "_": (r"\_", r"\_"),
    "$": (None, r"\$"),
    "~": (r"\textasciitilde{}", r"\sim"),
    "^": (r"\textasciicircum{}", r"\hat{}"),
    "<": (r"\textless{}", "<"),
    ">": (r"\textgreater{}", ">"),
    "|": (r"\textbar{}", r"\vert"),
    "…": (r"\ldots{}", r"\ldots"),
    "–": (r"\textendash{}", "-"),
    # the Unicode symbols symgrad writes in docs, conventions and labels: math everywhere
    "′": (None, "'"),
    "·": (None, r"\cdot"),
    "⋅": (None, r"\cdot"),
    "×": (None, r"\times"),
    "⊙": (None, r"\odot"),
    "−": (None, "-"),
    "±": (None, r"\pm"),
    "σ": (None, r"\sigma"),
    "α": (None, r"\alpha"),
    "β": (None, r"\beta"),
    "γ": (None, r"\gamma"),
    "δ": (None, r"\delta"),
    "ε": (None, r"\varepsilon"),
    "μ": (None, r"\mu"),
    "π": (None, r"\pi"),
    "Φ": (None, r"\Phi"),
    "³": (None, "^{3}"),
    "Σ": (None, r"\Sigma"),
    "∂": (None, r"\partial"),
    "√": (None, r"\surd"),
    "½": (None, r"\frac{1}{2}"),
    "²": (None, "^{2}"),
    "ᵀ": (None, r"^{\mathsf{T}}"),
    "°": (None, r"^{\circ}"),
    "≤": (None, r"\le"),
    "≥": (None, r"\ge"),
    "→": (None, r"\to"),
    "⟨": (None, r"\langle"),
    "⟩": (None, r"\rangle"),
}


def escape_text(s: str, in_math: bool = False) -> str:
    r"""``s`` as LaTeX text: the one escaping of text that symgrad puts in LaTeX.

    As running text (a paragraph, a table cell, a heading, for pdflatex), specials become text
    commands and symbols become ``\(...\)`` (never ``$``: two pieces side by side would make
    ``$$``). With ``in_math`` (a label inside a formula), the text
    becomes ``\text{...}`` pieces holding only letters, digits, spaces and plain punctuation, and
    every other character is math between them, so that KaTeX (strict), GitHub's MathJax and
    pdflatex show the same thing; in braces, so that ``<`` is spaced as the text around it, not
    as a relation.
    """
    pieces: list[tuple[bool, list[str]]] = []  # (is math, its parts), alternating
    for char in s:
        plain, math = _lookup(char)
        is_math = math is not None and (in_math or plain is None)
        part = (math if is_math else plain) or ""  # one of them is set
        if pieces and pieces[-1][0] == is_math:
            pieces[-1][1].append(part)
        else:
            pieces.append((is_math, [part]))
    out = []
    for is_math, parts in pieces:
        if is_math:
            out.append(f"{{{_join_math(parts)}}}" if in_math else rf"\({_join_math(parts)}\)")
        else:
            out.append(rf"\text{{{''.join(parts)}}}" if in_math else "".join(parts))
    return "".join(out)


def text(s: str) -> str:
    r"""``s`` as a label inside a formula: :func:`escape_text` with ``in_math``."""
    return escape_text(s, in_math=True)


# Japanese, Chinese and Korean text (the translations, symgrad.i18n) prints as itself: in a
# formula inside \text{}, where KaTeX renders these blocks (its "cjk" and "hangul" scripts) and
# xeCJK typesets them; pdflatex, which cannot, is used for the English document only.
CJK_BLOCKS = ((0x3000, 0x30FF), (0x4E00, 0x9FAF), (0xFF00, 0xFF60), (0xAC00, 0xD7AF))


def is_cjk(char: str) -> bool:
    """``char`` is in a block of Japanese, Chinese or Korean text that KaTeX typesets."""
    return any(lo <= ord(char) <= hi for lo, hi in CJK_BLOCKS)


def _lookup(char: str) -> tuple[str | None, str | None]:
    """(text form, math form) of ``char``; (``char``, None) for what prints as itself."""
    if char in SPECIALS:
        return SPECIALS[char]
    if char.isascii() and (char.isprintable() or char in "\n\t"):
        return char, None
    if is_cjk(char):
        return char, None
    raise ValueError(
        f"no LaTeX for {char!r} (U+{ord(char):04X}); add it to symgrad.latex_printer.SPECIALS"
    )


def _join_math(pieces: list[str]) -> str:
    """Adjacent math symbols: a superscript gets an empty base (``ᵀ²`` is not ``^T^2``), any
    other a space, so that a control word never runs into the next symbol."""
    out = pieces[0]
    for piece in pieces[1:]:
        out += ("{}" if piece.startswith("^") else " ") + piece
    return out
