"""The derivation engine: a layer's forward program in, its proven backward out.

Every layer, from Sigmoid to BatchNormalization, is a :class:`~symgrad.program.Layer`: a short
program of statements over named axes (:mod:`symgrad.statements`). :func:`derive` is the one
place that turns it into a :class:`Derivation`:

1. each **map** statement gets its local derivatives from :mod:`symgrad.local` (proven equal to
   the plain derivative, accurate in float64, the cheapest such form: sigmoid's ``y(1 - y)``),
   with its comparisons named as masks and the expensive values its forward computes anyway
   named so that the forward can save them (SiLU's ``sig``);
2. **reverse mode over statements** (:mod:`symgrad.reverse`) stages the backward: each
   statement sends each operand its share, by the statement kind's one rule;
3. each input's and parameter's gradient is **compacted** (:mod:`symgrad.compact`): written
   out, facts used (a centred tensor sums to 0), rewritten in the values the forward saves;
   written out down to the **stages** where a contraction meets an intermediate value
   (attention's ``dp = dout·vᵀ`` and ``dscores = p·(dp − Σ_s p·dp)``), which stay named, each
   compacted the same way: a product of arrays whose axes do not line up is no textbook form;
4. the compact form is **checked** against plain differentiation of the declared forward at
   concrete small sizes, every element: in 40-digit arithmetic at two random points at each
   size, and proven, at both sizes by polynomial identity testing modulo a prime where the
   forward is sums, products, powers, exponentials and logarithms (:mod:`symgrad.identity`),
   else by SymPy's algebra at the smallest (:attr:`Derivation.how_checked` says which); a
   disagreement is a :class:`~symgrad.errors.DerivationError` naming the layer and the gradient.

What the forward computes is recorded as generated code computes it (:attr:`Derivation.forward`:
the declared statements with each map in its stable form, the masks and shared values as
statements of their own, a logarithm of a softmax as a log-softmax), and the check evaluates
that program, so a printed forward that differs from the declared one cannot pass. The engine
writes no files and prints nothing.

>>> derive("Sigmoid").grads["x"]
dout*y*(1 - y)
>>> derive("MulLayer").grads
{'x': dout*y, 'y': dout*x}
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

import sympy

from symgrad.compact import compact
from symgrad.concrete import (
    Concrete,
    derived_sizes,
    gradient_at,
    plain_gradient,
    random_point,
    structural_values,
)
from symgrad.conventions import TIES_SPLIT_EVENLY, TIES_TO_FIRST, differentiate
from symgrad.errors import DerivationError, SymgradError, unexpected
from symgrad.functions import name_known_functions, softplus_tails_merged
from symgrad.graph import Graph
from symgrad.i18n import N_, tr
from symgrad.identity import Unsupported, identities, real_values
from symgrad.local import Accuracy, MapDerivation, MapSpec, cheapest_form, clamped, derive_map
from symgrad.local import Gradient as LocalGradient
from symgrad.program import Layer
from symgrad.proofs import DIGITS as _DIGITS
from symgrad.proofs import agree_at, close, prove_equal
from symgrad.result import Rendered
from symgrad.reverse import Backward, staged
from symgrad.statements import Contract, FirstMax, Map, Reduce, Statement
from symgrad.statements.gather import Gather
from symgrad.tensor_algebra import Facts, Scope, rsum
from symgrad.tensors import ELLIPSIS, Tensor, axis_size, dout, grad_name

CHECK_SIZES = (2, 3)
"""Every axis at these sizes when the compact form is checked (module docstring, item 4)."""
IN_DIGITS = N_("equal in 40 digits at 2 random points")
IDENTITY_TEST = "identity test mod 2⁶¹−1, error < 2⁻¹⁰⁰"
# How the check went at one size (Derivation.how_checked): whole sentences, stored in English
# and translated where they are printed, tr(how).
PROVEN_AS_SCALAR_IDENTITY = N_(
    "proven as a scalar identity of the map; equal in 40 digits at 2 random points"
)
PROVEN_AWAY_FROM_TIES = N_(
    "proven by SymPy's algebra away from ties; equal in 40 digits at 2 random points"
)
PROVEN_BY_ALGEBRA = N_("proven by SymPy's algebra; equal in 40 digits at 2 random points")
PROVEN_BY_IDENTITY_TEST = N_(
    "proven by identity test mod 2⁶¹−1, error < 2⁻¹⁰⁰; equal in 40 digits at 2 random points"
)
PROVEN_BY_IDENTITY_TEST_AND_ALGEBRA = N_(
    "proven by identity test mod 2⁶¹−1, error < 2⁻¹⁰⁰ and by SymPy's algebra; equal in 40 "
    "digits at 2 random points"
)
PARTLY_PROVEN_BY_IDENTITY_TEST = N_(
    "equal in 40 digits at 2 random points; {shown} of {total} elements proven by identity "
    "test mod 2⁶¹−1, error < 2⁻¹⁰⁰"
)
REVERSE_MODE = N_("reverse mode over statements")
"""The origin of a gradient derived over the statements (a one-map layer's is its form's)."""


@dataclass(frozen=True)
class Gradient:
    """The backward formula of one input or parameter: ``d<wrt> = expr``.

    ``expr`` is the compact form, in ``dout``, saved tensors and sums (:mod:`symgrad.tensor_
    algebra`); ``staged`` the staged backward written out before it was compacted; ``facts`` and
    ``rewrites`` what the compaction used; ``local`` the map machinery's record (plain
    derivative, candidates considered) when the layer is one map.
    """

    wrt: Tensor
    expr: sympy.Expr
    staged: sympy.Expr
    facts: tuple[str, ...] = ()
    rewrites: tuple[str, ...] = ()
    local: LocalGradient | None = None

    @property
    def name(self) -> str:
        return grad_name(self.wrt.name)

    @property
    def considered(self) -> tuple:
        return self.local.considered if self.local is not None else ()

    @property
    def origin(self) -> str:
        """Where the formula comes from, in English (``"plain derivative, the output y
        substituted"``)."""
        return self.local.origin if self.local is not None else REVERSE_MODE


@dataclass(frozen=True, repr=False)
class Derivation(Rendered):
    """Everything derived for one layer, whatever it is made of."""

    spec: Layer
    forward: tuple[Statement, ...]
    maps: tuple[tuple[str, MapDerivation], ...]
    backward: Backward
    gradients: tuple[Gradient, ...]
    saved: tuple[Tensor, ...]
    conventions: tuple[str, ...]
    domain: str
    accuracy: Accuracy | None
    shifts: tuple[tuple[str, str], ...]
    checked: tuple[dict[str, int], ...]
    facts: tuple[str, ...]
    graph: Graph | None
    stages: tuple[Gradient, ...] = ()
    """Intermediate gradients kept by name (``dp``, ``dscores``), in the order backward
    computes them; the gradients and later stages read them."""
    how_checked: tuple[str, ...] = ()
    """How the check went at each size of :attr:`checked` (``"proven by identity test mod
    2⁶¹−1, error < 2⁻¹⁰⁰; equal in 40 digits at 2 random points"``)."""

    @property
    def output(self) -> Tensor:
        return self.spec.output

    @property
    def is_map(self) -> bool:
        """One elementwise statement: the book's chain of nodes shows its derivation."""
        return len(self.spec.statements) == 1 and isinstance(self.spec.statements[0], Map)

    def map_of(self, target: str) -> MapDerivation | None:
        return dict(self.maps).get(target)

    @property
    def masks(self) -> tuple[Statement, ...]:
        """The forward statements that compute a boolean mask (``mask = x > 0``)."""
        return tuple(
            s for s in self.forward if isinstance(s.body, sympy.core.relational.Relational)
        )

    def gradient(self, name: str) -> Gradient:
        for g in self.gradients:
            if g.wrt.name == name or g.name == name:
                return g
        raise KeyError(name)


def derive(layer: Layer | str) -> Derivation:
    """Derive the backward of a layer (a :class:`~symgrad.program.Layer` or a catalog name).

    Raises :class:`~symgrad.errors.DerivationError` when a result cannot be proven or does not
    agree with plain differentiation; a failure inside SymPy comes out as one line too.
    """
    if isinstance(layer, str):
        from symgrad.registry import catalog

        layer = catalog[layer]
    if not isinstance(layer, Layer):
        raise SymgradError(
            tr("cannot derive {layer!r}: expected a layer or a catalog name").format(layer=layer)
        )
    try:
        return _derive(layer)
    except (SymgradError, KeyboardInterrupt, MemoryError, RecursionError):
        raise
    except Exception as err:  # SymPy can fail almost anywhere; the user sees one line
        what = tr("{layer}: cannot derive the backward").format(layer=layer.name)
        raise unexpected(what, err) from err


@functools.lru_cache(maxsize=256)
def _derive(declared: Layer) -> Derivation:
    layer = split_deep(declared)
    scope = layer.scope()
    maps = {
        s.target.name: derive_map(map_spec(layer, s))
        for s in layer.statements
        if _derived_by_map(s)
    }
    extras = _extras(layer, maps, scope)
    forward, firsts = _first_masks(layer, _forward_program(layer, maps, extras))
    for s in forward:
        scope.add(s.target)
    locals_ = _locals(layer, maps, extras) | firsts
    facts = layer.declared_facts()
    backward = staged(layer, locals_, scope, facts)
    program = replace(layer, statements=forward)
    keep = _stage_names(layer, backward)
    kept = frozenset(backward.grad_tensors[n].symbol for n in keep)
    for t in backward.grad_tensors.values():
        scope.add(t)
    stages = [_stage(program, backward, n, scope, facts, kept) for n in keep]
    gradients = []
    used_facts: list[str] = [f.text for f in layer.facts]
    for tensor in layer.differentiable:
        g = _gradient(layer, program, backward, tensor, scope, facts, maps, kept)
        gradients.append(g)
    for g in [*stages, *gradients]:
        used_facts += [f for f in g.facts if f not in used_facts]
    checked, how = _check(declared, program, gradients, stages)
    saved = _saved(layer, forward, [*stages, *gradients])
    graph = None
    if len(layer.statements) == 1 and maps:
        (md,) = maps.values()
        graph = md.graph
    return Derivation(
        spec=layer,
        forward=forward,
        maps=tuple(maps.items()),
        backward=backward,
        gradients=tuple(gradients),
        saved=saved,
        conventions=_conventions(layer, maps),
        domain=_domain(layer, maps),
        accuracy=_accuracy(maps),
        shifts=_shifts(program, saved),
        checked=checked,
        how_checked=how,
        facts=tuple(used_facts),
        graph=graph,
        stages=tuple(stages),
    )


# --- deep compositions --------------------------------------------------------------------------

SPLIT_DEPTH = 4
"""A map whose calls nest this deep (σ(σ(σ(σ(x))))) is split into one statement per call."""


def split_deep(layer: Layer) -> Layer:
    """``layer`` with each deeply nested map written as a chain of maps, one per call whose
    result another call reads (``u1 = σ(x)``, ``u2 = σ(u1)``, ...): the engine then
    differentiates statement by statement, each local derivative small (``u1·(1 - u1)``),
    instead of the whole composition at once. The check still compares with the declared
    forward, so the split cannot change what is derived."""
    deep = [
        s
        for s in layer.statements
        if isinstance(s, Map) and _depth(name_known_functions(s.body)) >= SPLIT_DEPTH
    ]
    if not deep:
        return layer
    taken = {t.name for t in (*layer.tensors, *layer.values())} | {"dout"}
    statements: list[Statement] = []
    for s in layer.statements:
        statements += _chain(s, taken) if s in deep else [s]
    return replace(layer, statements=tuple(statements))


def _chain(s: Statement, taken: set[str]) -> list[Statement]:
    """One map as a chain of maps: each call that another call reads becomes a statement."""
    out: list[Statement] = []
    operands = list(s.operands)
    named: dict[sympy.Expr, sympy.Symbol] = {}

    def visit(e: sympy.Expr, top: bool) -> sympy.Expr:
        if not e.args:
            return e
        e = e.func(*(visit(a, False) for a in e.args))
        if top or not _is_call(e):
            return e
        if e not in named:
            tensor = Tensor(_fresh(f"u{len(named) + 1}", s.target.name, taken), s.target.axes)
            out.append(Map.of(tensor, e, tuple(operands)))
            operands.append(tensor)
            named[e] = tensor.symbol
        return named[e]

    body = visit(name_known_functions(s.body), True)
    return [*out, Map.of(s.target, body, tuple(operands))]


def _is_call(e: sympy.Basic) -> bool:
    return isinstance(e, sympy.Function) and not isinstance(e, rsum)


def _depth(e: sympy.Basic) -> int:
    """How deep calls nest in ``e``: ``σ(x)`` is 1, ``σ(σ(x))`` 2."""
    inner = max((_depth(a) for a in e.args), default=0)
    return inner + 1 if _is_call(e) else inner


# --- maps ---------------------------------------------------------------------------------------


def _derived_by_map(s: Statement) -> bool:
    """A map, or a sum or mean of an expression (its body is an elementwise map), that reads
    something with a gradient."""
    reads = any(o.differentiable or o.role == "value" for o in s.operands)
    if isinstance(s, Map):
        return reads
    if isinstance(s, Reduce) and s.op in ("sum", "mean"):
        return reads and not size_factor(s.body)[1].is_Symbol
    return False


def size_factor(body: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """``(c, rest)`` with ``body = c·rest`` and ``c`` a product of axis sizes (a mean's 1/N)."""
    c, rest = [], []
    for f in sympy.Mul.make_args(body):
        (c if f.free_symbols and all(_is_size(s) for s in f.free_symbols) else rest).append(f)
    return sympy.Mul(*c), sympy.Mul(*rest)


def _is_size(s: sympy.Basic) -> bool:
    return bool(s.is_integer and s.is_positive and s.name.isupper())


def map_spec(layer: Layer, s: Statement) -> MapSpec:
    """The map machinery's view of a statement's body: the operands that need a gradient are
    its inputs, targets and random tensors are held (probed, not differentiated), constants
    fixed at their defaults for probing (the derivative itself holds for every value). A
    reduction's body has no output to write its derivative in."""
    constants = dict(layer.constants)
    inputs = tuple(o.symbol for o in s.operands if o.differentiable or o.role == "value")
    held = tuple(o.symbol for o in s.operands if o.role in ("target", "random", "state"))
    fixed = tuple(
        (o.symbol, constants[o.name])
        for o in s.operands
        if o.role == "const" and o.name in constants
    )
    body = size_factor(s.body)[1]
    positive = tuple(o.name for o in s.operands if o.role == "const" and o.name in layer.positive)
    return MapSpec(
        layer.name,
        inputs,
        body,
        s.target.symbol,
        held,
        fixed,
        layer.doc,
        isinstance(s, Map),
        positive,
    )


@dataclass(frozen=True)
class Extra:
    """A value the backward reads that the forward computes besides the declared ones: a mask
    (``mask = x > 0``) or a shared subexpression (SiLU's ``sig = σ(x)``)."""

    tensor: Tensor
    expr: sympy.Expr
    old: sympy.Symbol  # the map machinery's name for it


def _extras(
    layer: Layer, maps: Mapping[str, MapDerivation], scope: Scope
) -> dict[str, list[Extra]]:
    """Each map's masks and shared values, named uniquely in the layer."""
    taken = {t.name for t in (*layer.tensors, *layer.values())} | {"dout"}
    out: dict[str, list[Extra]] = {}
    for target, md in maps.items():
        statement = layer.statement_of(target)
        span = [*statement.target.axes, *statement.summed]
        extras = []
        for symbol, expr in {**md.masks, **md.intermediates}.items():
            name = _fresh(symbol.name, target, taken)
            axes = tuple(a for a in span if a in scope.axes_of(expr))
            extras.append(Extra(Tensor(name, axes, "value"), expr, symbol))
        out[target] = extras
    return out


def _fresh(base: str, target: str, taken: set[str]) -> str:
    names = (f"{target}_{base}{k}" for k in itertools.count(2))
    name = next(n for n in itertools.chain([base, f"{target}_{base}"], names) if n not in taken)
    taken.add(name)
    return name


def _forward_program(
    layer: Layer, maps: Mapping[str, MapDerivation], extras: Mapping[str, list[Extra]]
) -> tuple[Statement, ...]:
    """The forward as generated code computes it (see the module docstring)."""
    out: list[Statement] = []
    for s in layer.statements:
        md = maps.get(s.target.name)
        if md is None:
            out.append(_stable_statement(layer, s))
            continue
        mine = extras.get(s.target.name, [])
        names = {e.old: e.tensor.symbol for e in mine}
        for e in mine:
            out.append(Map.of(e.tensor, e.expr.xreplace(names), s.operands))
        known = {e.expr: e.tensor.symbol for e in mine}
        body = clamped(md.stable_forward).xreplace(known).xreplace(names)
        operands = (*s.operands, *(e.tensor for e in mine))
        if isinstance(s, Map):  # the map machinery saw the body without its size factor
            out.append(Map.of(s.target, body * size_factor(s.body)[0], operands))
        else:
            body = _cheapest(body) * size_factor(s.body)[0]
            used = {v.name for v in body.free_symbols}
            statement = replace(s, body=body, operands=tuple(o for o in operands if o.name in used))
            out.append(_stable_statement(layer, statement))
    return tuple(out)


def _first_masks(
    layer: Layer, forward: tuple[Statement, ...]
) -> tuple[tuple[Statement, ...], dict[tuple[str, str], sympy.Expr]]:
    """After each max reduction whose ties go to the first maximum, the one-hot mask of that
    maximum (the book's ``arg_max``), which its gradient is routed through."""
    taken = {t.name for t in (*layer.tensors, *layer.values())} | {"dout"}
    out: list[Statement] = []
    locals_: dict[tuple[str, str], sympy.Expr] = {}
    for s in forward:
        if isinstance(s, Reduce) and s.op == "max" and s.ties == "first":
            axes = tuple(dict.fromkeys(a for o in s.operands for a in o.axes))
            mask = Tensor(_fresh("argmax", s.target.name, taken), axes, "value")
            out.append(FirstMax.of(mask, s))
            for o in s.operands:
                locals_[(s.target.name, o.name)] = sympy.diff(s.body, o.symbol) * mask.symbol
        out.append(s)
    return tuple(out), locals_


def _cheapest(e: sympy.Expr) -> sympy.Expr:
    """A reduction's body as written, expanded, or with its softplus tails merged, whichever
    costs fewer array operations (binary cross-entropy needs one exp, not two). The check
    compares the forward it gives with the declared one."""
    return cheapest_form(e, sympy.expand(e), softplus_tails_merged(e))


def _stable_statement(layer: Layer, s: Statement) -> Statement:
    """``log(y)`` of a softmax ``y = exp(u)/Σ exp`` as ``u - log(Σ exp)``: the same value,
    finite where ``y`` underflows to 0."""
    body = s.body
    for call in sorted(body.atoms(sympy.log), key=sympy.default_sort_key):
        (arg,) = call.args
        definition = layer.statement_of(arg.name) if isinstance(arg, sympy.Symbol) else None
        if not isinstance(definition, Map):
            continue
        expanded = _log_of_softmax(layer, definition.body)
        if expanded is not None:
            body = body.xreplace({call: expanded})
    if body == s.body:
        return s
    operands = {t.name: t for t in layer.tensors} | {t.name: t for t in layer.values()}
    used = [operands[v.name] for v in sorted(body.free_symbols, key=str) if v.name in operands]
    return replace(s, body=body, operands=tuple(used))


def _log_of_softmax(layer: Layer, body: sympy.Expr) -> sympy.Expr | None:
    """``log(exp(u)·Π s**k)`` as ``u + Σ k·log(s)``, each ``s`` a sum of exponentials."""
    terms = []
    for factor in sympy.Mul.make_args(body):
        base, power = factor.as_base_exp()
        if isinstance(factor, sympy.exp):
            terms.append(factor.args[0])
        elif base.is_Symbol and power.is_Integer and _sum_of_exponentials(layer, base):
            terms.append(power * sympy.log(base))
        else:
            return None
    return sympy.Add(*terms)


def _sum_of_exponentials(layer: Layer, symbol: sympy.Symbol) -> bool:
    s = layer.statement_of(symbol.name)
    if not (isinstance(s, Reduce) and s.op in ("sum", "mean")):
        return False
    return isinstance(size_factor(s.body)[1], sympy.exp)


def _locals(
    layer: Layer, maps: Mapping[str, MapDerivation], extras: Mapping[str, list[Extra]]
) -> dict[tuple[str, str], sympy.Expr]:
    """``(target, operand) -> ∂body/∂operand`` from the map machinery, in the extras' names."""
    out = {}
    for target, md in maps.items():
        names = {e.old: e.tensor.symbol for e in extras.get(target, [])}
        coefficient = size_factor(layer.statement_of(target).body)[0]
        for g in md.gradients:
            local = g.expr.xreplace(names).xreplace({dout: 1})
            out[(target, g.wrt.name)] = coefficient * local
    return out


# --- gradients ----------------------------------------------------------------------------------


def _gradient(
    layer: Layer,
    program: Layer,
    backward: Backward,
    tensor: Tensor,
    scope: Scope,
    facts: Facts,
    maps: Mapping[str, MapDerivation],
    kept: frozenset[sympy.Symbol] = frozenset(),
) -> Gradient:
    steps = [s for s in backward.steps if s.operand.name == tensor.name]
    if not steps:
        raise DerivationError(
            tr(
                "{layer}: the output does not depend on {name}; a gradient of 0 everywhere is "
                "almost always a mistake in the declaration"
            ).format(layer=layer.name, name=tensor.name)
        )
    local = None
    if len(layer.statements) == 1 and maps:
        (md,) = maps.values()
        local = next((g for g in md.gradients if g.wrt.name == tensor.name), None)
    direct = len(steps) == 1 and steps[0].gradient.name == "dout"
    if direct:  # one statement from dout: the map machinery's form is the compact one
        expr = steps[0].contribution
        return Gradient(tensor, expr, expr, local=local)
    result = compact(program, backward, tensor, scope, facts, _cost, kept)
    staged_expr = backward.gradients[tensor.name]
    return Gradient(tensor, result.expr, staged_expr, result.facts, result.rewrites, local)


def _stage_names(layer: Layer, backward: Backward) -> tuple[str, ...]:
    """The intermediate values whose gradients stay named: a contraction's operand or result
    that is neither an argument nor the output (attention's ``p`` and ``scores``), in the
    order backward reaches them. Written out, their gradients would multiply arrays whose
    axes do not line up (``Σ_s k·p·Σ_e dout·v``)."""
    gathered = {s.target.name for s in layer.statements if isinstance(s, Gather)}
    values = {t.name for t in layer.values()} - gathered  # a gather's gradient is its own rule
    names = []
    for s in reversed(layer.statements):
        if not isinstance(s, Contract):
            continue
        for n in [s.target.name, *(o.name for o in s.operands)]:
            e = backward.gradients.get(n)
            if n in values and n in backward.grad_tensors and e is not None and not e.is_Symbol:
                names.append(n)
    return tuple(dict.fromkeys(names))


def _stage(
    program: Layer,
    backward: Backward,
    name: str,
    scope: Scope,
    facts: Facts,
    kept: frozenset[sympy.Symbol],
) -> Gradient:
    tensor = next(t for t in program.values() if t.name == name)
    result = compact(program, backward, tensor, scope, facts, _cost, kept)
    return Gradient(tensor, result.expr, backward.gradients[name], result.facts, result.rewrites)


def _cost(e: sympy.Expr) -> int:
    """A cheap stand-in for the printed code's cost: operations, a sum as five."""
    return int(sympy.count_ops(e)) + 4 * sum(1 for _ in e.atoms(rsum))


def _saved(
    layer: Layer, forward: tuple[Statement, ...], gradients: list[Gradient]
) -> tuple[Tensor, ...]:
    """What ``forward`` must keep for ``backward``, in the order it computes them (a stage's
    gradient ``dp`` is computed by backward, not saved)."""
    needed = set().union(*(g.expr.free_symbols for g in gradients))
    needed -= {sympy.Symbol(g.name) for g in gradients}
    names = {s.name for s in needed}
    order = [
        *layer.inputs,
        *layer.targets,
        *layer.with_role("random"),
        *(s.target for s in forward),
    ]
    return tuple(t for t in dict.fromkeys(order) if t.name in names)


# --- the check ---------------------------------------------------------------------------------


def _check(
    layer: Layer, program: Layer, gradients: list[Gradient], stages: list[Gradient] = ()
) -> tuple[tuple[dict[str, int], ...], tuple[str, ...]]:
    """Every gradient against plain differentiation of the declared forward (module docstring),
    the stages it reads computed from their own formulas: the sizes, and how it went at each."""
    checked, how = [], []
    for k, size in enumerate(CHECK_SIZES):
        fixed = structural_values(layer, k)  # stride, padding, window sizes
        sizes, method = _check_at(layer, program, gradients, k, size, fixed, stages)
        checked.append(sizes | fixed)
        how.append(method)
    return tuple(checked), tuple(how)


def _check_at(
    layer: Layer,
    program: Layer,
    gradients: list[Gradient],
    k: int,
    size: int,
    fixed: dict[str, int],
    stages: list[Gradient] = (),
) -> tuple[dict[str, int], str]:
    sizes = check_sizes(layer, size, k)
    declared = Concrete.of(layer, sizes, fixed)
    computed = Concrete.of(program, sizes, fixed)
    computed.with_stages(stages)  # dp, then dscores from it
    sizes = declared.sizes
    points = [random_point(declared, seed) for seed in (size, size + 100)]
    method = _check_by_evaluation(layer, declared, computed, gradients, k, sizes, points)
    if method:
        return sizes, method
    output = layer.output.name
    compared: set[sympy.Expr] = set()  # elements the same up to names: compared once
    for index, want in declared.values[output].items():
        got = computed.values[output][index]
        key = _canonical(got - want)
        if key not in compared:
            _agree(layer, None, index, sizes, got, [want] * len(points), points)
            compared.add(key)
    maxima = any(isinstance(s, Reduce) and s.op == "max" for s in layer.statements)
    for g in gradients:
        # With a maximum in the layer: at the first size SymPy's own derivative (Heaviside
        # steps), exact away from ties, where the proofs' regions are; at the second, the
        # derivative at each point (no ties at random points). The tie-splitting form of
        # symgrad's convention grows exponentially with a window's size.
        if maxima and k > 0:
            at_points = [gradient_at(declared, g.wrt.name, p) for p in points]
            plain = at_points[0]
        else:
            plain = plain_gradient(declared, g.wrt.name, raw=maxima)
            at_points = [plain] * len(points)
        # A one-map layer's gradient was proven equal to the plain derivative as a scalar
        # identity (symgrad.local); at concrete sizes it only repeats, so 40 digits suffice.
        proven = g.local is not None and g.expr == g.staged
        proofs: set[sympy.Expr] = set()
        for index, want in plain.items():
            got = computed.evaluate(g.expr, dict(zip(g.wrt.axes, index)))
            wants = [w[index] for w in at_points]
            if k == 0 and not proven:
                # One element per class of elements that are the same expression up to the
                # names of their symbols: compared at the points, then proven; the others
                # are the same identity.
                key = _canonical(got - want)
                if key not in proofs:
                    _agree(layer, g, index, sizes, got, wants, points)
                    _prove(layer, g, index, sizes, got, want)  # away from ties: see _zero
                    proofs.add(key)
                continue
            if not maxima:  # the same identity as an element already compared
                key = _canonical(got - want)
                if key in compared:
                    continue
                compared.add(key)
            _agree(layer, g, index, sizes, got, wants, points)
    if k > 0:
        return sizes, IN_DIGITS
    if all(g.local is not None and g.expr == g.staged for g in gradients):
        return sizes, PROVEN_AS_SCALAR_IDENTITY
    if maxima:
        return sizes, PROVEN_AWAY_FROM_TIES
    return sizes, PROVEN_BY_ALGEBRA


def _check_by_evaluation(
    layer: Layer,
    declared: Concrete,
    computed: Concrete,
    gradients: list[Gradient],
    k: int,
    sizes: dict[str, int],
    points: list[dict],
) -> str:
    """The check by evaluation (:mod:`symgrad.identity`), where the declared forward is rational
    in its elements and their exponentials, logarithms and roots: the forward as generated code
    computes it, and every gradient element, equal to plain reverse-mode differentiation of
    ``L = Σ dout ⊙ output`` in 40 digits at ``points`` and exactly modulo a prime at random
    points (an identity, up to a chance below 2⁻¹⁰⁰). An element the modular test cannot show
    equal (its exponentials related, ``exp(2u) = exp(u)²``) is proven by SymPy's algebra at the
    first size, and compared at the points at the second. False when the layer is not of this
    kind (a maximum, a kink, a declared fact), for the symbolic check; else how it went."""
    if layer.facts or any(isinstance(s, Reduce) and s.op == "max" for s in layer.statements):
        return ""
    output = layer.output.name
    loss = _loss(declared)
    forward = [(computed.values[output][i], want) for i, want in declared.values[output].items()]
    rows = [
        (g, index, computed.evaluate(g.expr, dict(zip(g.wrt.axes, index))), symbol)
        for g in gradients
        for index, symbol in declared.elements[g.wrt.name].items()
    ]
    wrt = [symbol for *_, symbol in rows]
    try:
        zero = identities(forward, loss=loss, derivatives=[(r[2], r[3]) for r in rows], seed=k)
        numbers = []
        for point in points:
            exprs = [e for pair in forward for e in pair] + [r[2] for r in rows]
            numbers.append(real_values(point, exprs, loss, wrt))
    except Unsupported:
        return ""
    pairs = len(forward)
    for values, slopes in numbers:
        for j, (got, want) in enumerate(zip(values[0 : 2 * pairs : 2], values[1 : 2 * pairs : 2])):
            if not close(got, want):
                index = list(declared.values[output])[j]
                raise _disagreement(layer, None, index, sizes, got, want)
        for (g, index, *_), got, want in zip(rows, values[2 * pairs :], slopes):
            if not close(got, want):
                raise _disagreement(layer, g, index, sizes, got, want)
    shown = sum(zero[pairs:])
    if shown == len(rows):
        return PROVEN_BY_IDENTITY_TEST
    if k > 0:
        return PARTLY_PROVEN_BY_IDENTITY_TEST.format(shown=shown, total=len(rows))
    for (g, index, got, symbol), z in zip(rows, zero[pairs:]):
        if not z:  # what the modular test could not show, SymPy's algebra proves
            _prove(layer, g, index, sizes, got, differentiate(loss, symbol))
    return PROVEN_BY_IDENTITY_TEST_AND_ALGEBRA


def _loss(c: Concrete) -> sympy.Expr:
    out = c.values[c.layer.output.name]
    return sympy.Add(*(c.values["dout"][k] * v for k, v in out.items()))


def _zero(e: sympy.Expr) -> bool:
    """``e`` is proven 0; with a maximum in it, on every region where one argument is the
    strict maximum (the others below it by positive amounts), which leaves out only ties."""
    maxima = sorted(e.atoms(sympy.Max), key=sympy.default_sort_key)
    if not maxima:
        return prove_equal(e, sympy.S.Zero)
    arguments = [set(m.args) for m in maxima]
    disjoint = sum(map(len, arguments)) == len(set().union(*arguments))
    simple = all(a.is_Symbol for m in maxima for a in m.args)
    if simple and not disjoint:
        widest = max(arguments, key=len)
        if all(a <= widest for a in arguments):  # a window's maximum and its parts
            return all(_zero_where(e, top, widest) for top in sorted(widest, key=str))
    if len(maxima) > 4 or not (disjoint and simple):  # regions not a product: no shortcut
        return prove_equal(e, sympy.S.Zero)
    for winners in itertools.product(*(m.args for m in maxima)):
        below = {
            a: top - sympy.Symbol(f"gap_{a.name}", positive=True)
            for m, top in zip(maxima, winners)
            for a in m.args
            if a != top
        }
        if not prove_equal(e.xreplace(below), sympy.S.Zero):
            return False
    return True


def _zero_where(e: sympy.Expr, top: sympy.Symbol, window: set[sympy.Symbol]) -> bool:
    """``e`` is 0 where ``top`` is the strict maximum of ``window``: each other element is
    ``top - gap`` with ``gap > 0``, so the maximum of any of them is ``top - min(gaps)``."""
    below = {a: top - sympy.Symbol(f"gap_{a.name}", positive=True) for a in window if a != top}
    e = e.xreplace(below)

    def lower(*args: sympy.Expr) -> sympy.Expr:
        gaps = [sympy.expand(top - a) for a in args]
        if all(g.is_positive for g in gaps):
            return top - sympy.Min(*gaps)
        return sympy.Max(*args)

    e = e.replace(sympy.Max, lower)
    return prove_equal(e, sympy.S.Zero)


def _canonical(e: sympy.Expr) -> sympy.Expr:
    """``e`` with its element symbols renamed in order of first appearance: two elements of an
    elementwise statement give the same expression, and need one proof."""
    names: dict[sympy.Symbol, sympy.Symbol] = {}
    for s in sympy.preorder_traversal(e):
        if isinstance(s, sympy.Symbol) and s not in names:
            names[s] = sympy.Symbol(f"_e{len(names)}", **s.assumptions0)
    return e.xreplace(names)


def check_sizes(layer: Layer, size: int, k: int) -> dict[str, int]:
    """Every axis at ``size``; at the second size, axes alternate between it and one less, so
    that no two axes of different roles are confused by having the same size. Axes a window
    slides along grow until every declared size (a convolution's output) is at least 1, and
    at the second size at least 2, so that windows overlap or stride there."""
    axes = sorted({a for t in (*layer.tensors, *layer.values()) for a in t.axes})
    if k == 0:
        sizes = {a: size for a in axes}
    else:
        sizes = {a: size if j % 2 == 0 else size - 1 for j, a in enumerate(axes)}
    if not layer.sizes:
        return sizes
    fixed = structural_values(layer, k)
    sliding = {a for s in layer.statements if isinstance(s, Gather) for a in s.sliding()}
    for _ in range(12):
        try:
            derived = derived_sizes(layer, sizes, fixed, least=1 + k)
            return sizes | derived
        except ValueError as err:  # the axes in the size that came out too small grow
            axis = str(err.args[1]) if len(err.args) > 1 else ""
            expr = dict(layer.sizes).get(axis, sympy.S.Zero)
            grow = {a for a in sliding if axis_size(a) in expr.free_symbols} or sliding
            sizes = {a: v + (a in grow) for a, v in sizes.items()}
    return sizes | derived_sizes(layer, sizes, fixed)


def _agree(
    layer: Layer,
    g: Gradient | None,
    index: tuple[int, ...],
    sizes: dict[str, int],
    got: sympy.Expr,
    wants: list[sympy.Expr],
    points: list[dict],
) -> None:
    for point, want in zip(points, wants):
        if not agree_at(got, want, point):
            a = sympy.N(got.xreplace(point), _DIGITS)
            b = sympy.N(want.xreplace(point), _DIGITS)
            raise _disagreement(layer, g, index, sizes, a, b)


def _disagreement(
    layer: Layer,
    g: Gradient | None,
    index: tuple[int, ...],
    sizes: dict[str, int],
    a: object,
    b: object,
) -> DerivationError:
    where = ", ".join(f"{a}={v}" for a, v in sizes.items())
    values = {
        "layer": layer.name,
        "sizes": where,
        "element": list(index),
        "got": sympy.N(a, 8),
        "want": sympy.N(b, 8),
    }
    if g is None:
        message = tr(
            "{layer}: the forward as generated code computes it disagrees with the declared one "
            "at {sizes}, element {element} ({got} vs {want}); symgrad does not return it"
        )
        return DerivationError(message.format(**values))
    message = tr(
        "{layer}: {gradient} = {formula} disagrees with plain differentiation at {sizes}, "
        "element {element} ({got} vs {want}); symgrad does not return it"
    )
    return DerivationError(message.format(gradient=g.name, formula=g.expr, **values))


def _prove(
    layer: Layer,
    g: Gradient,
    index: tuple[int, ...],
    sizes: dict[str, int],
    got: sympy.Expr,
    want: sympy.Expr,
) -> None:
    difference = with_facts(layer, got - want, sizes)
    if difference != 0 and not _zero(difference):
        where = ", ".join(f"{a}={v}" for a, v in sizes.items())
        raise DerivationError(
            tr(
                "{layer}: {gradient} could not be proven equal to plain differentiation at "
                "{sizes}, element {element}"
            ).format(layer=layer.name, gradient=g.name, sizes=where, element=list(index))
        )


def with_facts(layer: Layer, e: sympy.Expr, sizes: dict[str, int]) -> sympy.Expr:
    """``e`` with each declared fact used: the last element of a row that sums to ``v`` is
    ``v`` minus the others."""
    if not layer.facts:
        return e
    c = Concrete.of(layer, sizes)
    values = {}
    for fact in layer.facts:
        tensor = layer.tensor(fact.tensor)
        rest = tuple(a for a in tensor.axes if a not in fact.axes)
        for outer in c.indices(rest):
            row = []
            for inner in c.indices(fact.axes):
                at = dict(zip(rest, outer)) | dict(zip(fact.axes, inner))
                row.append(c.elements[tensor.name][tuple(at[a] for a in tensor.axes)])
            values[row[-1]] = fact.value - sympy.Add(*row[:-1])
    return e.xreplace(values) if values else e


# --- what the derivation states ---------------------------------------------------------------


def _conventions(layer: Layer, maps: Mapping[str, MapDerivation]) -> tuple[str, ...]:
    out = [c for md in maps.values() for c in md.conventions]
    for s in layer.statements:
        if isinstance(s, Reduce) and s.op == "max":
            out.append(TIES_TO_FIRST if s.ties == "first" else TIES_SPLIT_EVENLY)
    return tuple(dict.fromkeys(out))


def _domain(layer: Layer, maps: Mapping[str, MapDerivation]) -> str:
    """Where the forward is defined, for the maps that read only the layer's inputs."""
    parts = []
    for target, md in maps.items():
        s = layer.statement_of(target)
        if all(o.role in ("input", "const", "param") for o in s.operands):
            text = md.domain  # stated for real operands: 1 + exp(-x) > 0 says nothing
            if text and text not in parts:
                parts.append(text)
    return "; ".join(parts)


def _accuracy(maps: Mapping[str, MapDerivation]) -> Accuracy | None:
    """A one-map layer's measured accuracy (other layers are measured by the accuracy tests)."""
    if len(maps) != 1:
        return None
    (md,) = maps.values()
    return md.accuracy


def _shifts(program: Layer, saved: tuple[Tensor, ...]) -> tuple[tuple[str, str], ...]:
    """``(input, axis)`` pairs along which adding a constant leaves the output and every saved
    value unchanged (softmax along its row), proven at size 3: generated code subtracts the
    maximum there, so that ``exp`` cannot overflow."""
    if not any(s.body.has(sympy.exp) for s in program.statements):
        return ()
    kept = [program.output.name, *(t.name for t in saved if t.role == "value")]
    out = []
    if not any(t.role == "input" for t in saved):
        for x in program.inputs:
            for axis in x.axes:
                if axis != ELLIPSIS and _invariant(program, x, axis, kept):
                    out.append((x.name, axis))
    if not out:
        out += _value_shifts(program, saved)
    return tuple(out)


def _value_shifts(program: Layer, saved: tuple[Tensor, ...]) -> list[tuple[str, str]]:
    """The same for a value the forward computes and an exponential then reads (attention's
    ``scores``): the statements after it, as a layer with that value as its input, unchanged
    by adding a constant along an axis; the value itself not saved."""
    out = []
    saved_names = {t.name for t in saved}
    for j, s in enumerate(program.statements):
        later = program.statements[j + 1 :]
        v = s.target
        reads = [st for st in later if v.name in {o.name for o in st.operands}]
        if v.name in saved_names or not any(exp_of(st.body, v.symbol) for st in reads):
            continue
        made = {st.target.name for st in later}
        operands = {o.name: o for st in later for o in st.operands if o.name not in made}
        inputs = [replace(v, role="input")]
        others = [replace(o, role="input") if o.role == "value" else o for o in operands.values()]
        tail = replace(
            program,
            statements=later,
            tensors=(*inputs, *(o for o in others if o.name != v.name)),
        )
        kept = [program.output.name, *(t.name for t in saved if t.name in made)]
        for axis in v.axes:
            if axis != ELLIPSIS and _invariant(tail, inputs[0], axis, kept):
                out.append((v.name, axis))
    return out


def exp_of(e: sympy.Expr, v: sympy.Symbol) -> bool:
    """Does ``e`` take an exponential of something that reads ``v``?"""
    return any(v in f.free_symbols for f in e.atoms(sympy.exp))


def _invariant(layer: Layer, x: Tensor, axis: str, kept: list[str]) -> bool:
    sizes = {a: 3 for t in (*layer.tensors, *layer.values()) for a in t.axes}
    c = Concrete.of(layer, sizes)
    rest = tuple(a for a in x.axes if a != axis)
    shift = {
        index: sympy.Symbol("c_" + "_".join(map(str, index)), real=True)
        for index in c.indices(rest)
    }
    moved = {}
    for index, symbol in c.elements[x.name].items():
        at = dict(zip(x.axes, index))
        moved[symbol] = symbol + shift[tuple(at[a] for a in rest)]
    rng = random.Random(5)
    point = random_point(c, 5) | {
        s: sympy.Float(rng.uniform(-2, 2), _DIGITS) for s in shift.values()
    }
    pairs = [(v, v.xreplace(moved)) for name in kept for v in c.values[name].values()]
    if not all(agree_at(after, before, point) for before, after in pairs):
        return False
    # Logarithms expanded with force: exact where the forward is real (their arguments
    # positive); the 40-digit comparison above assumes nothing. Elements that are the same
    # expression up to the names of their symbols (each row of a softmax) need one proof.
    distinct = {_canonical(after - before): (before, after) for before, after in pairs}
    return all(
        prove_equal(_logs_split(after), _logs_split(before)) for before, after in distinct.values()
    )


def _logs_split(e: sympy.Expr) -> sympy.Expr:
    """``log(Σ exp(x + c))`` as ``c + log(Σ exp(x))``: the common factor out of each
    logarithm's argument, then the logarithm of the product split."""
    e = sympy.expand_power_exp(e)
    e = e.replace(
        lambda a: isinstance(a, sympy.log), lambda a: sympy.log(sympy.factor_terms(a.args[0]))
    )
    return sympy.expand_log(e, force=True)


__all__ = [
    "CHECK_SIZES",
    "Derivation",
    "Gradient",
    "check_sizes",
    "derive",
    "map_spec",
    "with_facts",
]
