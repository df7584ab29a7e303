"""``symgrad doc``: the catalog's derivations as a browsable book and a LaTeX document.

For every catalog layer ``derivations/<Layer>.md`` holds, in Markdown that GitHub renders with
``$$`` math: the forward definition, the step-by-step derivation, the backward in textbook
notation (with shapes for matrix layers), the generated code, the backward code rendered as
math by latexify-py (so the reader sees that the code they run is the formula they read), and
the verification verdict. ``derivations/README.md`` is the table of contents and
``derivations/symgrad.tex`` the same material as one LaTeX document, with the textbook's
computational-graph figures in TikZ. :func:`write` writes only these files, each atomically,
after all of them are rendered, and lists them in ``.symgrad-manifest`` (:mod:`symgrad.writing`);
it refuses a folder holding other files and no manifest.
"""

from __future__ import annotations

import ast
import linecache
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from symgrad.check import check_all
from symgrad.codegen import class_source
from symgrad.engine import derive
from symgrad.i18n import N_, current, language, tr
from symgrad.latex_printer import escape_text
from symgrad.writing import with_manifest, write_folder

COMMAND = "symgrad doc"
VERDICT = {True: N_("pass"), False: N_("FAIL")}
"""The verdict words, in English; translated where they are printed: ``tr(VERDICT[ok])``."""
SHOPPING = (
    "price = (apple*apple_num + orange*orange_num)*tax",
    ["apple=100", "apple_num=2", "orange=150", "orange_num=3", "tax=1.1"],
)
SIGMOID_GRAPH = ("y = 1/(1 + exp(-x))", ["x=0"])


def render(specs: Iterable[Any], lang: str | None = None) -> dict[str, str]:
    """Every file of the book, by relative path, its words in ``lang`` (default: the current
    language, :mod:`symgrad.i18n`)."""
    with language(lang):
        return _render(specs)


_checked: list[tuple[list[Any], list[Any]]] = []  # the last derivations checked, their rows


def _check_rows(derivations: list[Any]) -> dict[str, Any]:
    """The verification rows of ``derivations``, checked once for the book in every language:
    a row holds results and English keys, translated where they are printed. The derivations
    come from the engine's cache, so the same layers are the same objects."""
    if not (_checked and [id(d) for d in _checked[0][0]] == [id(d) for d in derivations]):
        _checked[:] = [(list(derivations), check_all(derivations))]
    return {r.layer: r for r in _checked[0][1]}


def _render(specs: Iterable[Any]) -> dict[str, str]:
    derivations = [derive(s) for s in specs]
    rows = _check_rows(derivations)
    figures = {d.name: index_figure(d) for d in derivations}
    files = {
        f"{d.name}.md": layer_page(d, rows[d.name], figures[d.name] is not None)
        for d in derivations
    }
    files |= {figure_name(d): figures[d.name] for d in derivations if figures[d.name]}
    files["README.md"] = index_page(derivations, rows)
    files["symgrad.tex"] = tex_document(derivations, rows)
    return files


# --- Markdown ------------------------------------------------------------------------------------


def index_figure(d: Any) -> str | None:
    """The SVG of a sliding window's index map (the book's im2col figure), if ``d`` has one."""
    from symgrad.index_figure import example_svg
    from symgrad.statements import Gather
    from symgrad.statements.gather import window_of

    if not any(isinstance(s, Gather) and window_of(s) for s in d.forward):
        return None
    return example_svg(d)


def figure_name(d: Any) -> str:
    return f"{d.name}-index-map.svg"


def layer_page(d: Any, row: Any, figure: bool = False) -> str:
    """A layer's page; ``figure``: its index map is drawn beside it (:func:`index_figure`)."""
    lines = [d.markdown().replace("## ", "# ", 1).rstrip("\n"), ""]
    if figure:
        lines += ["## " + tr("The index map"), ""]
        lines += [
            tr(
                "Which input cells one output cell's window reads (forward), and which output "
                "cells' gradients one input cell gathers (backward, from the derived gather), on "
                "a small example:"
            ),
            "",
            "![{alt}]({file})".format(
                alt=tr("index map of {layer}").format(layer=d.name), file=figure_name(d)
            ),
            "",
        ]
    lines += ["## " + tr("Generated code"), "", "```python", *class_source(d), "```", ""]
    math = code_as_math(d)
    if math:
        lines += ["## " + tr("The code as math"), ""]
        lines += [
            tr(
                "Each line of the generated code, rendered by latexify-py, below the formula it "
                "was printed from."
            ),
            "",
        ]
        forward = forward_as_math(d)
        if forward is not None:
            declared, tex = forward
            lines += [
                tr("Declared forward, `{output}`:").format(output=d.output.name),
                "",
                "$$",
                declared,
                "$$",
                "",
            ]
            if tex:
                lines += [tr("Forward code, as latexify-py reads it:"), "", "$$", tex, "$$", ""]
            else:
                lines += [tr("Forward code: {reason}.").format(reason=tr(_NOT_RENDERED)), ""]
        for (target, tex), derived in zip(math, _derived_tex(d)):
            lines += [tr("Derived, `{target}`:").format(target=target), "", "$$", derived, "$$", ""]
            if tex is _STAGED:  # checked first: the marker is a (true) string
                lines += [tr("Code: {reason}.").format(reason=tr(_STAGED)), ""]
            elif tex:
                lines += [tr("Code, as latexify-py reads it:"), "", "$$", tex, "$$", ""]
            else:
                lines += [tr("Code: {reason}.").format(reason=tr(_NOT_RENDERED)), ""]
    lines += ["## " + tr("Verification"), "", *verification_table(row), ""]
    return "\n".join(lines)


def verification_table(row: Any) -> list[str]:
    """The verification table of a layer's page, in Markdown (:func:`tex_section` reads its
    rows back): the symbolic verdict ``row.symbolic`` is one of :mod:`symgrad.check`'s words,
    translated here where it is printed."""
    agree = tr("agree") if row.forward is not None else tr("no hand-written layer")
    if row.forward is not None and row.passed is False and (row.forward or row.backward):
        agree = tr("disagree")
    rows = [
        (tr("check"), tr("result")),
        None,
        (tr("derived backward = the textbook's formula (symbolic proof)"), tr(row.symbolic)),
        (tr("generated = hand-written layer, forward and backward"), agree),
        (
            tr("generated backward = numerical gradient, random upstream gradient"),
            tr(VERDICT[row.numerical <= 1e-5]),
        ),
        (tr("verdict"), tr(VERDICT[row.passed])),
    ]
    return ["|---|---|" if r is None else f"| {r[0]} | {r[1]} |" for r in rows]


def index_page(derivations: list[Any], rows: dict[str, Any]) -> str:
    lines = [
        "# " + tr("symgrad: derived backpropagation"),
        "",
        # TRANSLATORS: one Markdown paragraph of the book's index page; its line breaks are
        # free (keep the `code` and the link as they are).
        tr(
            "Every backward formula here was derived by symgrad from the layer's forward "
            "definition,\nproven equal to the plain derivative, printed as NumPy code and "
            "verified. Regenerate\nwith `symgrad doc`; `symgrad doc --check` fails when these "
            "files are stale. The same\nmaterial as one LaTeX document: "
            "[symgrad.tex](symgrad.tex)."
        ),
        "",
        "| {layer} | {kind} | {backward} | {verified} |".format(
            layer=tr("layer"), kind=tr("kind"), backward=tr("backward"), verified=tr("verified")
        ),
        "|---|---|---|---|",
    ]
    for d in derivations:
        backward = "; ".join(f"`{_text(d, g)}`" for g in d.gradients)
        verdict = tr(VERDICT[rows[d.name].passed])
        lines.append(f"| [{d.name}]({d.name}.md) | {_kind(d)} | {backward} | {verdict} |")
    return "\n".join(lines) + "\n"


def _code(d: Any, g: Any) -> str:
    """The gradient as the generated code prints it (Markdown-table safe)."""
    from symgrad.codegen import class_slots, gradient_code

    return gradient_code(g, class_slots(d)).replace("|", "\\|")


def _text(d: Any, g: Any) -> str:
    """``d<x> = ...`` as the generated code prints it (Markdown-table safe)."""
    from symgrad.codegen import class_slots, gradient_text

    return gradient_text(g, class_slots(d)).replace("|", "\\|")


def _kind(d: Any) -> str:
    """What the layer's program is made of: ``map``, ``reduce + map``, ... (each statement
    kind is marked for translation in :data:`symgrad.render.KINDS`)."""
    return " + ".join(tr(k) for k in dict.fromkeys(s.kind for s in d.spec.statements))


_NOT_RENDERED = N_(
    "not rendered: latexify-py prints `@`, attributes and methods (`.T`, `.sum(axis=...)` as an "
    "empty sum, `.astype(...)`) wrongly and drops keyword arguments (`axes=`), so this line is "
    "shown as code only"
)
"""Why a line of code is not rendered as math (English; translated where it is printed)."""
_STAGED = N_(
    "not one line: the gradient reads an index map, which the generated code computes in "
    "stages (the window's gradient, then col2im or a scatter-add), shown above"
)
"""The marker :func:`code_as_math` returns (compared with ``is``) for a gradient computed in
stages, and why it is not rendered (English; translated where it is printed)."""


def code_as_math(d: Any) -> list[tuple[str, str | None]]:
    """(target, LaTeX by latexify) for each backward line; None where latexify would mislead,
    ``_STAGED`` where the gradient is no one line of code."""
    from symgrad.codegen import reads_index_map

    out = []
    for g in d.gradients:
        if reads_index_map(g):  # computed in stages by im2col/col2im: no one line to render
            out.append((g.name, _STAGED))
            continue
        code = _code(d, g).replace("\\|", "|")
        out.append((g.name, _latexify(g.name, code)))
    return out


def forward_as_math(d: Any) -> tuple[str, str] | None:
    """The declared forward and latexify's reading of the generated forward line, ``""`` where
    latexify would misprint it (one-map layers; the others compute with ``@`` and sums that
    latexify misprints)."""
    if not d.is_map:
        return None
    from symgrad.latex_printer import latex
    from symgrad.numpy_printer import numpy_code

    (statement,) = d.spec.statements
    computed = d.forward[-1]
    tex = _latexify(d.output.name, numpy_code(computed.body)) or ""  # "": not rendered
    return f"{latex(d.output.symbol)} = {latex(statement.body)}", tex


def _derived_tex(d: Any) -> list[str]:
    """The derived gradient of each input, as the derivation shows it."""
    import sympy

    from symgrad.tensor_printer import latex_tensor

    output = d.output.name
    stages = [g.wrt.name for g in d.stages]  # attention's dscores as ∂L/∂scores
    out = []
    for g in d.gradients:
        value = g.expr
        if d.is_map and g.local is not None:
            value = sympy.piecewise_fold(sympy.Symbol("dout") * g.local.local)
        lhs = latex_tensor(g.wrt.symbol, output)
        rhs = latex_tensor(value, output, stages)
        out.append(rf"\frac{{\partial L}}{{\partial {lhs}}} = {rhs}")
    return out


def _latexify(name: str, code: str) -> str | None:
    tree = ast.parse(code, mode="eval")
    misleading = any(
        (isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult))
        or (isinstance(n, ast.Call) and n.keywords)
        or (
            isinstance(n, ast.Attribute)
            and not (isinstance(n.value, ast.Name) and n.value.id == "np")
        )
        for n in ast.walk(tree)
    )
    if misleading:
        return None
    try:
        import latexify
    except ImportError:  # the dependency is skipped on Python >= 3.14
        return None
    args = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id != "np"})
    source = f"import numpy as np\n\n\ndef {name}({', '.join(args)}):\n    return {code}\n"
    filename = f"<symgrad-latexify-{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    return str(latexify.get_latex(namespace[name], use_math_symbols=True))


# --- LaTeX ---------------------------------------------------------------------------------------

# No \usepackage[T1]{fontenc}: without cm-super or lmodern (not among the TeX Live packages CI
# installs) T1 text comes out in bitmap fonts. In the default OT1 encoding escape_text prints
# < > | with the math fonts' glyphs, which look right.

_PREAMBLE = r"""%(engine)s\documentclass[11pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb}
%(cjk)s\usepackage{adjustbox}
\usepackage{xcolor}
\usepackage{tikz}
\usetikzlibrary{arrows.meta,positioning}
\title{%(title)s}
\author{%(author)s}
\date{}
\begin{document}
\maketitle
\tableofcontents
"""

# A translated document is set by xelatex with xeCJK and the Noto CJK fonts (Debian's
# fonts-noto-cjk), each language in its own glyph forms; Korean keeps the spaces between
# words, which xeCJK drops by default.
CJK_FONTS = {"ja": "JP", "zh": "SC", "ko": "KR"}
_CJK = r"""\usepackage{xeCJK}
\setCJKmainfont{Noto Serif CJK %(region)s}
\setCJKsansfont{Noto Sans CJK %(region)s}
\setCJKmonofont{Noto Sans Mono CJK %(region)s}
%(spaces)s\renewcommand{\contentsname}{%(contents)s}
"""


def tex_engine(lang: str) -> str:
    """The LaTeX engine that compiles the document in ``lang``."""
    return "pdflatex" if lang == "en" else "xelatex"


def _preamble() -> str:
    lang = current()
    title = escape_text(tr("symgrad: derived backpropagation"))
    author = tr("Generated by {command}; do not edit")
    before, _, after = author.partition("{command}")
    author = f"{escape_text(before)}\\texttt{{symgrad doc}}{escape_text(after)}"
    if lang == "en":
        return _PREAMBLE % {"engine": "", "cjk": "", "title": title, "author": author}
    cjk = _CJK % {
        "region": CJK_FONTS[lang],
        "spaces": "\\xeCJKsetup{CJKspace=true}\n" if lang == "ko" else "",
        "contents": escape_text(tr("Contents")),
    }
    engine = "% !TEX program = xelatex\n"
    return _PREAMBLE % {"engine": engine, "cjk": cjk, "title": title, "author": author}


def tex_document(derivations: list[Any], rows: dict[str, Any]) -> str:
    parts = [_preamble(), _figures_section()]
    for d in derivations:
        parts.append(tex_section(d, rows[d.name]))
    parts.append("\\end{document}\n")
    return "\n".join(parts)


def _figures_section() -> str:
    from symgrad.evaluation import evaluate_graph
    from symgrad.figures import graph_tikz

    title = escape_text(tr("Computational graphs"))
    lines = [f"\\section{{{title}}}", ""]
    for title, (expr, at) in (
        (tr("The textbook's shopping example"), SHOPPING),
        ("Sigmoid", SIGMOID_GRAPH),  # the function's name
    ):
        lines += [
            f"\\subsection*{{{escape_text(title)}}}",
            "",
            escape_text(tr("Forward values above each edge, gradients below (red).")),
            "",
        ]
        lines += ["\\begin{center}", "\\begin{adjustbox}{max width=\\linewidth}"]
        lines += [graph_tikz(evaluate_graph(expr, at)).strip()]
        lines += ["\\end{adjustbox}", "\\end{center}", ""]
    return "\n".join(lines)


BLOCK_ROWS = 20
"""The most rows of one ``aligned`` block in the book: a block cannot break across pages, so a
long derivation (multi-head attention's, 60 rows) is set as several, one after another."""


def aligned_blocks(latex: str, rows: int = BLOCK_ROWS) -> list[str]:
    """An ``aligned`` block cut into blocks of at most ``rows`` rows (a row that continues the
    one before it, ``&= ...``, stays with it)."""
    head, tail = "\\begin{aligned}\n", "\n\\end{aligned}"
    if not (latex.startswith(head) and latex.endswith(tail)):
        return [latex]
    blocks: list[list[str]] = [[]]
    for row in latex[len(head) : -len(tail)].split(" \\\\\n"):
        if len(blocks[-1]) >= rows and not row.startswith("&="):
            blocks.append([])
        blocks[-1].append(row)
    return [head + " \\\\\n".join(b) + tail for b in blocks]


def tex_section(d: Any, row: Any) -> str:
    code = [line for line in _without_docstring(class_source(d))]
    doc = tr(d.spec.doc) if d.spec.doc else ""
    lines = [f"\\section{{{escape_text(d.name)}}}", "", escape_text(doc), ""]
    for block in aligned_blocks(d.latex()):
        lines += ["\\begin{center}", "\\begin{adjustbox}{max width=\\linewidth}"]
        lines += ["$\\displaystyle " + block + "$", "\\end{adjustbox}", "\\end{center}", ""]
    for c in getattr(d, "conventions", ()):
        convention = tr("Convention: {convention}").format(convention=tr(c))
        lines += [f"\\noindent {escape_text(convention)}", ""]
    lines += [_paragraph(tr("Generated code")), "{\\footnotesize", "\\begin{verbatim}", *code]
    lines += ["\\end{verbatim}", "}", ""]
    math = [(t, m) for t, m in code_as_math(d) if m and m is not _STAGED]
    if math:
        lines += [_paragraph(tr("The code as math (latexify-py)")), ""]
        lines += [f"\\[ {m} \\]" for _, m in math] + [""]
    lines += [_paragraph(tr("Verification")), ""]
    lines += ["\\begin{tabular}{ll}"]
    for line in verification_table(row)[2:]:
        check, result = (cell.strip() for cell in line.strip("|").split("|"))
        lines += [f"{escape_text(check)} & {escape_text(result)} \\\\"]
    lines += ["\\end{tabular}", ""]
    return "\n".join(lines)


def _paragraph(title: str) -> str:
    """``\\paragraph{title}``, the title escaped as LaTeX text."""
    return f"\\paragraph{{{escape_text(title)}}}"


def _without_docstring(lines: list[str]) -> list[str]:
    out, inside = [], False
    for line in lines:
        quotes = line.count('"""')
        if inside or quotes:
            if quotes == 1:
                inside = not inside
            continue
        out.append(line)
    return out


# --- writing and checking ------------------------------------------------------------------------


def write(outdir: str | os.PathLike, files: dict[str, str]) -> None:
    """Write the book into ``outdir``, with its manifest, touching no other file there: every
    file is staged before any is replaced, so a failure never leaves a half-written book."""
    write_folder(outdir, files, COMMAND)


def stale(outdir: str | os.PathLike, files: dict[str, str]) -> list[str]:
    """The files of ``outdir`` that differ from ``files`` or its manifest (missing ones too)."""
    root = Path(outdir)
    out = []
    for name, text in with_manifest(files, COMMAND).items():
        path = root / name
        try:
            current = path.read_text(encoding="utf-8") if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            current = None
        if current != text:
            out.append(str(path))
    return out
