"""Measure what NumPy operations cost here, in passes, beside the table codegen costs forms by.

Run ``python benchmarks/bench_ufuncs.py``. One pass is one multiply of two arrays of 2**20
elements into a new one. For each operation in ``symgrad.ufunc_costs.PASSES``, and each named
function's call in ``symgrad.functions.TABLE`` (its ``cost``), it times the
operation on arrays of that size (min of 15 runs, float32 and float64, one thread, inputs
standard normal; ``np.where`` on a random mask, which is what a layer's mask is), divides by
the multiply's time in the same dtype, and prints the mean of the two dtypes beside the
committed value, then a line to paste where they have drifted by more than a factor of 1.5.
It exits 0; it asserts nothing.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import symgrad
from symgrad.codegen import load
from symgrad.functions import TABLE
from symgrad.ufunc_costs import PASSES

N = 2**20
RUNS = 15


def operations(x: np.ndarray, y: np.ndarray, m: np.ndarray) -> dict[str, Callable[[], object]]:
    """What each key of PASSES stands for, as a call on arrays of N elements."""
    p = np.abs(x) + 0.5  # where log and sqrt are defined
    return {
        "arithmetic": lambda: x * y,
        "square": lambda: x**2,
        "compare": lambda: x > y,
        "pow": lambda: p**1.5,
        "exp": lambda: np.exp(x),
        "log": lambda: np.log(p),
        "tanh": lambda: np.tanh(x),
        "sqrt": lambda: np.sqrt(p),
        "maximum": lambda: np.maximum(x, 0),
        "minimum": lambda: np.minimum(x, 0),
        "abs": lambda: np.abs(x),
        "sign": lambda: np.sign(x),
        "where": lambda: np.where(m, x, y),
        "astype": lambda: m.astype(x.dtype),
    }


def named_calls(x: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], object]]:
    """The named functions' calls (``symgrad.functions.TABLE`` entries with a ``call``), the
    helpers taken from a generated module that carries them."""
    helpers = load(symgrad.generate(["GELU"]))  # carries erf and erfc
    calls = {}
    for f in TABLE.values():
        if not f.call:
            continue
        fn = getattr(np, f.call[3:]) if f.call.startswith("np.") else getattr(helpers, f.call)
        args = (x, y) if f.call == "np.logaddexp" else (np.abs(x),)  # log1p: no nan path
        calls[f.call] = functools.partial(fn, *args)
    return calls


def best(f: Callable[[], object]) -> float:
    f()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def measured() -> dict[str, float]:
    """Passes per operation: the mean over float32 and float64 of its time over a multiply's."""
    rng = np.random.default_rng(0)
    out: dict[str, list[float]] = {}
    for dtype in (np.float32, np.float64):
        x, y = (rng.standard_normal(N).astype(dtype) for _ in range(2))
        m = rng.random(N) < 0.5
        ops = operations(x, y, m) | named_calls(x, y)
        unit = best(ops["arithmetic"])
        for name, f in ops.items():
            out.setdefault(name, []).append(best(f) / unit)
    return {name: sum(v) / len(v) for name, v in out.items()}


def main() -> int:
    got = measured()
    print(f"numpy {np.__version__}; passes: time / one multiply of 2**20 elements, mean f32/f64")
    print(f"{'operation':<12} {'measured':>9} {'committed':>10}")
    drift = []
    named = {f.call: f.cost for f in TABLE.values() if f.call}
    for name, committed in (PASSES | named).items():
        value = got.get(name)
        text = "n/a" if value is None else f"{value:9.1f}"
        print(f"{name:<12} {text:>9} {committed:>10}")
        if value is not None and not (committed / 1.5 <= max(value, 1.0) <= committed * 1.5):
            drift.append(name)
    table = ", ".join(f'"{k}": {max(1, round(v))}' for k, v in got.items() if k in PASSES)
    print("\nmeasured, rounded:", "{" + table + "}")
    print("drifted by more than 1.5x:", ", ".join(drift) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
