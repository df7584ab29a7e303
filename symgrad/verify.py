"""Numerical verification of backward passes (``gradcheck``). NumPy only: no SymPy here.

Notation: a layer has the textbook interface (``forward(*inputs)``, ``backward(dout)``), or the
book's network interface (``loss(*inputs)``, ``gradient(*inputs) -> dict``). The check contracts
the output with a *random* upstream gradient ``g`` (drawn from its own stream, independent of any
input the caller sampled), so the scalar under test is ``L = Σ g ⊙ forward(*inputs)`` and every
gradient the layer reports must equal ``∂L/∂(that value)``.

What is checked, in this order (each problem is reported in one sentence):

1. the object: an instance (not a class) with callable ``forward`` and ``backward``;
2. the inputs: real floating arrays are differentiated (in float64 copies); integer and boolean
   arrays are labels or masks and held fixed; empty and complex inputs are refused; the layer's
   trailing inputs named like targets (``t``, ``labels``) are held fixed when ``backward``
   returns no gradient for them, and ``targets=`` says so explicitly;
3. ``forward`` is deterministic (two calls on the same input agree), and it is first run on other
   values, so that a backward reading a stale cache fails;
4. ``backward``: it returns one gradient per differentiable input; it is run twice on one forward
   (a gradient that grows accumulates with ``+=``; the book's convention assigns) and once with
   ``2·g`` (a backward that ignores ``dout`` is named as such);
5. parameters (:mod:`symgrad.parameters`): found *after* a backward has run, in every convention
   the book and its sequel use, or given as ``params=``; each is perturbed in place and restored
   bit for bit afterwards (identity and dtype kept: an array shared with an inner layer stays
   shared). A float32 parameter is checked in float64: each of its slots points at a float64 copy
   during the check and at the original afterwards;
6. every element (full mode) or a few random directions (``fast=True``) against central
   differences (:mod:`symgrad.differences`) with steps per element, ``h = 1e-6·max(1, |v|)``. An
   element passes when ``|got - expected| <= rtol·|expected| + atol·T + e``: ``T`` is the
   element's own scale (the sum of the absolute contributions to it) and ``e`` the measured
   error of the numerical estimate, so the tolerance of one element never depends on another
   element's size. Only real kinks (one-sided slopes that disagree at two step sizes) are moved,
   inputs and parameters alike, and each move is in the report.

>>> import numpy as np
>>> class Square:
...     def forward(self, x):
...         self.x = x
...         return x * x
...     def backward(self, dout):
...         return 2 * self.x * dout
>>> gradcheck(Square(), np.array([1.0, -2.0, 3.0]))
<gradcheck Square: passed; checked x; no parameter>
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.differences import STEP, Differencer, eps_of, step_for
from symgrad.errors import SymgradError
from symgrad.i18n import tr, tr_n
from symgrad.names import gradient_of
from symgrad.parameters import (
    Parameter,
    explicit_pairings,
    pairings,
    signature_names,
    takes_gradient_dict,
    value_slots,
)

RTOL = 1e-5
ATOL = 1e-8
TARGET_NAMES = frozenset({"t", "target", "targets", "label", "labels", "y_true"})
MAX_MOVES = 5


class GradcheckError(AssertionError):
    """A backward pass disagrees with numerical differentiation; the message says where."""


class GradcheckUsageError(SymgradError, TypeError):
    """What was passed to ``gradcheck`` cannot be checked (a class, no backward, empty input)."""


class SymgradWarning(UserWarning):
    """symgrad's own warnings (``-W ignore::symgrad.verify.SymgradWarning`` filters them)."""


class InPlaceWarning(SymgradWarning):
    """A layer wrote into its ``dout`` or its inputs; the check used copies, the verdict holds."""


@dataclass
class Finding:
    """The comparison of one gradient (an input's or a parameter's)."""

    name: str
    kind: str = "input"
    worst_index: tuple[int, ...] = ()
    expected: float = math.nan
    got: float = math.nan
    rel_error: float = 0.0
    max_rel_error: float = 0.0
    passed: bool = True
    problem: str = ""
    hint: str = ""
    others: tuple[tuple[tuple[int, ...], float, float], ...] = ()
    elements: int = 0


@dataclass
class Report:
    """Everything ``gradcheck`` measured; true when it passed. ``checked`` names every gradient
    compared; ``notes`` say what was moved, converted or held fixed."""

    layer: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fast: bool = False
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.findings) and not self.problems and all(f.passed for f in self.findings)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def worst(self) -> float:
        return max((f.max_rel_error for f in self.findings), default=0.0)

    @property
    def checked(self) -> str:
        """``x; W, b``: the inputs, then the parameters, that were compared."""
        return self._checked()

    def _checked(self, lang: str | None = None) -> str:
        inputs = [f.name for f in self.findings if f.kind == "input"]
        params = [f.name for f in self.findings if f.kind == "parameter"]
        parts = [
            ", ".join(inputs) or tr("no input", lang),
            ", ".join(params) or tr("no parameter", lang),
        ]
        return "; ".join(parts)

    def message(self) -> str:
        if self.problems or not self.findings:
            head = tr("{layer}: cannot be checked as it is (checked: {checked})")
        elif self.passed:
            head = tr("{layer}: passed (checked: {checked})")
        else:
            head = tr("{layer}: backward disagrees with numerical gradients (checked: {checked})")
        lines = [head.format(layer=self.layer, checked=self.checked)]
        lines += [f"  {p}" for p in self.problems]
        for f in self.findings:
            if not f.passed:
                lines += _finding_lines(f, self.fast)
        lines += ["  " + tr("not checked: {what}").format(what=n) for n in self.unchecked]
        lines += ["  " + tr("note: {note}").format(note=n) for n in self.in_place]
        lines += ["  " + tr("note: {note}").format(note=n) for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"<gradcheck {self.layer}: {verdict}; checked {self._checked('en')}>"


def label(kind: str, name: str) -> str:
    """``input x`` or ``parameter W`` in the current language (``kind`` is a
    :class:`Finding`'s, the English key)."""
    if kind == "parameter":
        # TRANSLATORS: {name} is the name of a layer's parameter (W, b, gamma).
        return tr("parameter {name}").format(name=name)
    # TRANSLATORS: {name} is the name of an input of forward (x, t).
    return tr("input {name}").format(name=name)


def _finding_lines(f: Finding, fast: bool) -> list[str]:
    what = label(f.kind, f.name)
    if f.problem:
        return ["  " + tr("{what}: {problem}").format(what=what, problem=f.problem)]
    if fast:
        # TRANSLATORS: the number of a random direction the gradient was compared along.
        where = tr("direction #{number}").format(number=f.worst_index[0])
    else:
        # TRANSLATORS: {index} is an array index, as (0, 2).
        where = tr("index {index}").format(index=f.worst_index)
    # TRANSLATORS: {what} is "input x" or "parameter W"; {where} "index (0, 2)" or
    # "direction #1"; {verdict} where the error sits on the cs231n scale ("good: <= 1e-7").
    worst = tr(
        "{what}: worst at {where}: expected {expected:.10g} (numerical), "
        "got {got:.10g} (backward); relative error {error:.2e} ({verdict})"
    )
    lines = [
        "  "
        + worst.format(
            what=what,
            where=where,
            expected=f.expected,
            got=f.got,
            error=f.rel_error,
            verdict=scale_verdict(f.rel_error),
        )
    ]
    also = tr("also at {index}: expected {expected:.10g}, got {got:.10g}")
    lines += [
        "    " + also.format(index=index, expected=want, got=got) for index, want, got in f.others
    ]
    if f.hint:
        lines.append(f"    {f.hint}")
    return lines


def scale_verdict(rel: float) -> str:
    """Where a relative error sits on the cs231n scale.

    >>> scale_verdict(3e-9), scale_verdict(5e-4), scale_verdict(0.5)
    ('good: <= 1e-7', 'suspicious: > 1e-4', 'wrong: > 1e-2')
    """
    if rel <= 1e-7:
        return tr("good: <= 1e-7")
    if rel <= 1e-4:
        return tr("acceptable only near kinks: <= 1e-4")
    if rel <= 1e-2:
        return tr("suspicious: > 1e-4")
    return tr("wrong: > 1e-2")


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = STEP
) -> np.ndarray:
    """Central-difference gradient of a scalar function, element by element (float64).

    The textbook's ``numerical_gradient(f, x)``, with a relative step and without modifying ``x``.

    >>> numerical_gradient(lambda v: float((v ** 2).sum()), np.array([1.0, 2.0])).round(6)
    array([2., 4.])
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[i]))
        orig = x[i]
        x[i] = orig + step
        fp = float(f(x))
        x[i] = orig - step
        fm = float(f(x))
        x[i] = orig
        grad[i] = (fp - fm) / (2 * step)
    return grad


def gradcheck(
    layer: Any,
    *inputs: Any,
    seed: int = 0,
    rtol: float = RTOL,
    atol: float = ATOL,
    fast: bool = False,
    directions: int = 4,
    params: Sequence[str] | Mapping[str, str] | None = None,
    targets: Sequence[int | str] = (),
) -> Report:
    """Check every gradient ``layer`` reports; the passing :class:`Report`, or
    :class:`GradcheckError` saying where and, where it can tell, why.

    ``params`` names parameters explicitly (paths such as ``"W"``, ``"layers[0].b"``, gradient
    ``d<name>`` beside each, or a mapping from parameter path to gradient path); by default every
    convention of :mod:`symgrad.parameters` is searched. ``targets`` names inputs held fixed
    (by position or name). ``fast=True`` compares ``directions`` random directional derivatives
    instead of every element.
    """
    report = check_layer(
        layer,
        *inputs,
        seed=seed,
        rtol=rtol,
        atol=atol,
        fast=fast,
        directions=directions,
        params=params,
        targets=targets,
    )
    warn_in_place(report, stacklevel=3)
    if not report.passed:
        raise GradcheckError(report.message())
    return report


def warn_in_place(report: Report, stacklevel: int = 2) -> None:
    """In-place writes and unchecked gradients as warnings of symgrad's own categories."""
    for note in report.in_place:
        warnings.warn(f"{report.layer}: {note}", InPlaceWarning, stacklevel=stacklevel + 1)
    for text in report.unchecked:
        warnings.warn(f"{report.layer}: {text}", SymgradWarning, stacklevel=stacklevel + 1)


def check_layer(
    layer: Any,
    *inputs: Any,
    seed: int = 0,
    rtol: float = RTOL,
    atol: float = ATOL,
    fast: bool = False,
    directions: int = 4,
    params: Sequence[str] | Mapping[str, str] | None = None,
    targets: Sequence[int | str] = (),
) -> Report:
    """Run the gradient check and return the full :class:`Report` (no exception for a wrong
    layer; :class:`GradcheckUsageError` for something that is not a layer or not checkable)."""
    probe = Probe.of(layer, inputs, targets, seed)
    report = Report(probe.name, fast=fast, notes=probe.notes, in_place=probe.in_place)
    if not probe.deterministic(report):
        return report
    found = probe.find_parameters(params, report)
    restore = _widen(found, report)
    pristine = {id(p): np.array(p.value, copy=True) for p in found}
    try:
        Check(probe, found, report, rtol, atol, fast, directions, seed).run()
    finally:
        for p in found:
            _restore(p, pristine[id(p)])
        restore()
    return report


def _widen(found: list[Parameter], report: Report) -> Callable[[], None]:
    """Point every slot of a non-float64 parameter at a float64 copy (and a gradient buffer of
    the same dtype, as the sequel's ``grads`` lists are, at a float64 buffer); the function
    that points them all back."""
    widened, buffers = [], []
    seen: set[int] = set()
    for p in found:
        value = p.original
        if not isinstance(value, np.ndarray) or value.dtype == np.float64 or id(value) in seen:
            continue
        seen.add(id(value))
        p.point_at(np.array(value, dtype=np.float64))
        widened.append(f"{p.name} ({value.dtype})")
        grad = p.grad_slot.get() if p.grad_slot is not None else None
        if isinstance(grad, np.ndarray) and grad.dtype == value.dtype:
            buffers.append((p.grad_slot, grad))
            p.grad_slot.set(np.array(grad, dtype=np.float64))
    if widened:
        report.notes.append(
            tr("checked {names} in float64; the originals are back in place").format(
                names=", ".join(widened)
            )
        )

    def restore() -> None:
        for slot, grad in buffers:
            slot.set(grad)

    return restore


def _restore(p: Parameter, pristine: np.ndarray) -> None:
    """Original object in every slot; an array perturbed in place gets its exact bits back."""
    value = p.value
    if isinstance(p.original, np.ndarray) and value is p.original:
        p.original[...] = pristine
    p.restore()


# --- the layer, as the check sees it ---------------------------------------------------------


@dataclass
class Probe:
    """A layer and its inputs, with the calls the check makes (on float64 working arrays)."""

    layer: Any
    name: str
    arrays: list[Any]
    names: list[str]
    differentiable: list[int]
    network: bool
    g: Any = None
    notes: list[str] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)
    copies: bool = False  # pass fresh copies: the layer writes into its inputs
    last_gradients: dict = field(default_factory=dict)  # a network's last gradient() result
    targets_by_name: bool = False

    @staticmethod
    def of(layer: Any, inputs: Sequence[Any], targets: Sequence[int | str], seed: int) -> Probe:
        name = _validate(layer)
        network = takes_gradient_dict(layer)
        method = layer.loss if network else layer.forward
        names = _input_names(method, len(inputs))
        if not inputs:
            raise GradcheckUsageError(
                tr("{layer}: give the inputs to check it at").format(layer=name)
            )
        arrays, notes, fixed, integers = _prepare(inputs, names, targets)
        differentiable = [] if network else [k for k in range(len(arrays)) if k not in fixed]
        probe = Probe(layer, name, arrays, names, differentiable, network, notes=notes)
        probe.g = probe._upstream(np.random.default_rng([seed, 0x5EED]))
        probe._integers(integers)
        return probe

    def _integers(self, integers: list[int]) -> None:
        """Integer inputs are labels, unless backward returns a gradient for every input: then
        they are numbers, checked in float64."""
        if not integers:
            return
        count = 0 if self.network else len(self.backward(self.g))
        for k in integers:
            a = self.arrays[k]
            if count == len(self.arrays):
                self.arrays[k] = a.astype(np.float64)
                self.notes.append(
                    tr("{name} ({dtype}) was checked in float64").format(
                        name=self.names[k], dtype=a.dtype
                    )
                )
            else:
                self.differentiable = [j for j in self.differentiable if j != k]
                self.notes.append(
                    tr("{name} ({dtype}) is labels: held fixed, not differentiated").format(
                        name=self.names[k], dtype=a.dtype
                    )
                )

    def call(self) -> np.ndarray:
        """The output at the working arrays, in float64."""
        given = [a.copy() if self.copies and isinstance(a, np.ndarray) else a for a in self.arrays]
        method = self.layer.loss if self.network else self.layer.forward
        out = method(*given)
        if isinstance(out, tuple):
            raise GradcheckUsageError(
                tr("{layer}: forward returned a tuple; one array expected").format(layer=self.name)
            )
        return np.asarray(out, dtype=np.float64)

    def _upstream(self, rng: np.random.Generator) -> Any:
        """A random upstream gradient shaped like the output, from a forward on other values
        (the inputs rolled by one element), which leaves a cache a correct layer overwrites."""
        saved = self.arrays
        self.arrays = [np.roll(a, 1) if a.ndim else a for a in saved]
        try:
            out = self.call()
        finally:
            self.arrays = saved
        if self.network:
            return 1.0
        if out.ndim == 0:
            return float(rng.uniform(0.5, 1.5) * rng.choice([-1.0, 1.0]))
        return rng.standard_normal(out.shape)

    def deterministic(self, report: Report) -> bool:
        first, second = self.call(), self.call()
        if np.array_equal(first, second, equal_nan=True):
            return True
        report.problems.append(
            tr(
                "forward is random: two calls on the same input differ; seed it or fix the mask "
                "(e.g. Dropout's), then check again"
            )
        )
        return False

    def backward(self, g: Any) -> list[Any]:
        """One backward call with a copy of ``g``; the gradients, as returned."""
        if self.network:
            raise AssertionError("networks have no backward")
        given = g.copy() if isinstance(g, np.ndarray) else g
        result = self.layer.backward(given)
        if isinstance(g, np.ndarray) and not np.array_equal(given, g):
            self.note_once(tr("backward wrote into its dout argument in place (checked on a copy)"))
        if result is None:
            return []
        return list(result) if isinstance(result, (tuple, list)) else [result]

    def gradient(self) -> Any:
        """A network's ``gradient(*inputs)``, remembered for the parameters' readers."""
        result = self.layer.gradient(*self.arrays)
        self.last_gradients = result if isinstance(result, dict) else {}
        return result

    def note_once(self, note: str) -> None:
        """An in-place write: reported once, and warned about by :func:`gradcheck`."""
        if note not in self.in_place:
            self.in_place.append(note)

    def find_parameters(self, params: Any, report: Report) -> list[Parameter]:
        """Forward and backward once, then every parameter with its gradient, deduplicated."""
        if self.network:  # first at other values: a gradient() that returns a stale result
            saved, self.arrays = self.arrays, [np.roll(a, 1) if a.ndim else a for a in self.arrays]
            self.gradient()
            self.arrays = saved
            self.gradient()
        else:
            self.call()
            self.backward(self.g)
        if params is not None:
            try:
                found = explicit_pairings(self.layer, params)
            except (ValueError, AttributeError, KeyError, IndexError, TypeError) as err:
                raise GradcheckUsageError(f"{self.name}: {err}") from None
        else:
            latest = (lambda: self.last_gradients) if self.network else None
            found = pairings(self.layer, latest)
        caches, kept = _rebound_by_forward(self) if params is None else (set(), {})
        skip = {id(a) for a in self.arrays} | caches
        # One check per (parameter, gradient) source: a gradient reported twice as the same
        # object is checked once, two different reports of one parameter are both checked.
        out: dict[tuple[int, int], Parameter] = {}
        slots = value_slots(self.layer)
        for pairing in found:
            value = pairing.slot.get()
            key = (id(value), id(pairing.read_grad()))
            if id(value) in skip or key in out:
                continue
            holders = [pairing.slot]
            if isinstance(value, np.ndarray):  # every alias of the array (floats are values)
                holders = slots.get(id(value), (pairing.name, holders))[1]
            out[key] = Parameter(
                pairing.name,
                list(holders),
                pairing.grad_name,
                pairing.read_grad,
                value,
                pairing.grad_slot,
            )
        self._note_unchecked(list(out.values()), kept, report)
        return list(out.values())

    def _note_unchecked(self, found: list[Parameter], kept: dict[str, Any], report: Report) -> None:
        """Say which gradients backward wrote, and which float arrays the layer holds, that
        pair with nothing: they are not checked, and the user should know."""
        written = _gradients_written_by_backward(self)
        paired = {id(p.read_grad()) for p in found} | {id(p.original) for p in found}
        paired |= {id(a) for a in self.arrays}
        for name, value in written:
            if id(value) not in paired:
                report.unchecked.append(
                    tr(
                        "{name} was written by backward but pairs with no parameter that forward "
                        "reads, so it was NOT checked (name it: params={{'...': {name!r}}})"
                    ).format(name=name)
                )
        for name, value in kept.items():
            gradient_like = gradient_of(name.rpartition(".")[2]) is not None
            if isinstance(value, np.ndarray) and id(value) not in paired and not gradient_like:
                report.notes.append(
                    tr(
                        "{name} is a float array with no gradient beside it: not checked "
                        "as a parameter"
                    ).format(name=name)
                )


def _validate(layer: Any) -> str:
    if isinstance(layer, type):
        raise GradcheckUsageError(
            tr("pass an instance, not the class: gradcheck({name}(), ...)").format(
                name=layer.__name__
            )
        )
    name = type(layer).__name__
    if takes_gradient_dict(layer):
        return name
    for method in ("forward", "backward"):
        if not callable(getattr(layer, method, None)):
            raise GradcheckUsageError(
                tr(
                    "{layer} has no {method}() method: a layer needs forward(*inputs) and "
                    "backward(dout) (or loss(*inputs) and gradient(*inputs), as the book's "
                    "networks)"
                ).format(layer=name, method=method)
            )
    return name


def _input_names(method: Any, n: int) -> list[str]:
    names = signature_names(method)
    return [names[i] if i < len(names) else f"inputs[{i}]" for i in range(n)]


def _return_hint(names: list[str]) -> str:
    if all(n.isidentifier() for n in names):
        return f"return {', '.join('d' + n for n in names)}"
    return tr("return one gradient per input, in the order forward takes them")


def _prepare(
    inputs: Sequence[Any], names: list[str], targets: Sequence[int | str]
) -> tuple[list[Any], list[str], set[int], list[int]]:
    """float64 working copies of real inputs, integer and boolean arrays as they are; the
    notes, the inputs held fixed, and the integer inputs (decided later); refusals."""
    fixed = {names.index(t) if isinstance(t, str) and t in names else t for t in targets}
    for t in fixed:
        if not isinstance(t, int) or not 0 <= t < len(inputs):
            raise GradcheckUsageError(
                tr("targets: no input {target!r} (inputs: {names})").format(
                    target=t, names=", ".join(names)
                )
            )
    arrays, notes, integers = [], [], []
    for k, (value, name) in enumerate(zip(inputs, names)):
        a = np.asarray(value)
        _refuse(a, name)
        if a.dtype == bool:
            notes.append(
                tr("{name} (bool) is a mask: held fixed, not differentiated").format(name=name)
            )
            fixed.add(k)
        elif np.issubdtype(a.dtype, np.integer) and k not in fixed:
            integers.append(k)
        elif k not in fixed and a.dtype != np.float64:
            notes.append(
                tr("{name} ({dtype}) was checked in float64").format(name=name, dtype=a.dtype)
            )
        keep = a.dtype == bool or np.issubdtype(a.dtype, np.integer) or k in fixed
        arrays.append(a.copy() if keep else np.array(a, dtype=np.float64))
    return arrays, notes, fixed, integers


def _refuse(a: np.ndarray, name: str) -> None:
    if a.dtype == object or a.dtype.kind in "USVM":
        raise GradcheckUsageError(
            tr("input {name} is not numeric ({dtype})").format(name=name, dtype=a.dtype)
        )
    if np.iscomplexobj(a):
        raise GradcheckUsageError(
            tr(
                "input {name} is complex: gradcheck checks real layers (a complex gradient "
                "needs a convention, e.g. Wirtinger's, that symgrad does not assume)"
            ).format(name=name)
        )
    if a.size == 0:
        raise GradcheckUsageError(
            tr("input {name} is empty: there is nothing to check").format(name=name)
        )
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        raise GradcheckUsageError(tr("input {name} contains nan or inf").format(name=name))


def _rebound_by_forward(probe: Probe) -> tuple[set[int], dict[str, Any]]:
    """Values a forward call replaces (caches such as ``self.x``), and the float values it
    leaves in place, by name."""
    before = {name: slots[0].get() for name, slots in value_slots(probe.layer).values()}
    probe.call()
    after = {name: slots[0].get() for name, slots in value_slots(probe.layer).values()}
    changed = {id(before[n]) for n in before if after.get(n) is not before[n]}
    changed |= {id(after[n]) for n in after if before.get(n) is not after[n]}
    kept = {n: v for n, v in after.items() if before.get(n) is v}
    return changed, kept


def _gradients_written_by_backward(probe: Probe) -> list[tuple[str, Any]]:
    """Values named ``d...`` that a backward call sets or changes (checked only if paired)."""
    if probe.network:
        return []
    probe.call()
    before = {
        name: (id(slots[0].get()), np.array(slots[0].get(), copy=True))
        for name, slots in value_slots(probe.layer).values()
    }
    probe.backward(probe.g)
    out = []
    for name, slots in value_slots(probe.layer).values():
        last = name.rpartition(".")[2]
        if gradient_of(last) is None:
            continue
        value = slots[0].get()
        old = before.get(name)
        if old is None or old[0] != id(value) or not np.array_equal(old[1], value):
            out.append((name, value))
    return out


# --- the check proper -------------------------------------------------------------------------


@dataclass
class Gradients:
    """What one backward pass reported: input gradients and parameter gradients (copies)."""

    inputs: list[Any]
    params: list[Any]


@dataclass
class Check:
    probe: Probe
    params: list[Parameter]
    report: Report
    rtol: float
    atol: float
    fast: bool
    directions: int
    seed: int

    def run(self) -> None:
        rng = np.random.default_rng([self.seed, 0xD1])
        grads = self.analytic()
        if grads is None:
            return
        self.behaviour(grads)
        for round_ in range(MAX_MOVES + 1):
            findings, kinks = self.numerical(grads, rng)
            if not kinks or round_ == MAX_MOVES:
                break
            for target, where in kinks:
                self._move(target, where, rng)
            grads = self.analytic()
            if grads is None:
                return
        if kinks:
            self.report.notes.append(
                tr("elements were still on a kink after moving them {count} times").format(
                    count=MAX_MOVES
                )
            )
        self.report.findings = findings
        if not findings and not self.report.problems:
            self.report.problems.append(
                tr("nothing to check: no differentiable input and no parameter was found")
            )

    # analytic ----------------------------------------------------------------------------------

    def analytic(self) -> Gradients | None:
        probe = self.probe
        given = [a.copy() for a in probe.arrays]
        probe.call()
        if probe.network:
            grad_dict = probe.gradient()
            inputs: list[Any] = []
            if not isinstance(grad_dict, dict):
                self.report.problems.append(
                    tr("gradient() returned {type}, not a dict of gradients").format(
                        type=type(grad_dict).__name__
                    )
                )
                return None
        else:
            inputs = probe.backward(probe.g)
        params = [_copy(p.read_grad()) for p in self.params]
        if any(not np.array_equal(a, b) for a, b in zip(given, probe.arrays)):
            probe.copies = True
            probe.note_once(
                tr("forward or backward wrote into its inputs in place (checked on copies)")
            )
            for a, b in zip(probe.arrays, given):
                a[...] = b
        inputs = self._matched(inputs)
        if inputs is None:
            return None
        return Gradients([_copy(a) for a in inputs], params)

    def _matched(self, returned: list[Any]) -> list[Any] | None:
        """The returned gradients, one per differentiable input, or a problem reported."""
        probe = self.probe
        want = len(probe.differentiable)
        names = [probe.names[k] for k in probe.differentiable]
        if len(returned) == want:
            return returned
        if len(returned) == len(probe.arrays) and want < len(returned):
            return [returned[k] for k in probe.differentiable]
        trailing = names[len(returned) :]
        loss = np.ndim(probe.g) == 0  # a scalar output: trailing inputs are targets
        if 0 < len(returned) < want and (loss or all(n in TARGET_NAMES for n in trailing)):
            probe.differentiable = probe.differentiable[: len(returned)]
            self.report.notes.append(
                tr("{names}: target(s), held fixed (backward returns no gradient)").format(
                    names=", ".join(trailing)
                )
            )
            return returned
        if not returned:
            # TRANSLATORS: {fix} is code ("return dx, dW") or "return one gradient per input...".
            self.report.problems.append(
                tr("backward returned None: {fix}, as the book's layers do").format(
                    fix=_return_hint(names)
                )
            )
            return None
        # TRANSLATORS: {fix} is code ("return dx, dW") or "return one gradient per input...".
        wrong = tr_n(
            "backward returned {count} gradient but forward takes {wanted} differentiable "
            "inputs ({names}): {fix}",
            "backward returned {count} gradients but forward takes {wanted} differentiable "
            "inputs ({names}): {fix}",
            len(returned),
        )
        self.report.problems.append(
            wrong.format(
                count=len(returned), wanted=want, names=", ".join(names), fix=_return_hint(names)
            )
        )
        return None

    def behaviour(self, grads: Gradients) -> None:
        """Backward twice on one forward, then with 2·g: repeatable and linear in dout."""
        probe = self.probe
        again = self._again(probe.g)
        if again is None:
            return
        for name, a, b in self._pairs(grads, again):
            if not _same(a, b):
                ratio = _ratio(b, a)
                if ratio:
                    differs = tr(
                        "{name} differs between two backward calls on one forward ({ratio:.3g} × "
                        "the first: it accumulates with +=?); the book's convention assigns "
                        "gradients (self.dW = ...), it does not add"
                    )
                else:
                    differs = tr(
                        "{name} differs between two backward calls on one forward; the book's "
                        "convention assigns gradients (self.dW = ...), it does not add"
                    )
                self.report.problems.append(differs.format(name=name, ratio=ratio))
        if probe.network or self.report.problems:
            return
        doubled = self._again(2 * probe.g)
        if doubled is None:
            return
        ignored = [n for n, a, b in self._pairs(grads, doubled) if _same(a, b) and np.any(a)]
        if ignored:
            self.report.problems.append(
                tr_n(
                    "{names} does not depend on dout: backward ignores its argument "
                    "(multiply the local gradient by dout)",
                    "{names} do not depend on dout: backward ignores its argument "
                    "(multiply the local gradient by dout)",
                    len(ignored),
                ).format(names=", ".join(ignored))
            )

    def _again(self, g: Any) -> Gradients | None:
        probe = self.probe
        if probe.network:
            grad_dict = probe.gradient()
            return Gradients([], [_copy(p.read_grad()) for p in self.params]) if grad_dict else None
        returned = probe.backward(g)
        if len(returned) not in (len(probe.differentiable), len(probe.arrays)):
            return None
        if len(returned) == len(probe.arrays) and len(returned) != len(probe.differentiable):
            returned = [returned[k] for k in probe.differentiable]
        return Gradients([_copy(a) for a in returned], [_copy(p.read_grad()) for p in self.params])

    def _pairs(self, first: Gradients, second: Gradients) -> list[tuple[str, Any, Any]]:
        names = ["d" + self.probe.names[k] for k in self.probe.differentiable]
        names += [p.grad_name for p in self.params]
        return list(zip(names, first.inputs + first.params, second.inputs + second.params))

    # numerical ---------------------------------------------------------------------------------

    def numerical(
        self, grads: Gradients, rng: np.random.Generator
    ) -> tuple[list[Finding], list[tuple[Target, list[tuple[int, ...]]]]]:
        """Compare every gradient; the findings and, per target, the elements on a kink."""
        findings: list[Finding] = []
        kinks = []
        base = self.probe.call()
        diff = Differencer(_as_array(self.probe.g), base, self.rtol, self.atol, eps_of(base))
        targets: list[Target] = [InputTarget(self.probe, k) for k in self.probe.differentiable]
        targets += [ParamTarget(self.probe, p) for p in self.params]
        for target, got in zip(targets, grads.inputs + grads.params):
            problem = target.problem(got)
            if problem:
                findings.append(Finding(target.name, target.kind, passed=False, problem=problem))
                continue
            got = np.asarray(got, dtype=np.float64)
            if self.fast:
                finding, where = self._directions(target, got, diff, rng)
            else:
                finding, where = self._elements(target, got, diff)
            if where:
                kinks.append((target, where))
            findings.append(finding)
        return findings, kinks

    def _elements(
        self, target: Target, got: np.ndarray, diff: Differencer
    ) -> tuple[Finding, list[tuple[int, ...]]]:
        shape = target.shape
        expected = np.zeros(shape)
        allowed = np.zeros(shape)
        kinks = []
        for idx in np.ndindex(shape):
            origin = target.get(idx)
            evaluate = target.evaluator(idx, origin)
            est = diff.estimate(evaluate, step_for(origin), origin, float(got[idx]))
            if est.kink:
                kinks.append(idx)
            expected[idx] = est.value
            allowed[idx] = diff.allowed(est)
        return self._finding(target, got, expected, allowed, self.probe), kinks

    def _directions(
        self, target: Target, got: np.ndarray, diff: Differencer, rng: np.random.Generator
    ) -> tuple[Finding, list[tuple[int, ...]]]:
        origin = np.array(target.values(), dtype=np.float64)
        steps = STEP * np.maximum(1.0, np.abs(origin))
        expected, analytic, allowed, kinks = [], [], [], []
        # uniform directions: drawn 5x faster than normal ones, and as likely to expose an
        # error (any continuous distribution gives a wrong gradient a nonzero claim error)
        deltas = rng.uniform(-1.0, 1.0, (self.directions, *origin.shape)) * steps
        for delta in deltas:
            claim = float(np.vdot(got, delta))
            est = diff.estimate(target.along(origin, delta), 1.0, 0.0, claim)
            expected.append(est.value)
            analytic.append(claim)
            allowed.append(diff.allowed(est))
            if est.kink:  # the check is rerun once these are moved
                kinks = self._locate(target, origin, delta, got, diff)
                break
        target.set_all(origin)
        finding = self._finding(
            target, np.array(analytic), np.array(expected), np.array(allowed), self.probe
        )
        return finding, kinks

    def _locate(
        self,
        target: Target,
        origin: np.ndarray,
        delta: np.ndarray,
        got: np.ndarray,
        diff: Differencer,
    ) -> list[tuple[int, ...]]:
        """The elements responsible for a kink along ``delta``, by bisection of its support."""
        out: list[tuple[int, ...]] = []
        stack = [np.arange(origin.size)]
        sub = np.zeros_like(delta)
        while stack:
            part = stack.pop()
            sub[...] = 0.0
            sub.flat[part] = delta.flat[part]
            claim = float(np.sum(got * sub))
            if not diff.estimate(target.along(origin, sub), 1.0, 0.0, claim).kink:
                continue
            if part.size == 1:
                out.append(tuple(int(i) for i in np.unravel_index(int(part[0]), origin.shape)))
                continue
            half = part.size // 2
            stack += [part[:half], part[half:]]
        target.set_all(origin)
        return out

    def _move(self, target: Target, kinks: list[tuple[int, ...]], rng: np.random.Generator) -> None:
        """Move elements off their kinks by 1e-3..2e-3 of their size, and say so."""
        shown = []
        for idx in kinks:
            old = target.get(idx)
            shift = rng.uniform(1e-3, 2e-3) * rng.choice([-1.0, 1.0]) * max(1.0, abs(old))
            target.set(idx, old + shift)
            if len(shown) < 3:
                where = f"[{', '.join(map(str, idx))}]" if idx else ""
                # TRANSLATORS: {element} is an element of an input or parameter, as w[0, 1].
                moved = tr("{element} from {old:.6g} to {new:.6g}")
                shown.append(
                    moved.format(element=f"{target.name}{where}", old=old, new=old + shift)
                )
        if len(kinks) > len(shown):
            note = tr(
                "moved {count} element(s) off a kink before checking: {elements} and {more} more"
            )
        else:
            note = tr("moved {count} element(s) off a kink before checking: {elements}")
        self.report.notes.append(
            note.format(count=len(kinks), elements="; ".join(shown), more=len(kinks) - len(shown))
        )

    def _finding(
        self,
        target: Target,
        got: np.ndarray,
        expected: np.ndarray,
        allowed: np.ndarray,
        probe: Probe,
    ) -> Finding:
        err = np.abs(got - expected)
        ratio = np.where(np.isfinite(err), err / np.maximum(allowed, 1e-300), np.inf)
        ratio = np.where(err == 0, 0.0, ratio)
        rel = err / np.maximum(np.abs(got) + np.abs(expected), 1e-300)
        rel = np.where(err == 0, 0.0, np.where(np.isfinite(rel), rel, np.inf))
        order = np.argsort(-ratio, axis=None, kind="stable")
        worst = np.unravel_index(int(order[0]), ratio.shape)
        others = tuple(
            (tuple(int(v) for v in idx), float(expected[idx]), float(got[idx]))
            for idx in (np.unravel_index(int(o), ratio.shape) for o in order[1:3])
            if ratio[idx] > 1.0
        )
        passed = bool(np.all(ratio <= 1.0))
        return Finding(
            name=target.name,
            kind=target.kind,
            worst_index=tuple(int(i) for i in worst),
            expected=float(expected[worst]),
            got=float(got[worst]),
            rel_error=float(rel[worst]),
            max_rel_error=float(np.max(rel)),
            passed=passed,
            others=others,
            hint="" if passed else _hint(got, expected, probe),
            elements=int(got.size),
        )


# --- what is perturbed ------------------------------------------------------------------------


class Target:
    """An input or a parameter, element by element, and the layer's output as it moves."""

    name: str
    kind: str
    shape: tuple[int, ...]

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def get(self, idx: tuple[int, ...]) -> float:
        raise NotImplementedError

    def set(self, idx: tuple[int, ...], value: float) -> None:
        raise NotImplementedError

    def values(self) -> np.ndarray:
        raise NotImplementedError

    def set_all(self, values: np.ndarray) -> None:
        raise NotImplementedError

    def problem(self, got: Any) -> str:
        raise NotImplementedError

    def evaluator(self, idx: tuple[int, ...], origin: float) -> Callable[[float], np.ndarray]:
        """``t -> output`` with element ``idx`` at ``origin + t`` (restored after each call)."""

        def evaluate(t: float) -> np.ndarray:
            self.set(idx, origin + t)
            try:
                return self.probe.call()
            finally:
                self.set(idx, origin)

        return evaluate

    def along(self, origin: np.ndarray, delta: np.ndarray) -> Callable[[float], np.ndarray]:
        """``t -> output`` with every element at ``origin + t·delta``."""

        def evaluate(t: float) -> np.ndarray:
            self.set_all(origin + t * delta)
            return self.probe.call()

        return evaluate


class InputTarget(Target):
    def __init__(self, probe: Probe, k: int) -> None:
        super().__init__(probe)
        self.k = k
        self.name, self.kind = probe.names[k], "input"
        self.shape = probe.arrays[k].shape

    def get(self, idx: tuple[int, ...]) -> float:
        return float(self.probe.arrays[self.k][idx])

    def set(self, idx: tuple[int, ...], value: float) -> None:
        self.probe.arrays[self.k][idx] = value

    def values(self) -> np.ndarray:
        return self.probe.arrays[self.k]

    def set_all(self, values: np.ndarray) -> None:
        self.probe.arrays[self.k][...] = values

    def problem(self, got: Any) -> str:
        return _shape_problem(got, self.probe.arrays[self.k], self.kind, self.name)


class ParamTarget(Target):
    def __init__(self, probe: Probe, p: Parameter) -> None:
        super().__init__(probe)
        self.p = p
        self.name, self.kind = p.name, "parameter"
        self.scalar = not isinstance(p.value, np.ndarray)
        self.shape = () if self.scalar else p.value.shape

    def get(self, idx: tuple[int, ...]) -> float:
        return float(self.p.value) if self.scalar else float(self.p.value[idx])

    def set(self, idx: tuple[int, ...], value: float) -> None:
        if self.scalar:
            self.p.point_at(type(self.p.original)(value))
        else:
            self.p.value[idx] = value

    def values(self) -> np.ndarray:
        return np.asarray(self.p.value)

    def set_all(self, values: np.ndarray) -> None:
        if self.scalar:
            self.p.point_at(type(self.p.original)(float(values)))
        else:
            self.p.value[...] = values

    def problem(self, got: Any) -> str:
        if got is None:
            return tr("{gradient} is None after backward: backward did not set it").format(
                gradient=self.p.grad_name
            )
        return _shape_problem(got, self.p.value, self.kind, self.name)


def _shape_problem(got: Any, value: Any, kind: str, name: str) -> str:
    if got is None:
        return tr("backward returned None for it")
    a = np.asarray(got)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        return tr("gradient is {type}, not an array of numbers").format(type=type(got).__name__)
    if np.iscomplexobj(a):
        return tr("gradient is complex, the value is real")
    if a.shape != np.shape(value):
        if kind == "parameter":
            shapes = tr("gradient has shape {got}, parameter {name} has shape {wanted}")
        else:
            shapes = tr("gradient has shape {got}, input {name} has shape {wanted}")
        return shapes.format(got=a.shape, name=name, wanted=np.shape(value))
    if np.issubdtype(a.dtype, np.floating) and a.dtype != np.asarray(value).dtype:
        return tr("gradient has dtype {got} but the value is {wanted}: precision is lost").format(
            got=a.dtype, wanted=np.asarray(value).dtype
        )
    if not np.all(np.isfinite(a)):
        return tr("gradient contains nan or inf")
    return ""


# --- helpers ----------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value.copy()
    return np.asarray(value).copy() if isinstance(value, (list, tuple)) else value


def _as_array(g: Any) -> np.ndarray:
    return np.asarray(g, dtype=np.float64)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    except (TypeError, ValueError):
        return False


def _ratio(b: Any, a: Any) -> float | None:
    """The constant c with b = c·a, when there is one (c ≠ 1)."""
    try:
        a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    if a.shape != b.shape or not np.any(a):
        return None
    c = float(np.dot(a, b) / np.dot(a, a))
    if np.allclose(b, c * a, rtol=1e-6, atol=1e-9 * float(np.max(np.abs(b)))):
        return c
    return None


def _hint(got: np.ndarray, expected: np.ndarray, probe: Probe) -> str:
    """Why a gradient might be off, when it is a constant multiple of the right one."""
    if not np.any(got):
        return tr("got is 0 everywhere: does backward compute this gradient at all?")
    c = _ratio(got, expected)
    if c is None:
        return ""
    first = next((a for a in probe.arrays if isinstance(a, np.ndarray) and a.ndim), None)
    n = first.shape[0] if first is not None else 0
    guesses = [
        (-1.0, tr("the sign is wrong")),
        (
            1 / n if n > 1 else math.nan,
            tr("divided by N = {n} (the batch) once too often?").format(n=n),
        ),
        (float(n) if n > 1 else math.nan, tr("a missing 1/N (N = {n}, the batch)?").format(n=n)),
    ]
    if isinstance(probe.g, float):
        guesses.append(
            (1 / probe.g, tr("dout ignored? (the upstream gradient was not multiplied)"))
        )
    why = next((text for value, text in guesses if math.isclose(c, value, rel_tol=1e-6)), "")
    if why:
        # TRANSLATORS: "got" is backward's gradient, "expected" the numerical one; {reason}
        # a guess at the bug ("the sign is wrong").
        return tr("got = {factor:.6g} × expected: {reason}").format(factor=c, reason=why)
    return tr("got = {factor:.6g} × expected").format(factor=c)
