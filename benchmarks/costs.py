"""What one forward + backward of a generated layer costs the machine, measured, not modelled
from the formula: bytes it must move, transcendental ufunc calls it makes, memory it holds.

- **Traffic** (bytes): forward reads every argument and parameter and writes the output and
  each new array it keeps; backward reads ``dout`` and everything kept, and writes every
  gradient. It is the least a layer that keeps what this one keeps must move; divided by the
  machine's copy bandwidth (``np.copyto`` on arrays far larger than the caches) it gives the
  time a layer bound by memory bandwidth cannot beat, the roofline's bound. Arrays that fit
  in the last-level cache move faster than that, so a small case can read above 1.
- **Transcendental calls**: the layer runs once with ``np`` replaced by a recorder, which notes
  each call of ``np.exp``, ``np.log1p``, ``np.tanh``, ... with its argument's shape. One NumPy
  pass of each recorded call, timed alone, is the time a layer built from those ufuncs cannot
  beat (``ufunc_limit``).
- **Memory** (tracemalloc, in units of the first argument's bytes): the forward's peak and what
  it leaves allocated (the output and what it keeps), the backward's peak and what it leaves
  (the gradients). Ideal: peak = kept, no temporaries beyond.
"""

from __future__ import annotations

import functools
import time
import tracemalloc
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TRANSCENDENTAL = (
    "exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "tanh", "sinh", "cosh", "sin",
    "cos", "tan", "arctan", "arcsin", "arccos", "arctanh", "power", "cbrt",
)  # fmt: skip


@dataclass
class Costs:
    """One layer's measured costs (see the module docstring)."""

    traffic: int
    unit: int  # bytes of the first argument: the memory figures' unit
    fwd_peak: float
    fwd_kept: float
    bwd_peak: float
    bwd_kept: float
    unit_elements: int = 1  # elements of the first argument
    calls: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)
    ufunc_limit: float = 0.0  # seconds: one pass of each recorded call

    @property
    def per_element(self) -> float:
        """Transcendental ufunc evaluations per element of the first argument."""
        return sum(int(np.prod(s)) for _, s, _ in self.calls) / max(1, self.unit_elements)

    @property
    def fwd_extra(self) -> float:
        return self.fwd_peak - self.fwd_kept

    @property
    def bwd_extra(self) -> float:
        return self.bwd_peak - self.bwd_kept


class Recorder:
    """Stands in for ``numpy`` in a generated module: every attribute is numpy's, but the
    transcendental ufuncs note (name, argument shape, dtype) before they run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...], str]] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(np, name)
        if name not in TRANSCENDENTAL:
            return real

        def call(x: Any, *args: Any, **kwargs: Any) -> Any:
            a = np.asarray(x)
            self.calls.append((name, a.shape, a.dtype.name))
            return real(x, *args, **kwargs)

        return call


def recorded_calls(
    source: str, name: str, construct: Callable[[type], Any], args: Sequence[Any], dout: Any
) -> list[tuple[str, tuple[int, ...], str]]:
    """The transcendental calls of one forward + backward of class ``name`` in ``source``."""
    module, recorder = _recording(source)
    recorder.calls.clear()
    layer = construct(getattr(module, name))
    np.random.seed(0)
    layer.forward(*args)
    layer.backward(_copy(dout))
    return list(recorder.calls)


@functools.cache
def _recording(source: str) -> tuple[types.ModuleType, Recorder]:
    """``source`` run once as a module whose ``np`` is a :class:`Recorder`."""
    module = types.ModuleType("recorded")
    exec(compile(source, "<recorded>", "exec"), module.__dict__)
    recorder = Recorder()
    module.np = recorder  # type: ignore[attr-defined]
    return module, recorder


def ufunc_limit(calls: Sequence[tuple[str, tuple[int, ...], str]], repeats: int = 7) -> float:
    """Seconds: the sum, over the calls, of the best time of that ufunc alone on an argument
    of that shape and dtype (values in [0.5, 2), where every one of them is finite)."""
    rng = np.random.default_rng(0)
    total = 0.0
    for fname, shape, dtype in calls:
        x = rng.uniform(0.5, 2.0, shape).astype(dtype)
        extra = (0.5,) if fname == "power" else ()
        run = functools.partial(getattr(np, fname), x, *extra)
        run()
        total += min(_timed(run) for _ in range(repeats))
    return total


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _arrays(layer: Any) -> dict[int, np.ndarray]:
    return {id(v): v for v in vars(layer).values() if isinstance(v, np.ndarray)}


def _nbytes(xs: Any) -> int:
    return sum(x.nbytes for x in xs if isinstance(x, np.ndarray))


def traffic(make: Callable[[], Any], args: Sequence[np.ndarray], dout: Any) -> int:
    """Bytes a forward + backward that keeps what this layer keeps must move (module doc):
    each distinct array once per pass that reads or writes it; a gradient that is ``dout``
    itself (AddLayer's) moves nothing."""
    layer = make()
    before = _arrays(layer)  # parameters
    np.random.seed(0)
    y = layer.forward(*args)
    kept = _arrays(layer)
    given = {id(a) for a in args} | set(before) | {id(y)}
    new = {k: v for k, v in kept.items() if k not in given}
    reads = {id(a): a for a in args} | before
    forward = _nbytes(reads.values()) + _nbytes([y]) + _nbytes(new.values())
    d = _copy(dout)
    grads = layer.backward(d)
    grads = grads if isinstance(grads, tuple) else (grads,)
    written = {id(g): g for g in grads if isinstance(g, np.ndarray)}
    written |= {k: v for k, v in _arrays(layer).items() if k not in kept}
    written = {k: v for k, v in written.items() if k != id(d) and k not in kept}
    backward = _nbytes([d]) + _nbytes(kept.values()) + _nbytes(written.values())
    return forward + backward


def memory(make: Callable[[], Any], args: Sequence[np.ndarray], dout: Any) -> tuple[int, ...]:
    """(forward peak, forward kept, backward peak, backward kept) in bytes, after a warm-up."""
    layer = make()
    np.random.seed(0)
    layer.forward(*args)
    layer.backward(_copy(dout))
    layer, d = make(), _copy(dout)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        np.random.seed(0)
        y = layer.forward(*args)
        now, peak = tracemalloc.get_traced_memory()
        fwd = (peak - base, now - base)
        tracemalloc.reset_peak()
        grads = layer.backward(d)
        after, peak = tracemalloc.get_traced_memory()
        bwd = (peak - now, after - now)
    finally:
        tracemalloc.stop()
    del y, grads
    return (*fwd, *bwd)


def measure(
    source: str,
    name: str,
    construct: Callable[[type], Any],
    make: Callable[[], Any],
    args: Sequence[np.ndarray],
    dout: Any,
) -> Costs:
    """Every cost of the module docstring for one layer on one set of arguments."""
    unit = args[0].nbytes
    fp, fk, bp, bk = memory(make, args, dout)
    calls = recorded_calls(source, name, construct, args, dout)
    return Costs(
        traffic=traffic(make, args, dout),
        unit=unit,
        fwd_peak=fp / unit,
        fwd_kept=fk / unit,
        bwd_peak=bp / unit,
        bwd_kept=bk / unit,
        calls=calls,
        ufunc_limit=ufunc_limit(calls),
        unit_elements=args[0].size,
    )


def _copy(dout: Any) -> Any:
    return np.copy(dout) if isinstance(dout, np.ndarray) else dout
