"""Proven local derivatives of a map: ``y = f(a, b, ...)`` in, ``∂f/∂a`` as a textbook prints it.

This is what a map statement's reverse-mode rule asks for (:mod:`symgrad.statements.map`).
Notation: operands ``a, b, ...`` (scalar symbols standing for tensor elements), output ``y``.
For each differentiable operand the machinery

1. differentiates the map (the *plain* derivative, the reference for every proof), with the
   conventions of :mod:`symgrad.conventions` at kinks and ties;
2. collects equal candidate forms: the derivative of the map written with named functions
   (``logistic``, ``softplus``), the derivative rewritten in terms of the output (by
   substituting the output where it occurs, and by inverting ``y = f(a)`` step by step), their
   simplified, factored and expanded variants, and each with NumPy's accurate library functions;
3. keeps only the candidates it can *prove* equal to the plain derivative (:mod:`symgrad.proofs`);
4. takes the accurate ones (:mod:`symgrad.numerics`: each form printed as the generated code
   prints it and measured against mpmath) and, among them, the cheapest;
5. replaces comparisons by boolean masks (``mask = x > 0``) and names the expensive values the
   forward computes anyway (SiLU's ``σ(x)``), so the forward can save them.

Operands named in ``held`` (a loss's targets) are probed but not differentiated; ``fixed`` ones
(constants such as ``eps``) take their values when probed.

>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> derive_map(MapSpec("Sigmoid", (x,), 1 / (1 + sympy.exp(-x)), y)).grads["x"]
dout*y*(1 - y)
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy

from symgrad import ufunc_costs
from symgrad.conventions import conventions_used, differentiate
from symgrad.domain import statement as domain_statement
from symgrad.errors import DerivationError
from symgrad.functions import (
    CALL_COSTS,
    SHORT_NAMES,
    canonical,
    library_forms,
    name_known_functions,
)
from symgrad.graph import Graph, build_graph
from symgrad.i18n import N_, tr
from symgrad.inversion import invert_chain
from symgrad.numerics import ACCURATE, Probes, evaluate
from symgrad.numpy_printer import numpy_code, printable
from symgrad.proofs import MAX_SIMPLIFY_OPS, prove_equal
from symgrad.tensors import dout

PLAIN = N_("plain derivative")
NAMED = N_("derivative of the forward with named functions")
FOLDED = N_("derivative of the forward with σ(-u) as 1 - σ(u)")
SUBSTITUTED = {
    PLAIN: N_("plain derivative, the output {output} substituted"),
    NAMED: N_("derivative of the forward with named functions, the output {output} substituted"),
    FOLDED: N_("derivative of the forward with σ(-u) as 1 - σ(u), the output {output} substituted"),
}
SOLVED = N_("solving {output} = f({input}) for {input}")
ORIGINS = (*SUBSTITUTED.values(), SOLVED)
"""Where a candidate comes from: :attr:`Candidate.origin` is one of these in English, its
``{output}`` and ``{input}`` filled in, or PLAIN, NAMED, FOLDED; printed translated with
``symgrad.i18n.tr_filled(origin, *ORIGINS)``."""


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
        """One line, in the current language."""
        parts = [tr("forward {error:.1e}").format(error=self.forward)]
        parts += [f"{name} {error:.1e}" for name, error in self.gradients.items()]
        errors = {"forward": self.forward, **self.gradients}
        bad = [tr("forward") if n == "forward" else n for n, e in errors.items() if e > ACCURATE]
        if not bad:
            return tr("worst error {errors} at {points} probe points in [-1000, 1000]").format(
                errors=", ".join(parts), points=self.points
            )
        return tr(
            "worst error {errors} at {points} probe points in [-1000, 1000]; {names} NOT "
            "accurate (above {limit:.0e}): symgrad will not generate this layer"
        ).format(errors=", ".join(parts), points=self.points, names=", ".join(bad), limit=ACCURATE)


@dataclass(frozen=True)
class MapSpec:
    """A map to differentiate: ``output = forward(*inputs)`` elementwise."""

    name: str
    inputs: tuple[sympy.Symbol, ...]
    forward: sympy.Expr
    output: sympy.Symbol
    held: tuple[sympy.Symbol, ...] = ()
    fixed: tuple[tuple[sympy.Symbol, sympy.Expr], ...] = ()
    doc: str = ""
    output_usable: bool = True
    """False for the body of a reduction: its value is summed, never stored, so the local
    derivative cannot be written in it."""
    positive: tuple[str, ...] = ()
    """The constants (in ``fixed``) that are positive: the code may rely on it."""

    @property
    def probed(self) -> tuple[sympy.Symbol, ...]:
        return self.inputs + self.held


@dataclass(frozen=True, repr=False)
class MapDerivation:
    """Everything derived for one map. ``grads`` maps operand names to backward expressions."""

    spec: MapSpec
    stable_forward: sympy.Expr
    gradients: tuple[Gradient, ...]
    saved: dict[sympy.Symbol, sympy.Expr]
    conventions: tuple[str, ...]
    graph: Graph
    domain: str = ""
    accuracy: Accuracy | None = None

    @property
    def grads(self) -> dict[str, sympy.Expr]:
        """Each operand's backward expression, by name."""
        return {g.wrt.name: g.expr for g in self.gradients}

    @property
    def intermediates(self) -> dict[sympy.Symbol, sympy.Expr]:
        """Saved subexpressions of the forward other than masks, inputs and the output."""
        skip = {*self.spec.probed, self.spec.output, *self.masks}
        return {s: e for s, e in self.saved.items() if s not in skip}

    @property
    def masks(self) -> dict[sympy.Symbol, sympy.Expr]:
        return {
            s: e for s, e in self.saved.items() if isinstance(e, sympy.core.relational.Relational)
        }


def derive_map(declared: MapSpec) -> MapDerivation:
    """The map's derivation; maps that differ only in the layer they belong to (BatchNorm's
    and LayerNorm's ``xhat = xc/std``) are derived once."""
    anonymous = replace(declared, name="", doc="")
    try:
        return replace(_derive_map(anonymous), spec=declared)
    except DerivationError:
        return _derive_map(declared)  # again, so that the message names the layer


@functools.lru_cache(maxsize=512)
def _derive_map(declared: MapSpec) -> MapDerivation:
    # Layers act on real arrays: differentiate with real symbols (so |x|' is sign(x), not an
    # expression in re(x) and im(x)), and hand back the declared, plain symbols.
    variables = (*declared.inputs, *declared.held, declared.output)
    real = {s: sympy.Symbol(s.name, real=True) for s in variables}
    real |= {s: sympy.Symbol(s.name, real=True) for s, _ in declared.fixed}
    plain_again = {r: s for s, r in real.items()}
    spec = replace(
        declared,
        inputs=tuple(real[v] for v in declared.inputs),
        held=tuple(real[v] for v in declared.held),
        forward=declared.forward.xreplace(real),
        output=real[declared.output],
        fixed=tuple((real[s], v) for s, v in declared.fixed),
    )
    probes = Probes.of(spec.forward, spec.probed, dict(spec.fixed))
    if probes.size == 0:
        raise DerivationError(
            tr(
                "{layer}: the forward {forward} is not real and finite at any probe point in "
                "[-1000, 1000]"
            ).format(layer=declared.name, forward=declared.forward)
        )
    stable, forward_error = _stable_forward(spec, probes)
    saved_output = {spec.output: probes.float64(stable, {})}
    conventions = conventions_used(spec.forward, spec.inputs)
    chosen: list[tuple[sympy.Symbol, sympy.Expr, Candidate, tuple[Candidate, ...]]] = []
    for v in spec.inputs:
        plain = differentiate(spec.forward, v)
        best, considered = _choose(spec, stable, v, plain, probes, saved_output)
        chosen.append((v, plain, best, considered))
    # the code's form of each local, its choices written as clamps where that is cheaper
    # (PReLU's dα is dout·min(x, 0), Huber's dx dout·clip(x - t, -δ, δ)/N)
    code_forms = [clamped(c.expr, spec.positive) for _, _, c, _ in chosen]
    masks = _masks(code_forms)
    shared = _shared(code_forms, stable)
    gradients = tuple(
        Gradient(v, plain, best.expr, best.origin, considered, _gradient_expr(form, masks))
        for (v, plain, best, considered), form in zip(chosen, code_forms)
    )
    gradients = tuple(replace(g, expr=g.expr.xreplace(shared)) for g in gradients)
    saved = _saved(spec, stable, gradients, {**masks, **shared})
    graph = build_graph(declared.forward, declared.inputs, declared.output)
    accuracy = Accuracy(
        forward_error, {f"d{v.name}": c.error for v, _, c, _ in chosen}, probes.size
    )
    result = MapDerivation(
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


def _stable_forward(spec: MapSpec, probes: Probes) -> tuple[sympy.Expr, float]:
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
        tr(
            "{layer}: no form of the forward is accurate in float64: relative error {error:.1e} "
            "at {where} (symgrad refuses rather than generate it)"
        ).format(layer=spec.name, error=error, where=where)
    )


def _with_symbols(d: MapDerivation, mapping: dict[sympy.Symbol, sympy.Symbol]) -> MapDerivation:
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
    spec: MapSpec,
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
        raise DerivationError(
            tr("{layer}: no form of ∂{output}/∂{input} could be proven").format(
                layer=spec.name, output=spec.output, input=v
            )
        )
    return best, tuple(sorted(considered, key=_key))


@functools.lru_cache(maxsize=4096)
def _key(c: Candidate) -> tuple:
    size = (len(c.expr.free_symbols), len(str(c.expr)), str(c.expr))
    fresh = sum(allocations(part) for part in _printed_parts(c.expr))
    return (not c.accurate, c.cost, fresh, c.error, *size)


def _first_proven(
    spec: MapSpec, plain: sympy.Expr, considered: list[Candidate]
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
    spec: MapSpec,
    plain: sympy.Expr,
    forms: list[tuple[sympy.Expr, str]],
    seen: set[sympy.Expr],
    probes: Probes,
    saved: dict[sympy.Symbol, Any],
) -> list[Candidate]:
    allowed = set(spec.probed) | {f for f, _ in spec.fixed}
    if spec.output_usable:
        allowed.add(spec.output)
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
            code_form = clamped(variant, spec.positive) if variant.has(sympy.Piecewise) else variant
            out[variant] = Candidate(variant, origin, cost(code_form), float(error), None)
    return list(out.values())


def _substituted_forms(
    spec: MapSpec, stable: sympy.Expr, v: sympy.Symbol, plain: sympy.Expr
) -> list[tuple[sympy.Expr, str]]:
    """The plain derivative, the derivative of the named-function forward, and both with the
    output substituted where it occurs."""
    out = spec.output
    forms: list[tuple[sympy.Expr, str]] = [(plain, PLAIN)]
    named = differentiate(stable, v)
    if named != plain:
        forms.append((named, NAMED))
    folded = differentiate(canonical(stable), v)
    if folded not in (named, plain):
        forms.append((folded, FOLDED))
    for form, origin in list(forms):
        substituted = form.subs(stable, out).subs(spec.forward, out)
        if substituted != form:
            forms.append((substituted, SUBSTITUTED[origin].format(output=out)))
    return forms


def _solved_forms(
    spec: MapSpec, stable: sympy.Expr, v: sympy.Symbol, plain: sympy.Expr
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
    return [(plain.subs(v, solution), SOLVED.format(output=spec.output, input=v))]


def _variants(e: sympy.Expr) -> list[sympy.Expr]:
    """The expression and its simplified, factored and expanded forms, signs absorbed."""
    if e.has(sympy.Piecewise):
        try:
            return [e, sympy.piecewise_fold(e)]
        except (AttributeError, TypeError, ValueError):  # SymPy fails on some folds
            return [e]
    forms = [e]
    if sympy.count_ops(e) <= 2:  # gamma, 1/std, -xhat/std: nothing to rewrite
        return list(dict.fromkeys([e, *library_forms(e)]))
    transforms = [sympy.factor, sympy.expand, sympy.cancel]
    if sympy.count_ops(e) <= MAX_SIMPLIFY_OPS and not _trigonometric_with_surds(e):
        transforms.insert(0, sympy.simplify)
    for transform in transforms:
        try:
            forms.append(transform(e))
        except Exception:  # a transform SymPy fails on only means fewer candidates
            continue
    forms += [_absorb_sign(f) for f in forms]
    forms += [g for f in list(forms) for g in library_forms(f)]
    return list(dict.fromkeys(forms))


def _trigonometric_with_surds(e: sympy.Expr) -> bool:
    """A trigonometric or hyperbolic call with an irrational coefficient (GELU's tanh of
    √(2/π)·(x + 0.044715x³)): ``simplify`` spends seconds in ``trigsimp`` factoring over an
    algebraic extension there, and the named-function forms already hold the good candidates."""
    trig = (sympy.tanh, sympy.sinh, sympy.cosh, sympy.sin, sympy.cos, sympy.tan)
    surds = any(n.is_irrational for n in e.atoms(sympy.Pow) if n.is_number) or e.has(sympy.pi)
    return surds and e.has(*trig)


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


def code_cost(code: str) -> int:
    """The passes over memory a NumPy expression makes, each operation weighted by what it was
    measured to cost (:mod:`symgrad.ufunc_costs`): arithmetic 1, ``np.exp`` 3, ``np.where``
    on a random mask 20, a named function as its table entry says.

    >>> code_cost("dout * (1 - y**2)"), code_cost("1 / (1 + np.exp(-x))")
    (3, 6)
    """
    return ufunc_costs.cost(code, CALL_COSTS)


def cost(e: sympy.Expr) -> int:
    """The cost of evaluating ``e`` as the generated NumPy code does, common parts computed once,
    in measured passes (``code_cost``).

    >>> from sympy import Symbol, exp
    >>> y, x = Symbol("y"), Symbol("x")
    >>> cost(y * (1 - y)), cost(-y**2 + y), cost(exp(-x) / (1 + exp(-x)) ** 2)
    (2, 2, 7)
    """
    return sum(code_cost(part) for part in _printed_parts(e))


def _printed_parts(e: sympy.Expr) -> list[str]:
    """The NumPy code of ``e`` with common subexpressions computed once, part by part."""
    replacements, reduced = sympy.cse(e)
    return [numpy_code(part) for part in [r for _, r in replacements] + reduced]


# --- choices at a kink of value 0 ----------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def clamped(e: sympy.Expr, positive: tuple[str, ...] = ()) -> sympy.Expr:
    """``e`` with its choices written as clamps, where that costs less (``code_cost``).

    A choice at a kink of value 0, ``Piecewise((f, u > 0), (g, True))`` with ``f(0) = g(0) =
    0``, is ``f(max(u, 0)) + g(min(u, 0))``: ELU's
    ``np.where(x > 0, x, α·expm1(x))`` is ``max(x, 0) + α·expm1(min(x, 0))``, PReLU's the
    textbook ``max(x, 0) + α·min(x, 0)``. ``np.where`` on a random mask costs ~25 passes.

    The two are equal in floating point, inf and nan included: where ``u > 0`` the second term
    is ``g(0)``, an exact 0 (checked at ±0.0 in float32 and float64), and ``f(u) + 0 = f(u)``;
    elsewhere likewise; a nan ``u`` gives nan in both. A zero's sign can differ (``u = -0``).

    >>> from sympy import Piecewise, Symbol
    >>> from symgrad.functions import expm1
    >>> x, a = Symbol("x"), Symbol("alpha")
    >>> clamped(Piecewise((x, x > 0), (a * expm1(x), True)))
    alpha*expm1(Min(0, x)) + Max(0, x)

    A choice between ``u`` inside a band ``|u| < δ`` and ``δ·sign(u)`` outside it, for a
    constant δ declared ``positive``, is ``min(max(u, -δ), δ)`` (Huber's gradient, printed
    ``np.clip(u, -δ, δ)``; :func:`_clipped`).
    """

    def rule(p: sympy.Piecewise) -> sympy.Expr:
        if len(p.args) != 2 or p.args[1].cond != sympy.true:
            return p
        (f, c), (g, _) = p.args
        band = _clipped(f, c, g, positive)
        if band is not None:
            return band
        if not (isinstance(c, sympy.StrictGreaterThan) and c.rhs == 0 and c.lhs.is_Symbol):
            return p
        u = c.lhs
        if not (_zero_at_zero(f, u) and _zero_at_zero(g, u)):
            return p
        return f.xreplace({u: sympy.Max(u, 0)}) + g.xreplace({u: sympy.Min(u, 0)})

    return cheapest_form(e, e.replace(lambda a: isinstance(a, sympy.Piecewise), rule))


def _clipped(
    inside: sympy.Expr, cond: sympy.Basic, outside: sympy.Expr, positive: tuple[str, ...]
) -> sympy.Expr | None:
    """``Piecewise((s·w, |w| < δ), (s·δ·sign(w), True))``, ``s = ±1`` and δ a constant named
    in ``positive``, as ``min(max(s·w, -δ), δ)``; else None.

    Equal in floating point for every δ > 0, inf and nan included: inside the band the clamp
    leaves ``s·w`` as it is; outside it ``|w| >= δ > 0``, so ``sign(w)`` is ±1 and the clamp
    gives ``±δ`` on the same side; a nan ``w`` is outside the band and nan in both. (For δ <= 0
    they differ, so the generated forward refuses such a δ.)

    >>> from sympy import Abs, Symbol, sign
    >>> w, d = Symbol("w"), Symbol("delta")
    >>> _clipped(-w, d > Abs(w), -d * sign(w), ("delta",))
    Min(delta, Max(-delta, -w))
    >>> _clipped(-w, d > Abs(w), -d * sign(w), ()) is None  # δ not known to be positive
    True
    """
    if not isinstance(cond, sympy.StrictGreaterThan | sympy.StrictLessThan):
        return None
    band, delta = cond.lts, cond.gts
    if not (isinstance(band, sympy.Abs) and delta.is_Symbol and delta.name in positive):
        return None
    (w,) = band.args
    for s in (1, -1):
        if (
            sympy.expand(inside - s * w) == 0
            and sympy.expand(outside - s * delta * sympy.sign(w)) == 0
        ):
            return sympy.Min(sympy.Max(s * w, -delta), delta)
    return None


def _zero_at_zero(f: sympy.Expr, u: sympy.Symbol) -> bool:
    """Is ``f`` exactly 0 at ``u = ±0``: symbolically, and as NumPy computes it in float32 and
    float64 (the other symbols at 1)?"""
    at_zero = f.subs(u, 0)
    if at_zero != 0 and sympy.simplify(at_zero) != 0:  # a small expression: f at one point
        return False
    others = [str(s) for s in f.free_symbols - {u}]
    for dtype in (np.float32, np.float64):
        for zero in (dtype(0.0), dtype(-0.0)):
            env = {**dict.fromkeys(others, dtype(1)), str(u): np.array([zero])}
            try:
                value = evaluate(f, env)
            except Exception:  # code that cannot run on its own: the rewrite is not taken
                return False
            if not np.all(value == 0):
                return False
    return True


def cheapest_form(*forms: sympy.Expr) -> sympy.Expr:
    """The form whose NumPy code costs least (``code_cost``, measured passes); the earliest
    of those that tie."""
    return min(forms, key=lambda f: (code_cost(numpy_code(f)), forms.index(f)))


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
    spec: MapSpec,
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
    for v in spec.probed:
        if v in needed:
            saved[v] = v
    if spec.output in needed:
        saved[spec.output] = stable
    return saved
