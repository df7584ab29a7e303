"""``symgrad check``: every layer verified three independent ways.

For each layer:

1. **symbolic**: the derived backward is proven equal to the textbook's formula
   (:func:`symgrad.textbook.formulas`, typed in by hand);
2. **vs hand-written**: the generated class and the hand-written one
   (:data:`symgrad.textbook.LAYERS`) agree on forward and backward for random float64 inputs;
3. **vs numerical**: :func:`symgrad.gradcheck` passes on the generated class with a random
   upstream gradient.

Layers without a hand-written reference (a user's ``--expr`` layer) get the numerical check only.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from symgrad import textbook
from symgrad.codegen import generate, load, seeded
from symgrad.concrete import Concrete, random_point, structural_values
from symgrad.constants import exact
from symgrad.engine import CHECK_SIZES, Derivation, check_sizes, derive, with_facts
from symgrad.errors import SymgradError
from symgrad.i18n import N_, tr
from symgrad.i18n import display_width as _width
from symgrad.identity import Unsupported, identities, real_values
from symgrad.language import declare
from symgrad.names import grad_name, gradient_of
from symgrad.proofs import DIGITS as _DIGITS
from symgrad.proofs import agree_at, close, prove_equal
from symgrad.sampling import build, sample
from symgrad.statements import Gather
from symgrad.tensors import axis_size, index_axis
from symgrad.verify import check_layer

AGREE = 1e-12  # generated vs hand-written: the same formulas, up to rounding


@dataclass(frozen=True)
class Row:
    layer: str
    symbolic: str
    forward: float | None
    backward: float | None
    numerical: float
    passed: bool
    detail: str = ""


def check_all(derivations: list[Derivation], seed: int = 0) -> list[Row]:
    """Check each derivation; one :class:`Row` per layer."""
    module = load(generate(derivations))
    formulas = textbook.formulas()
    rows = []
    for d in derivations:
        cls = getattr(module, d.name)
        rows.append(_check(d, seeded(cls) if d.spec.draws else cls, formulas.get(d.name), seed))
    return rows


def _check(d: Derivation, generated: type, formula: dict | None, seed: int) -> Row:
    rng = np.random.default_rng(seed)
    params, inputs = sample(d, rng)
    symbolic = _symbolic(d, formula)
    reference = textbook.LAYERS.get(d.name) if formula is not None else None
    fwd = bwd = None
    if reference is not None:
        if d.spec.draws:
            reference = seeded(reference)
        gen, ref = build(generated, d, params), build(reference, d, params)
        fwd, bwd = _agreement(gen, ref, inputs, rng)
    report = check_layer(build(generated, d, params), *inputs, seed=seed)
    passed = symbolic in (PROVEN, DIGITS, NO_REFERENCE) and report.passed
    passed = passed and all(v is None or v <= AGREE for v in (fwd, bwd))
    detail = "" if report.passed else report.message()
    return Row(d.name, symbolic, fwd, bwd, report.worst, passed, detail)


def _symbolic(d: Derivation, formula: dict | None) -> str:
    """Is the derived gradient of every input and parameter equal to the hand-written formula?"""
    if formula is None:
        return NO_REFERENCE
    verdicts = set()
    for g in d.gradients:
        expected = formula.get(g.wrt.name)
        verdict = formula_agrees(d, g.wrt.name, expected) if expected is not None else ""
        if not verdict:
            return DIFFERS
        verdicts.add(verdict)
    return DIGITS if DIGITS in verdicts else PROVEN


# The symbolic verdicts: English keys (compared, and read by docs.py); tr() them to show them.
PROVEN = N_("proven")
DIGITS = N_("agree in 40 digits")
DIFFERS = N_("differs")
NO_REFERENCE = N_("no reference")


def formula_agrees(d: Derivation, wrt: str, text: str) -> str:
    """Is ``d<wrt>`` equal to the formula ``text`` at every concrete size the engine checks?

    ``text`` is the right-hand side of the gradient in the declaration language, in ``dout``,
    the layer's tensors and the values its forward computes (``gamma[d] / std[d] * (dout[n, d]
    - mean_n(dout[n, d]) - ...)``); an elementwise layer's formula may leave out the indices
    (``dout * y * (1 - y)``). Both sides are written out element by element in the layer's
    inputs, symbolically at the first size (with the declared facts used) and in 40-digit
    arithmetic at two random points at every size. Returns ``"proven"``, ``"agree in 40
    digits"`` where the numbers agree everywhere but SymPy cannot finish the proof (Huber's
    ``sign`` against a comparison), or ``""`` for a formula that differs.
    """
    g = d.gradient(wrt)
    program = replace(d.spec, statements=d.forward)
    reference = _formula_layer(d, g.wrt.name, g.wrt.axes, text)
    if d.is_map and reference.is_elementwise:
        return _scalar_agrees(d, g.expr, reference.statements[0].body)
    verdict = PROVEN
    for k, size in enumerate(CHECK_SIZES):
        sizes = _read_sizes(reference, check_sizes(d.spec, size, k))
        fixed = structural_values(d.spec, k)  # stride, padding, window sizes
        computed = Concrete.of(program, sizes, fixed)
        computed.with_stages(d.stages)
        expected = Concrete.of(reference, sizes, fixed)
        known = _in_inputs(computed, expected)
        points = [random_point(computed, seed) for seed in (size, size + 100)]
        pairs = []
        for index, want in expected.values[f"d{wrt}"].items():
            got = computed.evaluate(g.expr, dict(zip(g.wrt.axes, index)))
            pairs.append((got, want.xreplace(known).xreplace(_sizes(want, sizes))))
        if not _agree_everywhere(pairs, points):
            return ""
        if k == 0 and verdict == PROVEN:
            verdict = _proven(d, pairs, sizes)
    return verdict


def _agree_everywhere(pairs: list[tuple[sympy.Expr, sympy.Expr]], points: list[dict]) -> bool:
    """Each pair equal at each point in 40 digits (evaluated once per point where it can be,
    :mod:`symgrad.identity`)."""
    for point in points:
        try:
            values, _ = real_values(point, [e for pair in pairs for e in pair])
        except Unsupported:
            if not all(agree_at(got, want, point) for got, want in pairs):
                return False
            continue
        if not all(close(got, want) for got, want in zip(values[0::2], values[1::2])):
            return False
    return True


def _proven(d: Derivation, pairs: list[tuple[sympy.Expr, sympy.Expr]], sizes: dict) -> str:
    """PROVEN when every pair is an identity: by the modular identity test where it can show
    it (:mod:`symgrad.identity`), else by SymPy's algebra with the declared facts used."""
    zero = [False] * len(pairs)
    if not d.spec.facts:
        with contextlib.suppress(Unsupported):  # a maximum, a kink: SymPy's algebra alone
            zero = identities(pairs)
    for (got, want), shown in zip(pairs, zero):
        difference = with_facts(d.spec, got - want, sizes)
        if not shown and difference != 0 and not prove_equal(difference, sympy.S.Zero):
            return DIGITS
    return PROVEN


def _scalar_agrees(d: Derivation, got: sympy.Expr, formula: sympy.Expr) -> str:
    """A one-map layer's gradient against an elementwise formula, as scalar expressions in
    the inputs (saved values written out): at random points in 40 digits, then proven."""
    want = formula.xreplace({sympy.Symbol(_UPSTREAM): sympy.Symbol("dout")})
    values = {s.target.symbol: s.body for s in d.forward}
    for _ in range(len(values) + 1):
        got, want = got.xreplace(values), want.xreplace(values)
    got, want = exact(got), exact(want)
    rng = np.random.default_rng(0)
    symbols = sorted(got.free_symbols | want.free_symbols, key=str)
    constants = {sympy.Symbol(n): exact(v) for n, v in d.spec.constants}
    for _ in range(4):
        point = {
            s: sympy.Float(rng.uniform(0.1, 2) * rng.choice([-1, 1]), _DIGITS) for s in symbols
        }
        point |= {s: v for s, v in constants.items() if s in point}
        if not agree_at(got, want, point):
            return ""
    return PROVEN if prove_equal(got, want) else DIGITS


def _formula_layer(d: Derivation, wrt: str, axes: tuple[str, ...], text: str) -> Any:
    """The formula as a one-statement layer ``d<wrt>[axes] = text``; ``dout`` is read as
    ``upstream`` (the language reserves ``dout``), axis sizes (``N``) as constants."""
    names = {t.name for t in d.spec.tensors} | {s.target.name for s in d.forward}
    names |= {"dout"} if d.output.axes else set()  # a loss's dout is one number
    constants = {n for n, _ in d.spec.constants}
    if "[" not in text:  # elementwise: every tensor at the same index
        text = re.sub(
            r"\b([A-Za-z_]\w*)\b(?!\s*\()",
            lambda m: m[1] if m[1] not in names or m[1] in constants else f"{m[1]}[...]",
            text,
        )
    text = re.sub(r"\bdout\b", _UPSTREAM, text)
    lhs = f"d{wrt}[{', '.join(axes)}]" if axes else f"d{wrt}"
    if any(isinstance(s, Gather) for s in d.spec.statements):  # tensors read at positions
        tensors = [*d.spec.tensors, *(s.target for s in d.forward)]
        tensors.append(replace(d.output, name=_UPSTREAM))
        used = [t for t in tensors if t.axes and re.search(rf"\b{t.name}\[", text)]
        lhs = "\n".join(f"{t.name}[{', '.join(t.axes)}]" for t in used) + f"\n{lhs}"
    sizes = {axis_size(a).name: 1.0 for t in d.spec.tensors for a in t.axes}
    constants = dict(d.spec.constants) | sizes
    name, source = f"{d.name}_d{wrt}", f"{lhs} = {text}"
    # With the layer's declared sizes where the formula needs them (a head's E = C // heads,
    # keys along s = T: C and T sizes then, not constants); a formula whose tensors carry
    # every size it reads (a convolution's oh) is declared as it is.
    declared = {a: _size_text(e) for a, e in d.spec.sizes}
    sized = {s.name for _, e in d.spec.sizes for s in e.free_symbols}
    if declared:
        with contextlib.suppress(SymgradError):
            kept = {n: v for n, v in constants.items() if n not in sized or n not in sizes}
            return declare(name, source, constants=kept, sizes=declared)
    try:
        return declare(name, source, constants=constants)
    except SymgradError as err:
        raise SymgradError(
            tr("{layer}: the textbook formula for {gradient} does not parse: {error}").format(
                layer=d.name, gradient=f"d{wrt}", error=err
            )
        ) from None


_UPSTREAM = "upstream"


def _read_sizes(reference: Any, sizes: dict[str, int]) -> dict[str, int]:
    """``sizes`` with each axis the formula alone names (a dummy ``j`` it reads ``p`` along)
    at the size of the axis it is read along."""
    out = dict(sizes)
    for s in reference.statements:
        if isinstance(s, Gather):
            for axis, position in zip(s.source.axes, s.indices):
                named = index_axis(position)
                if named is not None and named not in out and axis in out:
                    out[named] = out[axis]
    return out


class _SizeText(StrPrinter):
    def _print_floor(self, e: sympy.floor) -> str:
        top, bottom = sympy.fraction(e.args[0])
        return f"({self._print(top)}) // ({self._print(bottom)})"


def _size_text(e: sympy.Expr) -> str:
    """A declared size as the declaration language writes it (``C // heads``)."""
    return _SizeText().doprint(e)


def _sizes(e: sympy.Expr, sizes: dict[str, int]) -> dict[sympy.Symbol, sympy.Integer]:
    """The formula's axis sizes (``N``) at their concrete values."""
    by_name = {axis_size(a).name: n for a, n in sizes.items()}
    return {s: sympy.Integer(by_name[s.name]) for s in e.free_symbols if s.name in by_name}


def _in_inputs(computed: Concrete, expected: Concrete) -> dict[sympy.Symbol, sympy.Expr]:
    """The formula's element symbols as the layer computes them (``std_0`` as ``sqrt(...)``)."""
    out = {}
    for given, elements in expected.elements.items():
        name = "dout" if given == _UPSTREAM else given
        if name in computed.values and name != "dout":
            values = computed.values[name]
        elif name in computed.elements:
            values = computed.elements[name]
        else:
            continue
        for index, symbol in elements.items():
            if index in values:
                out[symbol] = values[index]
    return out


def _agreement(
    gen: Any, ref: Any, inputs: list[np.ndarray], rng: np.random.Generator
) -> tuple[float, float]:
    y_gen = gen.forward(*[a.copy() for a in inputs])
    y_ref = ref.forward(*[a.copy() for a in inputs])
    dout = rng.standard_normal(np.shape(y_gen))
    g_gen = _as_tuple(gen.backward(dout.copy()))
    g_ref = _as_tuple(ref.backward(dout.copy()))
    g_gen += tuple(getattr(gen, grad_name(p)) for p in _params(gen))
    g_ref += tuple(getattr(ref, grad_name(p), None) for p in _params(gen))
    fwd = _rel(y_gen, y_ref)
    bwd = max(_rel(a, b) for a, b in zip(g_gen, g_ref)) if len(g_gen) == len(g_ref) else np.inf
    return fwd, bwd


def _params(layer: Any) -> list[str]:
    return sorted(
        k for k in vars(layer) if grad_name(k) in vars(layer) and gradient_of(k) not in vars(layer)
    )


def _as_tuple(result: Any) -> tuple:
    """The input gradients ``backward`` returned: none for ``None`` (Embedding's)."""
    if result is None:
        return ()
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _rel(a: Any, b: Any) -> float:
    if b is None:
        return float("inf")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-300), initial=0.0))


def table(rows: list[Row]) -> str:
    """The verdict table that ``symgrad check`` prints."""
    head = (
        # TRANSLATORS: the headers of the table `symgrad check` prints; "hand" is the
        # hand-written (textbook) layer, "symbolic" the proof against the textbook's formula.
        tr("layer"),
        tr("symbolic"),
        tr("fwd vs hand"),
        tr("bwd vs hand"),
        tr("vs numerical"),
        tr("verdict"),
    )
    body = [
        (
            r.layer,
            tr(r.symbolic),
            _num(r.forward),
            _num(r.backward),
            f"{r.numerical:.1e}",
            tr("ok") if r.passed else tr("FAIL"),
        )
        for r in rows
    ]
    widths = [max(_width(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(_pad(str(c), w) for c, w in zip(row, widths)).rstrip() for row in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    """``text.ljust(width)``, by the columns the text takes."""
    return text + " " * (width - _width(text))


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


def run(names_or_specs: list[Any]) -> tuple[str, bool]:
    """Derive and check the given layers; the table text and whether all passed."""
    rows = check_all([derive(s) for s in names_or_specs])
    failures = [r.detail for r in rows if r.detail]
    text = table(rows) + ("\n\n" + "\n".join(failures) if failures else "")
    return text, all(r.passed for r in rows)


# --- a user's own layer: symgrad check path/to/file.py:ClassName ----------------------------------


def is_user_target(text: str) -> bool:
    """``file.py:ClassName`` names a user's layer rather than a catalog layer."""
    path, sep, name = text.rpartition(":")
    return bool(sep) and path.endswith(".py") and name.isidentifier()


def check_user_layer(target: str, shape: tuple[int, ...], fast: bool = False) -> tuple[str, bool]:
    """Load ``ClassName`` from ``file.py``, check it on random inputs; the table and verdict."""
    import importlib.util
    import inspect
    import pathlib

    from symgrad.errors import SymgradError

    path_text, _, name = target.rpartition(":")
    path = pathlib.Path(path_text)
    if not path.is_file():
        raise SymgradError(tr("no such file: {path}").format(path=path_text))
    module_spec = importlib.util.spec_from_file_location(f"_symgrad_user_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # the user's module: any error is theirs to see
        raise SymgradError(
            tr("cannot import {path}: {error_type}: {error}").format(
                path=path_text, error_type=type(err).__name__, error=err
            )
        ) from None
    cls = getattr(module, name, None)
    if not inspect.isclass(cls):
        known = ", ".join(n for n, v in vars(module).items() if inspect.isclass(v))
        # TRANSLATORS: {classes} is a list of class names, or "none".
        raise SymgradError(
            tr("{path} has no class {name!r} (classes: {classes})").format(
                path=path_text, name=name, classes=known or tr("none")
            )
        )
    try:
        layer = cls()
    except Exception as err:
        raise SymgradError(
            tr("cannot construct {name}() without arguments: {error}").format(name=name, error=err)
        ) from None
    from symgrad.verify import GradcheckUsageError

    try:
        report = check_layer(layer, *user_inputs(layer, shape), fast=fast)
    except GradcheckUsageError:
        raise
    except Exception as err:
        raise SymgradError(
            tr("{name} raised {error_type}: {error}").format(
                name=name, error_type=type(err).__name__, error=err
            )
        ) from None
    return user_table(report, shape, fast), report.passed


def user_inputs(layer: Any, shape: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """Random inputs for each required positional argument of ``forward`` (or ``loss``):
    standard normal of ``shape``; an argument named like a target (``t``, ``labels``) gets
    one-hot rows over the last axis of ``shape``, as a loss expects."""
    import inspect

    from symgrad.parameters import signature_names, takes_gradient_dict
    from symgrad.verify import TARGET_NAMES

    method = layer.loss if takes_gradient_dict(layer) else getattr(layer, "forward", None)
    if method is None:
        return [np.zeros(shape)]
    required = [
        p.name
        for p in inspect.signature(method).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    names = [n for n in signature_names(method) if n in required] or ["x"]
    rng = np.random.default_rng(seed)
    inputs = []
    for name in names:
        if name in TARGET_NAMES and inputs:
            classes = shape[-1]
            labels = rng.integers(0, classes, int(np.prod(shape[:-1])))
            inputs.append(np.eye(classes)[labels].reshape(shape))
        else:
            inputs.append(rng.standard_normal(shape))
    return inputs


def user_table(report: Any, shape: tuple[int, ...], fast: bool) -> str:
    """The report of ``symgrad check FILE.py:CLASS``: a row per gradient compared, what was
    not checked and why, the notes, and the verdict."""
    from symgrad.verify import label, scale_verdict

    mode = tr("fast (random directions)") if fast else tr("full (every element)")
    # TRANSLATORS: the headers of the table `symgrad check FILE.py:CLASS` prints.
    head = (tr("gradient"), tr("worst rel. error"), tr("cs231n scale"), tr("verdict"))
    rows = [
        (
            label(f.kind, f.name),
            "-" if f.problem else f"{f.max_rel_error:.1e}",
            f.problem or scale_verdict(f.max_rel_error),
            tr("ok") if f.passed else tr("FAIL"),
        )
        for f in report.findings
    ]
    widths = [max(_width(r[c]) for r in [head, *rows]) for c in range(len(head))]
    # TRANSLATORS: {mode} is "fast (random directions)" or "full (every element)".
    title = tr("{layer}: inputs of shape {shape}, {mode}, float64")
    lines = [title.format(layer=report.layer, shape=shape, mode=mode), ""]
    lines += [tr("checked: {checked}").format(checked=report.checked), ""]
    lines += ["  ".join(_pad(c, w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.insert(5, "  ".join("-" * w for w in widths))
    lines += [tr("not checked: {what}").format(what=n) for n in report.unchecked]
    lines += [tr("note: {note}").format(note=n) for n in [*report.in_place, *report.notes]]
    if not report.passed:
        lines += ["", report.message()]
    lines += ["", tr("PASSED") if report.passed else tr("FAILED")]
    return "\n".join(lines)
