"""The derivation engine: forward definition in, proven backward formula out. Pure SymPy.

Notation (see :mod:`symgrad.spec`): inputs ``x`` (and ``y`` for a second input), output ``y`` or
``out``, upstream gradient ``dout``. For each input the engine

1. differentiates the forward expression (the *plain* derivative, the reference for every proof),
   with the conventions of :mod:`symgrad.conventions` at kinks;
2. collects equal candidate forms: the derivative of the forward written with named functions
   (``logistic``, ``softplus``), the derivative rewritten in terms of the saved output (by
   substituting the output where it occurs, and by solving ``y = f(x)`` for ``x``), and their
   simplified, factored and expanded variants;
3. keeps only the candidates it can *prove* equal to the plain derivative (``simplify`` of the
   difference is 0, confirmed numerically at random points in 40-digit arithmetic, so a wrong
   ``simplify`` cannot slip through);
4. chooses the cheapest to evaluate (a weighted operation count), then the shortest;
5. replaces comparisons by boolean masks (``mask = x > 0``) and records what ``forward`` must save.

The one place the engine looks beyond SymPy is step 4's accuracy test and cost: a candidate is
judged as the NumPy code it would become (:mod:`symgrad.numerics` evaluates that code at probe
points; :func:`cost` counts its array operations), because that is what the user runs. The
engine writes no files and prints nothing.

>>> from symgrad.registry import catalog
>>> derive(catalog["Sigmoid"]).grads["x"]
dout*y*(1 - y)
>>> derive("Tanh").grads["x"]
dout*(1 - y**2)
>>> derive("MulLayer").grads
{'x': dout*y, 'y': dout*x}
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, replace
from typing import Any

import sympy

from symgrad.conventions import conventions_used, differentiate
from symgrad.domain import statement as domain_statement
from symgrad.errors import DerivationError, SymgradError, unexpected
from symgrad.functions import (
    CALL_COSTS,
    SHORT_NAMES,
    library_forms,
    logistic,
    name_known_functions,
    softplus,
)
from symgrad.graph import Graph, build_graph
from symgrad.numerics import ACCURATE, Probes
from symgrad.numpy_printer import numpy_code, printable
from symgrad.proofs import MAX_SIMPLIFY_OPS, prove_equal
from symgrad.result import Rendered
from symgrad.spec import LayerSpec, dout


@dataclass(frozen=True)
class Candidate:
    """One form of a local derivative that the engine considered."""

    expr: sympy.Expr
    origin: str
    cost: int
    error: float  # worst error in float64 at the probe points (symgrad.numerics' measure)
    proven: bool | None  # None: not needed, a better candidate was proven first

    @property
    def accurate(self) -> bool:
        return self.error <= ACCURATE


@dataclass(frozen=True)
class Gradient:
    """The backward formula for one input: ``d<input> = expr``."""

    wrt: sympy.Symbol
    plain: sympy.Expr
    local: sympy.Expr
    origin: str
    considered: tuple[Candidate, ...]
    expr: sympy.Expr

    @property
    def name(self) -> str:
        return f"d{self.wrt.name}"


@dataclass(frozen=True)
class Accuracy:
    """The measured float64 accuracy of the chosen forms (the measure of
    :mod:`symgrad.numerics`), at ``points`` probe points in the domain."""

    forward: float
    gradients: dict[str, float]
    points: int

    def text(self) -> str:
        parts = [f"forward {self.forward:.1e}"]
        parts += [f"{name} {error:.1e}" for name, error in self.gradients.items()]
        out = f"worst error {', '.join(parts)} at {self.points} probe points in [-1000, 1000]"
        bad = [n for n, e in {"forward": self.forward, **self.gradients}.items() if e > ACCURATE]
        if bad:
            out += (
                f"; {', '.join(bad)} NOT accurate (above {ACCURATE:.0e}): symgrad will not "
                "generate this layer"
            )
        return out


@dataclass(frozen=True, repr=False)
class Derivation(Rendered):
    """Everything derived for one layer. ``grads`` maps input names to backward expressions."""

    spec: LayerSpec
    stable_forward: sympy.Expr
    gradients: tuple[Gradient, ...]
    saved: dict[sympy.Symbol, sympy.Expr]
    conventions: tuple[str, ...]
    graph: Graph
    domain: str = ""
    accuracy: Accuracy | None = None

    @property
    def intermediates(self) -> dict[sympy.Symbol, sympy.Expr]:
        """Saved subexpressions of the forward other than masks, inputs and the output."""
        skip = {*self.spec.inputs, self.spec.output, *self.masks}
        return {s: e for s, e in self.saved.items() if s not in skip}

    @property
    def masks(self) -> dict[sympy.Symbol, sympy.Expr]:
        return {
            s: e for s, e in self.saved.items() if isinstance(e, sympy.core.relational.Relational)
        }


def derive(spec_or_name: LayerSpec | str) -> Derivation:
    """Derive the backward formulas of a layer (a spec or a catalog name).

    Elementwise layers are derived here; matrix layers by :mod:`symgrad.matrix_engine`, row-wise
    layers and losses by :mod:`symgrad.row_engine`. Every result has ``name``, ``spec``,
    ``gradients``, ``grads`` and the renderers ``latex()``, ``markdown()``, ``text()``.
    """
    if isinstance(spec_or_name, str):
        from symgrad.registry import catalog

        spec_or_name = catalog[spec_or_name]
    try:
        return _dispatch(spec_or_name)
    except (SymgradError, KeyboardInterrupt, MemoryError):
        raise
    except Exception as err:  # SymPy can fail almost anywhere; the user sees one line
        raise unexpected(f"{spec_or_name.name}: cannot derive the backward", err) from err


def _dispatch(spec: Any) -> Any:
    """The one place a spec's kind chooses its engine."""
    kind = getattr(spec, "kind", None)
    if kind == "matrix":
        from symgrad.matrix_engine import derive_matrix

        return derive_matrix(spec)
    if kind in ("rowwise", "loss"):
        from symgrad.row_engine import derive_rows

        return derive_rows(spec)
    return _derive(spec)


@functools.lru_cache(maxsize=256)
def _derive(declared: LayerSpec) -> Derivation:
    # Layers act on real arrays: differentiate with real symbols (so |x|' is sign(x), not an
    # expression in re(x) and im(x)), and hand back the declared, plain symbols.
    real = {s: sympy.Symbol(s.name, real=True) for s in (*declared.inputs, declared.output)}
    plain_again = {r: s for s, r in real.items()}
    spec = replace(
        declared,
        inputs=tuple(real[v] for v in declared.inputs),
        forward=declared.forward.xreplace(real),
        output=real[declared.output],
    )
    probes = Probes.of(spec.forward, spec.inputs)
    if probes.size == 0:
        raise DerivationError(
            f"{declared.name}: the forward {declared.forward} is not real and finite at any "
            "probe point in [-1000, 1000]"
        )
    stable, forward_error = _stable_forward(spec, probes)
    saved_output = {spec.output: probes.float64(stable, {})}
    conventions = conventions_used(spec.forward, spec.inputs)
    chosen: list[tuple[sympy.Symbol, sympy.Expr, Candidate, tuple[Candidate, ...]]] = []
    for v in spec.inputs:
        plain = differentiate(spec.forward, v)
        best, considered = _choose(spec, stable, v, plain, probes, saved_output)
        chosen.append((v, plain, best, considered))
    masks = _masks([c.expr for _, _, c, _ in chosen])
    shared = _shared([c.expr for _, _, c, _ in chosen], stable)
    gradients = tuple(
        Gradient(v, plain, best.expr, best.origin, considered, _gradient_expr(best.expr, masks))
        for v, plain, best, considered in chosen
    )
    gradients = tuple(replace(g, expr=g.expr.xreplace(shared)) for g in gradients)
    saved = _saved(spec, stable, gradients, {**masks, **shared})
    graph = build_graph(declared.forward, declared.inputs, declared.output)
    accuracy = Accuracy(
        forward_error, {f"d{v.name}": c.error for v, _, c, _ in chosen}, probes.size
    )
    result = Derivation(
        declared,
        stable,
        gradients,
        saved,
        tuple(conventions),
        graph,
        domain_statement(spec.forward),
        accuracy,
    )
    return _with_symbols(result, plain_again)


def _stable_forward(spec: LayerSpec, probes: Probes) -> tuple[sympy.Expr, float]:
    """The forward as generated code computes it: the first proven-equal form that is accurate
    in float64 (named functions, then the accurate library forms), and its error."""
    named = name_known_functions(spec.forward)
    forms = list(dict.fromkeys([named, *library_forms(named), spec.forward]))
    errors = []
    for form in forms:
        if form != spec.forward and not prove_equal(form, spec.forward):
            continue
        error = probes.forward_error(probes.float64(form, {}), spec.forward)
        if error <= ACCURATE:
            return form, error
        errors.append((error, form))
    error, form = min(errors, key=lambda pair: pair[0])
    where = probes.worst_forward_point(probes.float64(form, {}), spec.forward)
    raise DerivationError(
        f"{spec.name}: no form of the forward is accurate in float64: relative error "
        f"{error:.1e} at {where} (symgrad refuses rather than generate it)"
    )


def _with_symbols(d: Derivation, mapping: dict[sympy.Symbol, sympy.Symbol]) -> Derivation:
    """The derivation with ``mapping`` applied to every expression it holds."""

    def m(e: sympy.Expr) -> sympy.Expr:
        return e.xreplace(mapping)

    gradients = tuple(
        replace(
            g,
            wrt=m(g.wrt),
            plain=m(g.plain),
            local=m(g.local),
            expr=m(g.expr),
            considered=tuple(replace(c, expr=m(c.expr)) for c in g.considered),
        )
        for g in d.gradients
    )
    saved = {m(s): m(e) for s, e in d.saved.items()}
    return replace(d, stable_forward=m(d.stable_forward), gradients=gradients, saved=saved)


# --- candidates -------------------------------------------------------------------------------


def _choose(
    spec: LayerSpec,
    stable: sympy.Expr,
    v: sympy.Symbol,
    plain: sympy.Expr,
    probes: Probes,
    saved: dict[sympy.Symbol, Any],
) -> tuple[Candidate, tuple[Candidate, ...]]:
    """The cheapest accurate candidate that is proven equal to ``plain``, and all considered.

    Candidates are ranked first (accurate in float64, then cost) and proven in that order until
    one proof succeeds, so the expensive proofs run only for the forms that could win. Solving
    ``y = f(x)`` for ``x`` is tried only when the cheaper routes leave the input in the result.
    """
    considered: list[Candidate] = []
    tiers = (_substituted_forms, _solved_forms)
    for tier in tiers:
        forms = tier(spec, stable, v, plain)
        ranked = _rank(spec, plain, forms, {c.expr for c in considered}, probes, saved)
        considered += ranked
        best = _first_proven(spec, plain, considered)
        if best is not None and (v not in best.expr.free_symbols or tier is tiers[-1]):
            break
    if best is None:
        raise DerivationError(f"{spec.name}: no form of ∂{spec.output}/∂{v} could be proven")
    return best, tuple(sorted(considered, key=_key))


def _key(c: Candidate) -> tuple:
    size = (len(c.expr.free_symbols), len(str(c.expr)), str(c.expr))
    fresh = sum(allocations(part) for part in _printed_parts(c.expr))
    return (not c.accurate, c.cost, fresh, c.error, *size)


def _first_proven(
    spec: LayerSpec, plain: sympy.Expr, considered: list[Candidate]
) -> Candidate | None:
    for c in sorted(considered, key=_key):
        if c.proven is None:
            proven = prove_equal(c.expr.subs(spec.output, spec.forward), plain)
            j = considered.index(c)
            c = considered[j] = replace(c, proven=proven)
        if c.proven:
            return c
    return None


def _rank(
    spec: LayerSpec,
    plain: sympy.Expr,
    forms: list[tuple[sympy.Expr, str]],
    seen: set[sympy.Expr],
    probes: Probes,
    saved: dict[sympy.Symbol, Any],
) -> list[Candidate]:
    allowed = set(spec.inputs) | {spec.output}
    out: dict[sympy.Expr, Candidate] = {}
    for form, origin in forms:
        for variant in _variants(form):
            if variant in seen or variant in out or variant.has(sympy.Derivative):
                continue
            if not variant.free_symbols <= allowed:
                continue
            if not printable(variant):
                continue
            error = probes.backward_error(variant, plain, saved)
            out[variant] = Candidate(variant, origin, cost(variant), float(error), None)
    return list(out.values())


def _substituted_forms(
    spec: LayerSpec, stable: sympy.Expr, v: sympy.Symbol, plain: sympy.Expr
) -> list[tuple[sympy.Expr, str]]:
    """The plain derivative, the derivative of the named-function forward, and both with the
    output substituted where it occurs."""
    out = spec.output
    forms: list[tuple[sympy.Expr, str]] = [(plain, "plain derivative")]
    named = differentiate(stable, v)
    if named != plain:
        forms.append((named, "derivative of the forward with named functions"))
    for form, origin in list(forms):
        substituted = form.subs(stable, out).subs(spec.forward, out)
        if substituted != form:
            forms.append((substituted, f"{origin}, the output {out} substituted"))
    return forms


def _solved_forms(
    spec: LayerSpec, stable: sympy.Expr, v: sympy.Symbol, plain: sympy.Expr
) -> list[tuple[sympy.Expr, str]]:
    """Candidates in the output alone, from inverting ``output = f(v)`` for ``v``.

    Only for one-input layers whose input occurs once in the forward: a chain of steps, each
    inverted by :func:`invert_step` where it is one-to-one on its whole range. No ``solve``,
    whose cost nobody can bound.
    """
    f = spec.forward
    if len(spec.inputs) != 1 or f.has(sympy.Piecewise, sympy.Max, sympy.Min, sympy.Abs):
        return []
    if sum(1 for e in sympy.preorder_traversal(f) if e == v) != 1:
        return []
    solution = invert_chain(f, v, spec.output)
    if solution is None:
        return []
    return [(plain.subs(v, solution), f"solving {spec.output} = f({v}) for {v}")]


def invert_chain(f: sympy.Expr, v: sympy.Symbol, y: sympy.Symbol) -> sympy.Expr | None:
    """``v`` as a function of ``y`` where ``y = f(v)`` and ``v`` occurs once in ``f``, or None
    when a step is not one-to-one.

    >>> from sympy import Symbol, exp, tanh
    >>> x, y = Symbol("x", real=True), Symbol("y", real=True)
    >>> invert_chain(1 / (1 + exp(-x)), x, y)
    -log(-1 + 1/y)
    >>> invert_chain(tanh(x) ** 3, x, y)
    atanh(Abs(y)**(1/3)*sign(y))
    >>> invert_chain(x**2, x, y) is None
    True
    """
    target: sympy.Expr = y
    while f != v:
        step = invert_step(f, v, target)
        if step is None:
            return None
        f, target = step
    return target


def invert_step(
    f: sympy.Expr, v: sympy.Symbol, y: sympy.Expr
) -> tuple[sympy.Expr, sympy.Expr] | None:
    """One step of :func:`invert_chain`: ``(inner, value)`` with ``inner = value``."""
    if isinstance(f, (sympy.Add, sympy.Mul)):
        inner = [a for a in f.args if a.has(v)]
        if len(inner) != 1:
            return None
        rest = f.func(*[a for a in f.args if not a.has(v)])
        return inner[0], (y - rest if isinstance(f, sympy.Add) else y / rest)
    if isinstance(f, sympy.Pow):
        base, power = f.args
        if not power.has(v):
            return _invert_power(base, power, y)
        return (power, sympy.log(y) / sympy.log(base)) if base.is_positive else None
    inverse = _INVERSES.get(type(f))
    if inverse is None or len(f.args) != 1:
        return None
    return f.args[0], inverse(y)


def _invert_power(
    base: sympy.Expr, power: sympy.Expr, y: sympy.Expr
) -> tuple[sympy.Expr, sympy.Expr] | None:
    if not power.is_Rational:
        return None
    if power.is_Integer and int(power) % 2 == 0:
        return None  # x**2 is two-to-one
    if power.is_Integer and int(power) % 2 == 1 and power > 0:
        return base, sympy.real_root(y, int(power))
    return base, y ** (1 / power)


_INVERSES = {
    sympy.exp: sympy.log,
    sympy.log: sympy.exp,
    sympy.tanh: sympy.atanh,
    sympy.sinh: sympy.asinh,
    sympy.atan: sympy.tan,
    logistic: lambda y: sympy.log(y / (1 - y)),
    softplus: lambda y: sympy.log(sympy.exp(y) - 1),
}


def _variants(e: sympy.Expr) -> list[sympy.Expr]:
    """The expression and its simplified, factored and expanded forms, signs absorbed."""
    if e.has(sympy.Piecewise):
        try:
            return [e, sympy.piecewise_fold(e)]
        except (AttributeError, TypeError, ValueError):  # SymPy fails on some folds
            return [e]
    forms = [e]
    transforms = [sympy.factor, sympy.expand, sympy.cancel]
    if sympy.count_ops(e) <= MAX_SIMPLIFY_OPS:
        transforms.insert(0, sympy.simplify)
    for transform in transforms:
        try:
            forms.append(transform(e))
        except Exception:  # a transform SymPy fails on only means fewer candidates
            continue
    forms += [_absorb_sign(f) for f in forms]
    forms += [g for f in list(forms) for g in library_forms(f)]
    return list(dict.fromkeys(forms))


def _absorb_sign(e: sympy.Expr) -> sympy.Expr:
    """Move a leading minus into a sum factor: ``-y*(y - 1)`` becomes ``y*(1 - y)``."""
    coeff, rest = e.as_coeff_Mul()
    if not (coeff.is_number and coeff.is_negative):
        return e
    factors = list(sympy.Mul.make_args(rest))
    for i, f in enumerate(factors):
        if isinstance(f, sympy.Add):
            factors[i] = -f
            return sympy.Mul(-coeff, *factors)
    return e


# --- cost ---------------------------------------------------------------------------------------


def allocations(code: str) -> int:
    """How many new arrays NumPy allocates for an expression: every call, and every operator
    whose operands are both existing arrays (NumPy reuses a temporary operand in place).

    >>> allocations("sig + y * (1 - sig)"), allocations("sig + y - sig * y")
    (1, 2)
    """
    fresh = (ast.BinOp, ast.UnaryOp, ast.Call)
    count = 0
    for node in ast.walk(ast.parse(code, mode="eval")):
        if isinstance(node, ast.Call):
            count += 1
        elif isinstance(node, ast.BinOp):
            count += not (isinstance(node.left, fresh) or isinstance(node.right, fresh))
        elif isinstance(node, ast.UnaryOp):
            count += not isinstance(node.operand, fresh)
    return count


_CHEAP_CALLS = {"maximum", "minimum", "abs", "where", "sign"}


def code_cost(code: str) -> int:
    """Count the array operations in a NumPy expression.

    >>> code_cost("dout * (1 - y**2)"), code_cost("1 / (1 + np.exp(-x))")
    (4, 13)
    """
    total = 0
    for node in ast.walk(ast.parse(code, mode="eval")):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            total += 2
        elif isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare)):
            total += 1
        elif isinstance(node, ast.Call):
            total += _call_cost(ast.unparse(node.func))
    return total


def _call_cost(name: str) -> int:
    """A call: a cheap elementwise one 2, a named function as its table entry says, else 10."""
    if name.rpartition(".")[2] in _CHEAP_CALLS:
        return 2
    return CALL_COSTS.get(name, 10)


def cost(e: sympy.Expr) -> int:
    """The cost of evaluating ``e`` as the generated NumPy code does, common parts computed once:
    each array operation 1, a power 2, a transcendental ufunc (``np.exp``, ...) 10.

    >>> from sympy import Symbol, exp
    >>> y, x = Symbol("y"), Symbol("x")
    >>> cost(y * (1 - y)), cost(-y**2 + y), cost(exp(-x) / (1 + exp(-x)) ** 2)
    (2, 3, 15)
    """
    return sum(code_cost(part) for part in _printed_parts(e))


def _printed_parts(e: sympy.Expr) -> list[str]:
    """The NumPy code of ``e`` with common subexpressions computed once, part by part."""
    replacements, reduced = sympy.cse(e)
    return [numpy_code(part) for part in [r for _, r in replacements] + reduced]


# --- masks and saved quantities -------------------------------------------------------------------


def _masks(locals_: list[sympy.Expr]) -> dict[sympy.Expr, sympy.Symbol]:
    """Name each comparison that the gradients branch on: ``x > 0`` becomes ``mask``."""
    conditions: list[sympy.Expr] = []
    for e in locals_:
        for pw in sorted(e.atoms(sympy.Piecewise), key=sympy.default_sort_key):
            for _, cond in pw.args:
                if cond != sympy.true and cond not in conditions:
                    conditions.append(cond)
    names = ["mask"] + [f"mask{i}" for i in range(2, len(conditions) + 1)]
    return {c: sympy.Symbol(n) for c, n in zip(conditions, names)}


def _shared(locals_: list[sympy.Expr], stable: sympy.Expr) -> dict[sympy.Expr, sympy.Symbol]:
    """Name the expensive subexpressions that the forward computes anyway and the backward
    needs (SiLU's ``σ(x)``), so that forward saves them instead of backward recomputing them."""
    found: dict[sympy.Expr, sympy.Symbol] = {}
    for e in locals_:
        for sub in sympy.preorder_traversal(e):
            function = isinstance(sub, sympy.Function) and not isinstance(sub, sympy.Piecewise)
            if not function or sub in found or not stable.has(sub) or sub == stable:
                continue
            name = SHORT_NAMES.get(type(sub).__name__, type(sub).__name__)
            if name in {s.name for s in found.values()}:
                name = f"{name}{len(found) + 1}"
            found[sub] = sympy.Symbol(name)
    return found


def _gradient_expr(local: sympy.Expr, masks: dict[sympy.Expr, sympy.Symbol]) -> sympy.Expr:
    return sympy.piecewise_fold(dout * local).xreplace(masks)


def _saved(
    spec: LayerSpec,
    stable: sympy.Expr,
    gradients: tuple[Gradient, ...],
    masks: dict[sympy.Expr, sympy.Symbol],
) -> dict[sympy.Symbol, sympy.Expr]:
    """What ``forward`` must cache, in a stable order: masks and shared intermediates, then
    inputs, then the output."""
    needed = set().union(*(g.expr.free_symbols for g in gradients)) - {dout}
    saved: dict[sympy.Symbol, sympy.Expr] = {}
    for value, symbol in masks.items():
        if symbol in needed:
            saved[symbol] = value
    for v in spec.inputs:
        if v in needed:
            saved[v] = v
    if spec.output in needed:
        saved[spec.output] = stable
    return saved
