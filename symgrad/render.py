"""Rendering derivations: LaTeX (an ``aligned`` block), Markdown and plain text.

The step-by-step derivation follows the textbook: the forward expression is split into primitive
nodes (:mod:`symgrad.graph`), each with its local derivative, and the gradient is assembled from
the output back. For a chain of one-input nodes (sigmoid: ×(−1), exp, +1, 1/x) the local
derivatives are multiplied in one line, ``∂L/∂y·(−y²)·1·exp(−x)·(−1)``; other graphs show the
reverse sweep node by node. Each derivation ends in the engine's chosen form, marked as proven
equal to the plain derivative.
"""

from __future__ import annotations

import sympy

from symgrad.conventions import HEAVISIDE_AT_ZERO, TIES_SPLIT_EVENLY
from symgrad.engine import Derivation, Gradient
from symgrad.graph import Graph, Node
from symgrad.latex_printer import latex as _latex
from symgrad.latex_printer import text as _text
from symgrad.spec import dout
from symgrad.text_printer import for_display, text


def render(d: object, fmt: str) -> str:
    """``d`` as ``"latex"``, ``"text"`` or ``"markdown"``, whichever engine derived it."""
    renderers = {
        "Derivation": (derivation_latex, derivation_text, derivation_markdown),
        "MatrixDerivation": (matrix_latex, matrix_text, matrix_markdown),
        "RowDerivation": (row_latex, row_text, row_markdown),
    }[type(d).__name__]
    return dict(zip(("latex", "text", "markdown"), renderers))[fmt](d)


def derivation_latex(d: Derivation) -> str:
    """The whole derivation as one ``aligned`` block."""
    out = d.spec.output.name

    def tex(e: sympy.Basic) -> str:
        return _latex(e, out)

    rows = [rf"{tex(d.spec.output)} &= {tex(d.spec.forward)} && \text{{forward}}"]
    if len(d.graph.nodes) == 1:
        rows[0] = _node_row(d.graph.nodes[0], d.graph, tex)
    else:
        rows += [_node_row(n, d.graph, tex) for n in d.graph.nodes]
    for g in d.gradients:
        rows += _gradient_rows(d, g, tex)
    body = " \\\\\n".join(rows)
    return "\\begin{aligned}\n" + body + "\n\\end{aligned}"


def _partial(num: sympy.Symbol, den: sympy.Symbol, tex) -> str:
    return rf"\frac{{\partial {tex(num)}}}{{\partial {tex(den)}}}"


def _node_row(n: Node, graph: Graph, tex) -> str:
    local = ",\\ ".join(
        rf"{_partial(n.symbol, a, tex)} = {tex(g)}" for a, g in zip(n.args, n.local_grads)
    )
    return rf"{tex(n.symbol)} &= {tex(n.local)} && \text{{node }} {_op_tex(n.op)}:\ {local}"


_OPS = {"×": r"\times", "1/x": r"1/x", "+": "+", "√": r"\sqrt{\cdot}", "×(-1)": r"\times(-1)"}


def _op_tex(op: str) -> str:
    if op in _OPS:
        return _OPS[op]
    if op.startswith("×"):
        return r"\times" + op[1:]
    if op.startswith("x^"):
        return rf"x^{{{op[2:]}}}"
    if op[0] in "+-":
        return op
    return rf"\operatorname{{{op}}}"


def _gradient_rows(d: Derivation, g: Gradient, tex) -> list[str]:
    graph = d.graph
    lhs = rf"\frac{{\partial L}}{{\partial {tex(g.wrt)}}}"
    steps = _chain_steps(graph, g) if graph.is_chain and len(d.spec.inputs) == 1 else None
    rows: list[str] = []
    if steps is not None:
        product, collected = steps
        rows.append(rf"{lhs} &= {product} && \text{{local derivatives, multiplied from the back}}")
        if len(collected.args) > 2 and collected != g.expr:
            rows.append(rf"&= {tex(collected)}")
    else:
        adj = graph.adjoints(dout)
        for n in reversed(graph.nodes[:-1]):
            terms = _terms(graph, n.symbol, tex)
            rows.append(rf"{_lhs(n.symbol, tex)} &= {terms}")
        terms = _terms(graph, g.wrt, tex)
        rows.append(rf"{lhs} &= {terms} && \text{{sum over the paths from }} {tex(d.spec.output)}")
        collected = sympy.factor_terms(graph.in_inputs(adj.get(g.wrt, sympy.S.Zero)))
        if collected != g.expr and tex(collected) != terms:
            rows.append(rf"&= {tex(collected)}")
    final = _final_expr(d, g)
    note = r"\text{chosen form, proven equal}"
    if HEAVISIDE_AT_ZERO in d.conventions:
        note = r"\text{chosen form; derivative at the kink taken as } 0"
    elif TIES_SPLIT_EVENLY in d.conventions:
        note = r"\text{chosen form; a tie splits the gradient evenly}"
    rows.append(rf"&= {tex(final)} && {note}")
    return rows


def _final_expr(d: Derivation, g: Gradient) -> sympy.Expr:
    """The gradient with masks shown as their conditions, for reading."""
    return sympy.piecewise_fold(dout * g.local)


def _lhs(symbol: sympy.Symbol, tex) -> str:
    return rf"\frac{{\partial L}}{{\partial {tex(symbol)}}}"


def _terms(graph: Graph, symbol: sympy.Symbol, tex) -> str:
    """``Σ ∂L/∂parent · local`` for every node that uses ``symbol``."""
    parts = []
    for n in graph.nodes:
        for a, local in zip(n.args, n.local_grads):
            if a == symbol:
                upstream = tex(dout) if n.symbol == graph.output else _lhs(n.symbol, tex)
                parts.append(rf"{upstream} \cdot {_factor_tex(local, tex)}")
    return " + ".join(parts) or "0"


def _chain_steps(graph: Graph, g: Gradient) -> tuple[str, sympy.Expr] | None:
    """The textbook's product of local derivatives, and its collected value."""
    factors: list[sympy.Expr] = []
    symbol = graph.output
    while symbol != g.wrt:
        node = graph.node(symbol)
        local = node.local_grads[0]
        factors.append(
            local.xreplace(
                {
                    s: graph.node(s).value
                    for s in local.free_symbols
                    if s != graph.output and _is_node(graph, s)
                }
            )
        )
        symbol = node.args[0]
    output = graph.output.name
    product = r" \cdot ".join(
        [_latex(dout, output)] + [_factor_tex(f, lambda e: _latex(e, output)) for f in factors]
    )
    return product, sympy.Mul(dout, *factors)


def _is_node(graph: Graph, s: sympy.Symbol) -> bool:
    return any(n.symbol == s for n in graph.nodes)


def _factor_tex(e: sympy.Expr, tex) -> str:
    text = tex(e)
    if isinstance(e, (sympy.Add, sympy.Piecewise)) or (e.could_extract_minus_sign() and e != -1):
        return rf"\left({text}\right)"
    if e == -1:
        return r"\left(-1\right)"
    return text


# --- Markdown and text --------------------------------------------------------------------------


def derivation_markdown(d: Derivation, level: int = 2) -> str:
    """Markdown for GitHub: the forward, the derivation, the result, the forms considered."""
    out = d.spec.output.name
    h = "#" * level
    lines = [f"{h} {d.name}", ""]
    if d.spec.doc:
        lines += [d.spec.doc, ""]
    lines += ["$$", d.latex(), "$$", ""]
    lines += [f"{h}# Backward", ""]
    for g in d.gradients:
        lhs = rf"\frac{{\partial L}}{{\partial {_latex(g.wrt, out)}}}"
        lines += [f"- ${lhs} = {_latex(_final_expr(d, g), out)}$"]
    saved = ", ".join(f"`{s}`" for s in d.saved) or "nothing"
    lines += [f"- `forward` saves: {saved}"]
    lines += [f"- Convention: {c}" for c in d.conventions]
    lines += [
        "",
        f"{h}# Forms considered",
        "",
        "| input | form | cost | accurate in float64 | proven equal |",
        "|---|---|---|---|---|",
    ]
    for g in d.gradients:
        for c in g.considered:
            proven = {True: "yes", False: "no", None: "not needed"}[c.proven]
            accurate = "yes" if c.accurate else "no"
            form = _latex(c.expr, out)
            lines.append(f"| `{g.wrt}` | ${form}$ | {c.cost} | {accurate} | {proven} |")
    return "\n".join(lines) + "\n"


def derivation_text(d: Derivation) -> str:
    """Plain text: SymPy's pretty printer for the formulas, one aligned row per node."""

    def pretty(e: sympy.Basic) -> str:
        return sympy.pretty(for_display(e), use_unicode=True)

    out = [f"{d.name}: {d.spec.doc}".rstrip(": "), "", "forward:"]
    out += _indent(pretty(sympy.Eq(d.spec.output, d.spec.forward, evaluate=False)))
    out += ["", "nodes (local derivatives):"]
    rows = [
        (
            str(n.symbol),
            f"= {text(n.local)}",
            f"[{n.op}]",
            ", ".join(f"∂{n.symbol}/∂{a} = {text(g)}" for a, g in zip(n.args, n.local_grads)),
        )
        for n in d.graph.nodes
    ]
    out += ["  " + row for row in columns(rows)]
    out += ["", "backward (∂L/∂input, with dout = ∂L/∂" + d.spec.output.name + "):"]
    for g in d.gradients:
        out += _indent(pretty(sympy.Eq(sympy.Symbol(g.name), _final_expr(d, g), evaluate=False)))
        count = len(g.considered)
        out.append(
            f"  chosen from {count} form{'s' if count != 1 else ''} ({g.origin}); "
            "proven equal to the plain derivative"
        )
    saves = ", ".join(f"{s} = {text(e)}" for s, e in d.saved.items()) or "nothing"
    out += ["", f"forward saves: {saves}"]
    if d.domain:
        out += [f"domain: {d.domain} (outside it the forward is nan or inf, as NumPy's is)"]
    if d.accuracy is not None:
        out += [f"accuracy: {d.accuracy.text()}"]
    out += [f"convention: {c}" for c in d.conventions]
    return "\n".join(out) + "\n"


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells, each column as wide as its widest cell."""
    if not rows:
        return []
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def _indent(block: str) -> list[str]:
    return ["  " + row for row in block.splitlines()]


# --- matrix layers --------------------------------------------------------------------------------


def _shape_tex(shape: tuple, tex) -> str:
    return r" \times ".join(tex(s) for s in shape)


def _under(e: sympy.Basic, tex) -> str:
    return rf"\underbrace{{{tex(e)}}}_{{{_shape_tex(e.shape, tex)}}}"


def _annotated(e: sympy.MatrixExpr, tex) -> str:
    """A matrix formula with the shape of every factor written under it."""
    if isinstance(e, sympy.MatMul):
        return r"\,".join(_under(a, tex) for a in e.args)
    if isinstance(e, sympy.MatAdd):
        return " + ".join(_annotated(a, tex) for a in e.args)
    return _under(e, tex)


def matrix_latex(d) -> str:
    """Forward, the trace identity, and each gradient with the shapes of its factors."""
    spec = d.spec

    def tex(e: sympy.Basic) -> str:
        return _latex(e, "Y")

    dy = r"\frac{\partial L}{\partial Y}"
    rows = [rf"{_under(spec.output, tex)} &= {_annotated(spec.forward, tex)} && \text{{forward}}"]
    rows.append(
        rf"L &= \operatorname{{tr}}\left(\left({dy}\right)^{{\mathsf{{T}}}} Y\right)"
        r" && \text{the backward as a scalar: } \frac{\partial L}{\partial V} = "
        r"\frac{\partial}{\partial V} \operatorname{tr}(\cdot)"
    )
    for g in d.gradients:
        shape = _shape_tex(g.wrt.shape, tex)
        lhs = rf"\underbrace{{\frac{{\partial L}}{{\partial {tex(g.wrt)}}}}}_{{{shape}}}"
        note = rf"\text{{shape of }} {tex(g.wrt)}"
        if isinstance(g.expr, sympy.MatMul) and any(
            isinstance(a, sympy.OneMatrix) for a in g.expr.args
        ):
            rows.append(rf"{lhs} &= {_annotated(g.expr, tex)} && {note}")
            rows.append(
                rf"&= \sum_{{n=1}}^{{N}} \left({dy}\right)_{{n,:}}^{{\mathsf{{T}}}}"
                rf" && {tex(g.wrt)}\ "
                + _text("is added to every row, so its gradient sums over the batch")
            )
        else:
            rows.append(rf"{lhs} &= {_annotated(g.expr, tex)} && {note}")
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _sizes_text(d) -> str:
    return "; ".join(", ".join(f"{s}={v}" for s, v in sizes.items()) for sizes in d.checked_sizes)


def matrix_markdown(d, level: int = 2) -> str:
    h = "#" * level
    lines = [f"{h} {d.name}", "", d.spec.doc, "", "$$", d.latex(), "$$", ""]
    lines += [f"{h}# Backward", ""]
    for g in d.gradients:
        lines.append(
            f"- $\\frac{{\\partial L}}{{\\partial {_latex(g.wrt, 'Y')}}} = {_latex(g.expr, 'Y')}$"
        )
    lines += [f"- Cross-checked against elementwise differentiation at {_sizes_text(d)}."]
    return "\n".join(lines) + "\n"


def matrix_text(d) -> str:
    spec = d.spec
    out = [f"{d.name}: {spec.doc}", "", f"forward: {spec.output} = {text(spec.forward)}", ""]
    out += [f"backward (L = tr(doutᵀ·{spec.output}), dout = ∂L/∂{spec.output}):"]
    rows = [
        (f"{g.name} = {text(g.expr)}", f"shape {_numpy_shape(g.wrt.shape)}") for g in d.gradients
    ]
    out += ["  " + row for row in columns(rows)]
    out += ["", f"cross-checked elementwise at {_sizes_text(d)}"]
    return "\n".join(out) + "\n"


def _numpy_shape(shape: tuple) -> str:
    """A column vector (M, 1) is an array of shape (M,) in NumPy, as the bias is."""
    dims = [str(s) for s in shape]
    if len(dims) == 2 and dims[1] == "1":
        return f"({dims[0]},)"
    return f"({', '.join(dims)})"


# --- row-wise layers and losses -------------------------------------------------------------


def row_latex(d) -> str:
    """The indexed-sum derivation, step by step, ending in the vectorised formula."""
    spec = d.spec
    out = "loss" if spec.is_loss else "y"

    def tex(e: sympy.Basic) -> str:
        return _latex(e, out)

    x = spec.inputs[0]
    i = sympy.Symbol("i", integer=True, nonnegative=True)
    head = r"\ell" if spec.is_loss else rf"{tex(spec.output)}_{{i}}"
    note = r"\text{loss of one row}" if spec.is_loss else r"\text{forward, for each row}"
    rows = [rf"{head} &= {tex(spec.forward)} && {note}"]
    lhs = (
        rf"\frac{{\partial \ell}}{{\partial {tex(x)}_{{i}}}}"
        if spec.is_loss
        else rf"\frac{{\partial L}}{{\partial {tex(x)}_{{i}}}}"
    )
    g = d.gradients[0]
    for k_, (label, e) in enumerate(g.steps[1:]):
        start = f"{lhs} &=" if k_ == 0 else "&="
        rows.append(rf"{start} {tex(e)} && {_text(label)}")
    checked = ", ".join(map(str, d.checked_n))
    if spec.is_loss:
        rows.append(
            rf"\frac{{\partial L}}{{\partial {tex(x)}}} &= {tex(g.expr)}"
            rf" && \text{{mean over the N rows; checked at }} n = {checked}"
        )
    elif g.expr != g.steps[-1][1]:
        rows.append(rf"&= {tex(g.expr)} && \text{{checked elementwise at }} n = {checked}")
    else:
        rows[-1] += rf",\ \text{{checked elementwise at }} n = {checked}"
    del i
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def row_markdown(d, level: int = 2) -> str:
    h = "#" * level
    lines = [f"{h} {d.name}", "", d.spec.doc, "", "$$", d.latex(), "$$", ""]
    lines += [f"{h}# Backward", ""]
    out = "loss" if d.spec.is_loss else "y"
    for g in d.gradients:
        lines.append(f"- $\\frac{{\\partial L}}{{\\partial {g.wrt}}} = {_latex(g.expr, out)}$")
    if d.shift_invariant:
        lines.append("- The forward is unchanged by adding a constant to a row (proven), so the")
        lines.append("  generated code subtracts the row maximum first and `exp` cannot overflow.")
    return "\n".join(lines) + "\n"


def row_text(d) -> str:
    g = d.gradients[0]
    forward = text(d.spec.forward)
    out = [f"{d.name}: {d.spec.doc}", "", f"forward (one row): {forward}", "", "steps:"]
    out += [f"  {label}: {text(e)}" for label, e in g.steps]
    out += ["", f"backward: {g.name} = {text(g.expr)}"]
    saves = ", ".join(f"{s}[i] = {text(e)}" for s, e in d.saved.items()) or "nothing"
    out += [f"forward saves: {saves}"]
    out += [f"checked elementwise at n = {', '.join(map(str, d.checked_n))}"]
    return "\n".join(out) + "\n"
