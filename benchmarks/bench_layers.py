"""Benchmark symgrad's generated NumPy layers against the hand-written textbook layers.

Run ``python benchmarks/bench_layers.py [--quick] [--repeats N]``. It prints a report and always
exits 0: the targets are printed as PASS/MISS, they are not assertions.

What is measured, in one run:

1. Every catalog layer, float32 and float64, shapes 256x4096 and 1024x4096 (``--quick``: only
   256x4096): the time of one ``forward`` plus one ``backward`` of the generated class (from
   ``symgrad.generate``) and of the textbook class (``symgrad.textbook.LAYERS``). Targets:
   generated/hand-written <= 1.05 for every layer, <= 0.3 for Relu.
2. Relu only: bytes moved per second by forward+backward, against the machine's copy bandwidth
   (``np.copyto`` on 256 MiB arrays, bytes read + bytes written per second). Traffic models:
   generated, minimum (read x, write y and a 1-byte mask; read mask and dout, write dx) and as
   its NumPy calls run; textbook as its calls run (printed next to each). A small shape's working
   set may fit in the last-level cache, so the copy bandwidth at the layer's own array size
   (cache-warm) is printed as well.
3. The cold time to derive and generate the whole catalog, in a fresh interpreter, 3 times.
   Target: < 5 s.

Method and fairness rules:

- Interleaving: each repetition times the generated layer and the textbook layer back to back,
  alternating which goes first, so that drift on a shared machine (other processes, frequency
  changes) hits both alike. Two untimed warm-up repetitions come first; the garbage collector is
  off while timing.
- Statistic: the minimum over the repetitions (default 21) is the reported time and decides
  PASS/MISS; the minimum is the least noisy estimate of what the code costs on a noisy VM. The
  ratio of the medians is printed next to it as a check on stability.
- What is timed: ``layer.forward(*inputs)`` followed by ``layer.backward(dout)`` on a layer object
  created just before, outside the timed region. Results stay referenced until the clock is
  read (as in training, where they are used), so freeing them is not timed.
- ``dout``: the textbook Relu writes into ``dout`` in ``backward``. So each implementation, in
  each repetition, gets its own fresh ``dout.copy()``, made just before its timed call and
  outside the timed region; both start with the same (warm) cache state and neither pays for
  the copy.
- Page faults: the minor page faults of each timed call (``getrusage``, read outside the clock)
  are printed as a median per repetition, generated/textbook. Large NumPy temporaries come from
  ``malloc``; when glibc hands freed memory back to the OS, every call pays to fault fresh pages
  in, and that can cost more than the arithmetic. It is part of what a caller pays, so it is
  timed, but the column shows when it dominates. glibc raises its mmap threshold the first
  time a large block is freed, so without care the first cases would fault and later ones not,
  depending on case order; the benchmark therefore frees one 30 MiB block before any case
  (``settle_allocator``), putting every case in the steady state of a long-running process.
  Arrays of 32 MiB and more (1024x4096 float64) are always mmap'ed and fault on every call.
- Inputs are standard-normal random numbers (fixed seed), so masks are ~50% true and
  unpredictable, and nothing overflows. Generated and textbook results are compared once per
  case; a mismatch is printed.
"""

from __future__ import annotations

import argparse
import functools
import gc
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import symgrad
from symgrad.check import build
from symgrad.codegen import load
from symgrad.textbook import LAYERS

RATIO_TARGET = 1.05
RELU_RATIO_TARGET = 0.3
COLD_TARGET_S = 5.0
COLD_RUNS = 3
SHAPES: tuple[tuple[int, int], ...] = ((256, 4096), (1024, 4096))
DTYPES: tuple[type[np.floating], ...] = (np.float32, np.float64)
WARMUP = 2
COPY_BYTES = 256 * 2**20
COLD_CODE = (
    "import time; t=time.perf_counter(); import symgrad; "
    "symgrad.generate(list(symgrad.catalog)); print(time.perf_counter()-t)"
)


@dataclass
class Case:
    """One (layer, dtype, shape) comparison: the timings of each repetition, in seconds."""

    layer: str
    dtype: str
    shape: tuple[int, int]
    gen: list[float]
    ref: list[float]
    gen_faults: list[int]
    ref_faults: list[int]
    mismatch: bool = False

    @property
    def ratio(self) -> float:
        return min(self.gen) / min(self.ref)

    @property
    def ratio_median(self) -> float:
        return statistics.median(self.gen) / statistics.median(self.ref)

    @property
    def target(self) -> float:
        return RELU_RATIO_TARGET if self.layer == "Relu" else RATIO_TARGET

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def status(ok: bool) -> str:
    return "PASS" if ok else "MISS"


MATRIX_SHAPE = (256, 1024, 1024)  # N, D, M for Affine and MatMul, as the issue asks


def make_data(
    name: str, shape: tuple[int, int], dtype: type[np.floating], seed: int = 0
) -> tuple[dict[str, np.ndarray], list[np.ndarray], Any, tuple[int, ...]]:
    """Parameters, inputs and upstream gradient suited to the layer, and the shape timed.

    Elementwise and row-wise layers get standard-normal arrays of ``shape``; Affine and MatMul
    get x of (N, D), W of (D, M), b of (M,) with ``MATRIX_SHAPE``; losses get one-hot (softmax)
    or uniform targets of ``shape`` and a scalar ``dout`` of 1.
    """
    rng = np.random.default_rng(seed)
    spec = symgrad.catalog[name]
    if spec.kind == "matrix":
        n, d, m = MATRIX_SHAPE
        params = {"W": rng.standard_normal((d, m)).astype(dtype) / 32}
        if any(p.name == "b" for p in spec.params):
            params["b"] = rng.standard_normal(m).astype(dtype)
        x = rng.standard_normal((n, d)).astype(dtype)
        return params, [x], rng.standard_normal((n, m)).astype(dtype), (n, d, m)
    x = rng.standard_normal(shape).astype(dtype)
    if spec.kind == "loss":
        if spec.constraints:
            t = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
        else:
            t = rng.uniform(0, 1, shape).astype(dtype)
        return {}, [x, t], 1.0, shape
    inputs = [x] + [rng.standard_normal(shape).astype(dtype) for _ in spec.inputs[1:]]
    return {}, inputs, rng.standard_normal(shape).astype(dtype), shape


def factory(cls: type, name: str, params: dict[str, np.ndarray]) -> Callable[[], Any]:
    """A function making a fresh layer (with the same parameters)."""
    return functools.partial(build, cls, symgrad.derive(name), params)


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_once(
    make: Callable[[], Any], inputs: Sequence[np.ndarray], dout: Any
) -> tuple[float, int]:
    """Seconds and minor page faults for one forward + backward; the layer and the ``dout`` copy
    are made outside the clock."""
    layer = make()
    d = np.copy(dout) if isinstance(dout, np.ndarray) else dout
    faults = minor_faults()
    start = time.perf_counter()
    out = layer.forward(*inputs)
    grads = layer.backward(d)
    elapsed = time.perf_counter() - start
    faults = minor_faults() - faults
    del out, grads, layer, d
    return elapsed, faults


Samples = list[tuple[float, int]]


def interleaved(
    gen: Callable[[], Any],
    ref: Callable[[], Any],
    inputs: Sequence[np.ndarray],
    dout: Any,
    repeats: int,
) -> tuple[Samples, Samples]:
    """Time ``gen`` and ``ref`` alternately, swapping which goes first every repetition."""
    gen_samples: Samples = []
    ref_samples: Samples = []
    gc.collect()
    gc.disable()
    try:
        for i in range(WARMUP + repeats):
            order = [(gen, gen_samples), (ref, ref_samples)]
            for cls, samples in order if i % 2 == 0 else order[::-1]:
                sample = time_once(cls, inputs, dout)
                if i >= WARMUP:
                    samples.append(sample)
    finally:
        gc.enable()
    return gen_samples, ref_samples


def as_tuple(result: Any) -> tuple[np.ndarray, ...]:
    return tuple(result) if isinstance(result, tuple) else (result,)


def results_differ(
    gen: Callable[[], Any], ref: Callable[[], Any], inputs: Sequence[np.ndarray], dout: Any
) -> bool:
    """Do the two implementations disagree on forward or backward (beyond rounding)?"""
    outs = []
    for make in (gen, ref):
        layer = make()
        y = layer.forward(*inputs)
        grads = as_tuple(layer.backward(np.copy(dout) if isinstance(dout, np.ndarray) else dout))
        params = tuple(getattr(layer, f"d{p}") for p in ("W", "b") if hasattr(layer, f"d{p}"))
        outs.append((np.asarray(y), *grads, *params))
    rtol = 1e-4 if inputs[0].dtype == np.float32 else 1e-10
    return not all(np.allclose(a, b, rtol=rtol, atol=rtol) for a, b in zip(*outs, strict=True))


def run_cases(generated: Any, shapes: Sequence[tuple[int, int]], repeats: int) -> list[Case]:
    cases = []
    for name, spec in symgrad.catalog.items():
        for dtype in DTYPES:
            for shape in shapes if spec.kind != "matrix" else shapes[:1]:
                params, inputs, dout, shape = make_data(name, shape, dtype)
                gen = factory(getattr(generated, name), name, params)
                ref = factory(LAYERS[name], name, params)
                mismatch = results_differ(gen, ref, inputs, dout)
                gen_s, ref_s = interleaved(gen, ref, inputs, dout, repeats)
                (gen_t, gen_f), (ref_t, ref_f) = zip(*gen_s), zip(*ref_s)
                dt_name = np.dtype(dtype).name
                case = Case(name, dt_name, shape, [*gen_t], [*ref_t], [*gen_f], [*ref_f], mismatch)
                cases.append(case)
                print(case_row(case), flush=True)
    return cases


def table_header() -> str:
    head = (
        f"{'layer':<16} {'dtype':<8} {'shape':<14} {'gen ms':>8} {'ref ms':>8} "
        f"{'ratio':>6} {'(med)':>6}  {'target':<7} {'status':<6} {'faults gen/ref':>14}"
    )
    return head + "\n" + "-" * len(head)


def case_row(c: Case) -> str:
    note = "  (results differ!)" if c.mismatch else ""
    return (
        f"{c.layer:<16} {c.dtype:<8} {shape_text(c.shape):<14} "
        f"{min(c.gen) * 1e3:>8.3f} {min(c.ref) * 1e3:>8.3f} "
        f"{c.ratio:>6.3f} {c.ratio_median:>6.3f}  <= {c.target:<4} {status(c.passed):<6} "
        f"{faults_text(c.gen_faults, c.ref_faults):>14}{note}"
    )


def faults_text(gen: list[int], ref: list[int]) -> str:
    return f"{statistics.median(gen):.0f}/{statistics.median(ref):.0f}"


def best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def settle_allocator() -> None:
    """Allocate and free one 30 MiB block, so that glibc's dynamic mmap threshold is raised
    once, before any case, not in whichever case first frees a large array."""
    block = np.ones(30 * 2**20, dtype=np.uint8)
    del block


def copy_bandwidth(nbytes: int, dtype: type[np.floating] = np.float64, repeats: int = 10) -> float:
    """Bytes read + written per second by ``np.copyto`` on arrays of ``nbytes`` each."""
    src = np.ones(nbytes // np.dtype(dtype).itemsize, dtype=dtype)
    dst = np.zeros_like(src)  # touched, so page faults are not timed
    np.copyto(dst, src)
    return 2 * src.nbytes / best_time(lambda: np.copyto(dst, src), repeats)


def relu_models(n: int, itemsize: int) -> dict[str, tuple[str, int]]:
    """Bytes moved by Relu forward+backward on ``n`` elements, per traffic model."""
    s = n * itemsize
    return {
        "gen, minimum": (
            "read x, write y, write mask; read mask, read dout, write dx",
            4 * s + 2 * n,
        ),
        "gen, actual": ("x>0: x+mask; maximum: x+y; dout*mask: mask+dout+dx", 5 * s + 2 * n),
        "ref, actual": (
            "x<=0: x+mask; copy: x+out; out[mask]=0: mask + r/w out; dout[mask]=0: mask + r/w dout",
            7 * s + 3 * n,
        ),
    }


def print_bandwidth(cases: Sequence[Case]) -> None:
    big = copy_bandwidth(COPY_BYTES)
    mib = COPY_BYTES >> 20
    print(f"\nCopy bandwidth (np.copyto, 2 x {mib} MiB, read+write): {big / 1e9:.1f} GB/s")
    print("Relu forward+backward, bytes per traffic model / best time:")
    for c in (c for c in cases if c.layer == "Relu"):
        n = c.shape[0] * c.shape[1]
        itemsize = np.dtype(c.dtype).itemsize
        same = copy_bandwidth(n * itemsize, np.dtype(c.dtype).type, repeats=20)
        print(
            f"  {c.dtype} {shape_text(c.shape)}  (copy bandwidth at this array size, "
            f"cache-warm: {same / 1e9:.1f} GB/s)"
        )
        for label, (what, nbytes) in relu_models(n, itemsize).items():
            t = min(c.gen) if label.startswith("gen") else min(c.ref)
            rate = nbytes / t
            print(
                f"    {label:<13} {nbytes / 2**20:6.1f} MiB {rate / 1e9:6.1f} GB/s "
                f"= {rate / big:5.2f} of copy bw   [{what}]"
            )


def cold_generation(runs: int = COLD_RUNS) -> list[float]:
    """Seconds to import symgrad and generate the whole catalog, each in a fresh interpreter."""
    times = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", COLD_CODE], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            print(f"  cold run failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return times


def print_cold(times: list[float]) -> bool:
    print(f"\nCold derive+generate of the whole catalog ({COLD_RUNS} fresh interpreters):")
    if not times:
        print(f"  no successful run  target < {COLD_TARGET_S:g} s  MISS")
        return False
    ok = min(times) < COLD_TARGET_S
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"  min {min(times):.2f} s  (runs: {runs})  target < {COLD_TARGET_S:g} s  {status(ok)}")
    return ok


def print_summary(cases: Sequence[Case], cold_ok: bool, cold: list[float]) -> None:
    misses = [c for c in cases if not c.passed]
    print("\nSummary:")
    for c in misses:
        over = c.ratio / c.target - 1
        print(
            f"  MISS {c.layer} {c.dtype} {shape_text(c.shape)}: ratio {c.ratio:.3f} > "
            f"{c.target} ({over:+.0%} over target)"
        )
    if not cold_ok:
        got = f"{min(cold):.2f} s" if cold else "no run"
        print(f"  MISS cold generation: {got}, target < {COLD_TARGET_S:g} s")
    if not misses and cold_ok:
        print("  all targets met")
    if any(c.mismatch for c in cases):
        print("  WARNING: some generated results differ from the textbook's (see table)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 256x4096 shape")
    parser.add_argument("--repeats", type=int, default=21, help="timed repetitions (default 21)")
    args = parser.parse_args(argv)
    shapes = SHAPES[:1] if args.quick else SHAPES
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, repeats {args.repeats}")
    print("times: min over interleaved repetitions of forward+backward; ratio = gen/ref (min),")
    print("(med) = ratio of medians; dout copies made outside the timed region for both;")
    print("faults = median minor page faults per timed call (4 KiB pages), gen/ref.\n")
    settle_allocator()
    generated = load(symgrad.generate(list(symgrad.catalog)))
    print(table_header())
    cases = run_cases(generated, shapes, args.repeats)
    print_bandwidth(cases)
    cold = cold_generation()
    cold_ok = print_cold(cold)
    print_summary(cases, cold_ok, cold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
