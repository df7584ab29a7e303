"""Rendering derivations: LaTeX (an ``aligned`` block), Markdown and plain text.

One renderer for every layer, following the textbook. A layer of one elementwise map (sigmoid)
is shown as the book draws it: the forward split into primitive nodes (:mod:`symgrad.graph`),
each with its local derivative, the gradient assembled from the output back; for a chain of
one-input nodes (×(−1), exp, +1, 1/x) the local derivatives are multiplied in one line,
``∂L/∂y·(−y²)·1·exp(−x)·(−1)``. Any other layer (BatchNorm, Affine, a loss) is shown as its
program: each forward statement with its shape (the computational graph, one node per
statement), each statement's local derivatives, the staged backward node by node from the
output back (``∂L/∂x̂ = ∂L/∂y·γ``), and each gradient's compact form, proven equal, with the
facts it used (``Σ_n x̂ = 0``). Every derivation ends in the form the generated code computes.
"""

from __future__ import annotations

import string

import sympy

from symgrad.conventions import HEAVISIDE_AT_ZERO, TIES_SPLIT_EVENLY
from symgrad.engine import PARTLY_PROVEN_BY_IDENTITY_TEST, Derivation
from symgrad.graph import Graph, Node
from symgrad.i18n import N_, columns, tr, tr_filled, tr_n
from symgrad.latex_printer import latex as _latex
from symgrad.latex_printer import text as _text
from symgrad.local import ORIGINS, Gradient, MapDerivation
from symgrad.statements import Map, Reduce, Statement
from symgrad.tensor_algebra import rsum
from symgrad.tensor_printer import latex_tensor, text_tensor
from symgrad.tensors import ELLIPSIS, Tensor, axis_size, dout
from symgrad.text_printer import for_display, text
from symgrad.text_printer import pretty as pretty_text

# The statement kinds (symgrad.statements), as the forward's rows name them.
KINDS = {
    "map": N_("map"),
    "contract": N_("contract"),
    "gather": N_("gather"),
    "reduce": N_("reduce"),
    "first_max": N_("first_max"),
}


def render(d: Derivation, fmt: str) -> str:
    """``d`` as ``"latex"``, ``"text"`` or ``"markdown"``."""
    chain = _chain_view(d)
    if fmt == "latex":
        return map_latex(chain) if chain else program_latex(d)
    if fmt == "text":
        return map_text(d, chain) if chain else program_text(d)
    if fmt == "markdown":
        return map_markdown(d, chain) if chain else program_markdown(d)
    raise ValueError(f"unknown format {fmt!r}; known: latex, text, markdown")


def _chain_view(d: Derivation) -> MapDerivation | None:
    """The map machinery's record of a one-map layer (shown node by node), else None."""
    if not d.is_map or d.graph is None:
        return None
    (_, m), *_ = d.maps
    return m


def map_latex(d: MapDerivation) -> str:
    """The whole derivation as one ``aligned`` block."""
    out = d.spec.output.name

    def tex(e: sympy.Basic) -> str:
        return _latex(e, out)

    rows = [rf"{tex(d.spec.output)} &= {tex(d.spec.forward)} && {_text(tr('forward'))}"]
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
    node = _text(tr("node") + " ")
    return rf"{tex(n.symbol)} &= {tex(n.local)} && {node} {_op_tex(n.op)}:\ {local}"


_OPS = {"×": r"\times", "1/x": r"1/x", "+": "+", "√": r"\sqrt{\cdot}", "×(-1)": r"\times(-1)"}


def _op_tex(op: str) -> str:
    if op in _OPS:
        return _OPS[op]
    if op.startswith("×"):
        rest = op[1:]
        return r"\times" + (
            rest
            if rest.lstrip("-+(").isdigit() or (rest.startswith("(") and rest[1:2].isdigit())
            else r"\," + _text(rest)
        )
    if op.startswith("x^"):
        return rf"x^{{{op[2:]}}}"
    if op[0] in "+-":
        return op
    return rf"\operatorname{{{op}}}"


def _gradient_rows(d: MapDerivation, g: Gradient, tex) -> list[str]:
    graph = d.graph
    lhs = rf"\frac{{\partial L}}{{\partial {tex(g.wrt)}}}"
    steps = _chain_steps(graph, g) if graph.is_chain and len(d.spec.inputs) == 1 else None
    rows: list[str] = []
    if steps is not None:
        product, collected = steps
        note = _text(tr("local derivatives, multiplied from the back"))
        rows.append(rf"{lhs} &= {product} && {note}")
        if len(collected.args) > 2 and collected != g.expr:
            rows.append(rf"&= {tex(collected)}")
    else:
        adj = graph.adjoints(dout)
        for n in reversed(graph.nodes[:-1]):
            terms = _terms(graph, n.symbol, tex)
            rows.append(rf"{_lhs(n.symbol, tex)} &= {terms}")
        terms = _terms(graph, g.wrt, tex)
        note = tex_label(tr("sum over the paths from {output}"), output=tex(d.spec.output))
        rows.append(rf"{lhs} &= {terms} && {note}")
        collected = sympy.factor_terms(graph.in_inputs(adj.get(g.wrt, sympy.S.Zero)))
        if collected != g.expr and tex(collected) != terms:
            rows.append(rf"&= {tex(collected)}")
    final = _final_expr(d, g)
    note = _text(tr("chosen form, proven equal"))
    if HEAVISIDE_AT_ZERO in d.conventions:
        note = tex_label(tr("chosen form; derivative at the kink taken as {zero}"), zero="0")
    elif TIES_SPLIT_EVENLY in d.conventions:
        note = _text(tr("chosen form; a tie splits the gradient evenly"))
    rows.append(rf"&= {tex(final)} && {note}")
    return rows


def tex_label(template: str, **math: str) -> str:
    r"""A translated label with math in it: the text of ``template`` escaped as a formula's
    text (:func:`symgrad.latex_printer.text`), each ``{name}`` replaced by ``math[name]``, a
    LaTeX fragment, set off by a space.

    >>> tex_label("sum over the paths from {output}", output="y")
    '\\text{sum over the paths from } y'
    """
    pieces = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        if literal:
            pieces.append(_text(literal))
        if field is not None:
            pieces.append(math[field])
    return " ".join(pieces)


def _final_expr(d: MapDerivation, g: Gradient) -> sympy.Expr:
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


def map_markdown(layer: Derivation, d: MapDerivation, level: int = 2) -> str:
    """Markdown for GitHub: the forward, the derivation, the result, the forms considered."""
    out = d.spec.output.name
    h = "#" * level
    lines = [f"{h} {layer.name}", ""]
    if layer.spec.doc:
        lines += [tr(layer.spec.doc), ""]
    lines += ["$$", map_latex(d), "$$", ""]
    lines += [f"{h}# " + tr("Backward"), ""]
    for g in d.gradients:
        lhs = rf"\frac{{\partial L}}{{\partial {_latex(g.wrt, out)}}}"
        lines += [f"- ${lhs} = {_latex(_final_expr(d, g), out)}$"]
    lines += _saves_and_conventions(layer.saved, d.conventions)
    header = (tr("input"), tr("form"), tr("cost"), tr("accurate in float64"), tr("proven equal"))
    lines += [
        "",
        f"{h}# " + tr("Forms considered"),
        "",
        tr(
            "Cost: passes over memory of the NumPy code, each operation weighted by what it was "
            "measured to cost (`symgrad.ufunc_costs`: a multiply 1, `np.exp` 3)."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|---|---|---|---|---|",
    ]
    for g in d.gradients:
        for c in g.considered:
            proven = {True: tr("yes"), False: tr("no"), None: tr("not needed")}[c.proven]
            accurate = tr("yes") if c.accurate else tr("no")
            form = _latex(c.expr, out)
            lines.append(f"| `{g.wrt}` | ${form}$ | {c.cost} | {accurate} | {proven} |")
    return "\n".join(lines) + "\n"


def _saves_and_conventions(saved: tuple, conventions: tuple[str, ...]) -> list[str]:
    """The Markdown list items naming what ``forward`` saves and each convention used."""
    names = ", ".join(f"`{s.name}`" for s in saved) or tr("nothing")
    lines = [tr("- `forward` saves: {names}").format(names=names)]
    return lines + [tr("- Convention: {convention}").format(convention=tr(c)) for c in conventions]


def _doc_line(name: str, doc: str) -> str:
    """``Name: its one-line description``, or the name alone."""
    return f"{name}: {tr(doc)}" if doc else name


def map_text(layer: Derivation, d: MapDerivation) -> str:
    """Plain text: SymPy's pretty printer for the formulas, one aligned row per node."""

    def pretty(e: sympy.Basic) -> str:
        return pretty_text(for_display(e))

    out = [_doc_line(layer.name, layer.spec.doc), "", tr("forward:")]
    out += _indent(pretty(sympy.Eq(d.spec.output, d.spec.forward, evaluate=False)))
    out += ["", tr("nodes (local derivatives):")]
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
    out += ["", tr("backward (∂L/∂input, with dout = ∂L/∂{output}):").format(output=d.spec.output)]
    for g in d.gradients:
        out += _indent(pretty(sympy.Eq(sympy.Symbol(g.name), _final_expr(d, g), evaluate=False)))
        count = len(g.considered)
        chosen = tr_n(
            "chosen from {count} form ({origin}); proven equal to the plain derivative",
            "chosen from {count} forms ({origin}); proven equal to the plain derivative",
            count,
        )
        out.append("  " + chosen.format(count=count, origin=tr_filled(g.origin, *ORIGINS)))
    saves = ", ".join(f"{s} = {text(e)}" for s, e in d.saved.items()) or tr("nothing")
    out += ["", tr("forward saves: {saves}").format(saves=saves)]
    out += _domain_line(d.domain)
    if d.accuracy is not None:
        out += [tr("accuracy: {accuracy}").format(accuracy=d.accuracy.text())]
    out += _convention_lines(d.conventions)
    return "\n".join(out) + "\n"


def _domain_line(domain: str) -> list[str]:
    """The plain-text line stating the forward's domain, if it has one."""
    if not domain:
        return []
    sentence = tr("domain: {domain} (outside it the forward is nan or inf, as NumPy's is)")
    return [sentence.format(domain=domain)]


def _convention_lines(conventions: tuple[str, ...]) -> list[str]:
    return [tr("convention: {convention}").format(convention=tr(c)) for c in conventions]


def _indent(block: str) -> list[str]:
    return ["  " + row for row in block.splitlines()]


# --- programs: BatchNorm, Affine, losses, any layer of several statements ---------------------


def _shape(t: Tensor) -> str:
    """A tensor's shape in axis sizes: ``(N, D)``; ``(…, D)`` over the ``...`` group."""
    dims = ["…" if a == ELLIPSIS else axis_size(a).name for a in t.axes]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})" if dims else tr("scalar")


def _indexed(t: Tensor, tex) -> str:
    name = tex(t.symbol) if t.name != "dout" else tex(dout)
    axes = [r"\ldots" if a == ELLIPSIS else a for a in t.axes]
    return f"{{{name}}}_{{{', '.join(axes)}}}" if axes else name


def _statement_tex(s: Statement, tex) -> str:
    body = s.body
    if isinstance(s, Reduce) and s.op == "max":
        below = ", ".join(s.summed)
        return rf"\max_{{{below}}} {tex(body)}"
    return tex(s.value_for_display()) if hasattr(s, "value_for_display") else tex(_value(s))


def _value(s: Statement) -> sympy.Expr:
    from symgrad.tensor_algebra import Scope

    if isinstance(s, Map):
        return s.body
    return s.value(Scope.of([*s.operands, s.target]))


def _values(d: Derivation) -> list[str]:
    return [s.target.name for s in d.spec.statements]


def program_latex(d: Derivation) -> str:
    """The program's derivation as one ``aligned`` block (see the module docstring)."""
    out = d.output.name
    grads = [*_values(d), *(t.name for t in d.spec.differentiable)]

    def tex(e: sympy.Basic) -> str:
        return latex_tensor(e, out, grads)

    rows = []
    for s in d.spec.statements:
        rows.append(
            rf"{_indexed(s.target, tex)} &= {_statement_tex(s, tex)}"
            rf" && {_text(_forward_note(s))}"
        )
    locals_ = {}
    for step in d.backward.steps:
        locals_.setdefault((step.statement.target.name, step.operand.name), step.local)
    for (target, operand), local in locals_.items():
        if local == 1 or local.has(sympy.Function("rmax")):
            continue
        num, den = sympy.Symbol(target), sympy.Symbol(operand)
        note = _text(tr("local derivative"))
        rows.append(
            rf"\frac{{\partial {tex(num)}}}{{\partial {tex(den)}}} &= {tex(local)} && {note}"
        )
    for name, tensor in _staged_order(d):
        staged = d.backward.gradients.get(name)
        if staged is None:
            continue
        note = _text(tr("staged backward, shape {shape}").format(shape=_shape(tensor)))
        rows.append(
            rf"\frac{{\partial L}}{{\partial {tex(tensor.symbol)}}} &= {tex(staged)} && {note}"
        )
    for g in (*d.stages, *d.gradients):
        lhs = rf"\frac{{\partial L}}{{\partial {tex(g.wrt.symbol)}}}"
        rows.append(rf"{lhs} &= {tex(g.expr)} && {_text(_gradient_note(d, g))}")
        product = matrix_product(d, g.expr, g.wrt.axes)
        if product is not None:
            factors = r"\,".join(_under(t, flip, tex) for t, flip in product)
            scale = _scale(g.expr)
            if scale != 1:
                factors = rf"{tex(scale)}\,{factors}"
            note = _text(tr("as a matrix product, shape under each factor"))
            rows.append(rf"&= {factors} && {note}")
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _forward_note(s: Statement) -> str:
    kind = tr(KINDS.get(s.kind, s.kind))
    return tr("forward, {kind}; shape {shape}").format(kind=kind, shape=_shape(s.target))


def _gradient_note(d: Derivation, g: Gradient) -> str:
    """What the row of a compact gradient says of it: proven, the facts it used, its shape."""
    note = tr("compact form, proven equal")
    if g in d.stages:
        note = tr("kept by name: a matrix product reads it")
    if g.facts:
        note = tr("{note} (using {facts})").format(note=note, facts="; ".join(g.facts))
    parts = [note]
    if TIES_SPLIT_EVENLY in d.conventions:
        parts.append(tr("a tie splits the gradient evenly"))
    summed = g.expr.axes if isinstance(g.expr, rsum) else ()
    spread = [a for a in summed if a not in g.wrt.axes and a != ELLIPSIS]
    if g.wrt.role == "param" and spread:
        sentence = tr_n(
            "{name} is the same along {axes}, so its gradient sums over it",
            "{name} is the same along {axes}, so its gradient sums over them",
            len(spread),
        )
        parts.append(sentence.format(name=g.wrt.name, axes=", ".join(spread)))
    parts.append(tr("shape {shape}").format(shape=_shape(g.wrt)))
    return "; ".join(parts)


def matrix_product(
    d: Derivation, expr: sympy.Expr, target: tuple[str, ...]
) -> list[tuple[Tensor, bool]] | None:
    """``Σ_k a·b`` of two matrices as the product it is: ``[(a, transposed), (b, transposed)]``
    ordered so that the result has ``target``'s axes (``dout @ Wᵀ``), else None."""
    expr = expr / _scale(expr)  # Σ_s dscores·k / √E: the product, then the number
    batch = target[:1] if target[:1] == (ELLIPSIS,) else ()  # a product per leading index
    target = target[len(batch) :]
    if not isinstance(expr, rsum) or len(expr.axes) != 1 or len(target) != 2:
        return None
    tensors = {t.name: t for t in (*d.spec.tensors, *(s.target for s in d.forward))}
    tensors["dout"] = Tensor("dout", d.output.axes)
    tensors |= {st.name: Tensor(st.name, st.wrt.axes) for st in d.stages}
    factors = sympy.Mul.make_args(expr.body)
    if len(factors) != 2 or not all(f.is_Symbol and f.name in tensors for f in factors):
        return None
    a, b = (tensors[f.name] for f in factors)
    if a.axes[: len(batch)] != batch or b.axes[: len(batch)] != batch:
        return None
    (k,) = expr.axes
    ia, ib = a.axes[len(batch) :], b.axes[len(batch) :]
    if len(ia) != 2 or len(ib) != 2 or k not in ia or k not in ib:
        return None
    if target[0] not in ia:
        a, b, ia, ib = b, a, ib, ia
    if target[0] not in ia or target[1] not in ib:
        return None
    return [(a, ia[1] != k), (b, ib[0] != k)]


def _scale(expr: sympy.Expr) -> sympy.Expr:
    """The factor of ``expr`` that is no tensor (``1/√E`` in ``Σ_s dscores·k/√E``), else 1."""
    if not expr.is_Mul:
        return sympy.S.One
    return sympy.Mul(*(f for f in expr.args if not f.has(rsum) and not _reads_tensor(f)))


def _reads_tensor(e: sympy.Expr) -> bool:
    return any(not (s.is_integer and s.is_positive) for s in e.free_symbols)


def _under(t: Tensor, flip: bool, tex) -> str:
    """A matrix factor with its shape written under it: ``W^T`` over ``M × D``."""
    transpose = r"^{\mathsf{T}}" if flip else ""
    body = tex(t.symbol)
    if flip and body.startswith(r"\frac"):  # (∂L/∂s)ᵀ, not ∂L/∂sᵀ
        body = rf"\left({body}\right)"
    return rf"\underbrace{{{body}{transpose}}}_{{{_dims(t, flip)}}}"


def _dims(t: Tensor, flip: bool) -> str:
    """``M × D`` (``D × M`` transposed); a leading ``...`` group stays first: ``B × S × T``."""
    dims = [axis_size(a).name for a in t.axes]
    batch = dims[:-2]
    return r" \times ".join([*batch, *(reversed(dims[-2:]) if flip else dims[-2:])])


def _staged_order(d: Derivation) -> list[tuple[str, Tensor]]:
    """The values from the output back, then nothing else: the node-by-node sweep."""
    out = []
    for s in reversed(d.spec.statements[:-1]):
        out.append((s.target.name, s.target))
    return out


def program_markdown(d: Derivation, level: int = 2) -> str:
    """Markdown for GitHub: the derivation, then the backward as the generated code computes it."""
    h = "#" * level
    out = d.output.name
    lines = [f"{h} {d.name}", ""]
    if d.spec.doc:
        lines += [tr(d.spec.doc), ""]
    lines += ["$$", program_latex(d), "$$", ""]
    lines += [f"{h}# " + tr("Backward"), ""]
    stages = [g.wrt.name for g in d.stages]  # dp as ∂L/∂p
    for g in (*d.stages, *d.gradients):
        lhs = rf"\frac{{\partial L}}{{\partial {latex_tensor(g.wrt.symbol, out)}}}"
        rhs = latex_tensor(g.expr, out, stages)
        shape = tr("(shape {shape})").format(shape=_shape(g.wrt))
        lines += [f"- ${lhs} = {rhs}$ {shape}"]
    lines += _saves_and_conventions(d.saved, d.conventions)
    for x, axis in d.shifts:
        sentence = tr(
            "- The layer is unchanged by adding a constant to `{x}` along `{axis}` (proven), "
            "so the generated code subtracts the maximum first and `exp` cannot overflow."
        )
        lines.append(sentence.format(x=x, axis=axis))
    sentence = tr("- Checked against plain differentiation at {sizes}.")
    lines += [sentence.format(sizes=_checks(d))]
    return "\n".join(lines) + "\n"


def _checks(d: Derivation) -> str:
    """Each size the check ran at, with how it went there."""
    how = d.how_checked or ("",) * len(d.checked)
    return "; ".join(
        ", ".join(f"{a}={v}" for a, v in c.items())
        + (f" ({tr_filled(h, PARTLY_PROVEN_BY_IDENTITY_TEST)})" if h else "")
        for c, h in zip(d.checked, how)
    )


def program_text(d: Derivation) -> str:
    """Plain text: the statements, the staged backward, the compact gradients."""
    out = [_doc_line(d.name, d.spec.doc), "", tr("forward:")]
    rows = [
        (repr(s.target), f"= {_statement_text(s)}", _shape(s.target)) for s in d.spec.statements
    ]
    out += ["  " + row for row in columns(rows)]
    staged_title = tr("staged backward (dout = ∂L/∂{output}), from the output back:")
    out += ["", staged_title.format(output=d.output.name)]
    rows = []
    for name, tensor in _staged_order(d):
        staged = d.backward.gradients.get(name)
        if staged is not None:
            rows.append((f"d{name}", f"= {text_tensor(staged)}", _shape(tensor)))
    out += ["  " + row for row in columns(rows)] if rows else ["  " + tr("(one step from dout)")]
    out += ["", tr("backward (compact, proven equal to plain differentiation):")]
    if d.stages:
        kept = ", ".join(g.name for g in d.stages)
        sentence = tr("({names} kept by name: the matrix products after them read them)")
        out.append("  " + sentence.format(names=kept))
    rows = []
    for g in (*d.stages, *d.gradients):
        rows.append((g.name, f"= {text_tensor(g.expr)}", _shape(g.wrt)))
        product = matrix_product(d, g.expr, g.wrt.axes)
        if product is not None:
            as_matrices = " @ ".join(f"{t.name}{'ᵀ' if flip else ''}" for t, flip in product)
            scale = _scale(g.expr)
            top, bottom = sympy.fraction(scale)
            as_matrices += "" if top == 1 else f" · {text_tensor(top)}"
            as_matrices += "" if bottom == 1 else f" / {text_tensor(bottom)}"
            rows.append(("", f"= {as_matrices}", tr("as a matrix product")))
    out += ["  " + row for row in columns(rows)]
    for g in (*d.stages, *d.gradients):
        if g.facts:
            uses = tr("{name} uses: {facts}").format(name=g.name, facts="; ".join(g.facts))
            out.append("  " + uses)
    saves = ", ".join(s.name for s in d.saved) or tr("nothing")
    out += ["", tr("forward saves: {saves}").format(saves=saves)]
    out += _domain_line(d.domain)
    out += _convention_lines(d.conventions)
    for x, axis in d.shifts:
        sentence = tr("shift: unchanged by a constant added to {x} along {axis} (proven)")
        out.append(sentence.format(x=x, axis=axis))
    out.append(tr("checked at: {sizes}").format(sizes=_checks(d)))
    return "\n".join(out) + "\n"


def _statement_text(s: Statement) -> str:
    if isinstance(s, Reduce) and s.op == "max":
        return f"max_{','.join(s.summed)} {text_tensor(s.body)}"
    return text_tensor(_value(s))


__all__ = ["render"]
