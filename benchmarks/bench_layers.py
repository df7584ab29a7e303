"""Benchmark symgrad's generated NumPy layers against the hand-written textbook layers.

Run ``python benchmarks/bench_layers.py [--quick] [--repeats N]``. It prints a report and always
exits 0: the targets are printed as PASS/MISS, they are not assertions.

What is measured, in one run:

1. Every catalog layer, float32 and float64, shapes 256x4096 and 1024x4096 (``--quick``: only
   256x4096): the time of one ``forward`` plus one ``backward`` of the generated class (from
   ``symgrad.generate``) and of the textbook class (``symgrad.textbook.LAYERS``). Targets:
   generated/hand-written <= 1.05 for every layer, <= 0.3 for Relu, <= 0.8 for the book's
   BatchNormalization (its backward makes passes the compact form does not need), <= 1.0 for
   LayerNorm and RMSNorm. A shape (R, C) is the input's: R rows of C features (BatchNorm: a
   batch of R), (R, C) elements for an elementwise layer.
2. Relu only: bytes moved per second by forward+backward, against the machine's copy bandwidth
   (``np.copyto`` on 256 MiB arrays, bytes read + bytes written per second). Traffic models:
   generated, minimum (read x, write y and a 1-byte mask; read mask and dout, write dx) and as
   its NumPy calls run; textbook as its calls run (printed next to each). A small shape's working
   set may fit in the last-level cache, so the copy bandwidth at the layer's own array size
   (cache-warm) is printed as well.
3. LayerNorm and RMSNorm against torch CPU eager (``F.layer_norm``, ``F.rms_norm``, one
   thread, forward+backward through autograd), reported, when torch is installed.
4. The cold time (CPU seconds) to derive and generate the whole catalog, to derive LayerNorm,
   and to derive a composition of six sigmoids, each in a fresh interpreter, 3 times. Targets:
   < 5 s, < 2 s, < 2 s.

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
from symgrad.codegen import load
from symgrad.sampling import build, sample
from symgrad.textbook import LAYERS

RATIO_TARGET = 1.05
TARGETS = {"Relu": 0.3, "BatchNormalization": 0.8, "LayerNorm": 1.0, "RMSNorm": 1.0}
COLD_RUNS = 3
SHAPES: tuple[tuple[int, int], ...] = ((256, 4096), (1024, 4096))
DTYPES: tuple[type[np.floating], ...] = (np.float32, np.float64)
WARMUP = 2
COPY_BYTES = 256 * 2**20
_CHAIN = "sigmoid(" * 6 + "x" + ")" * 6
COLD = {  # what, code run in a fresh interpreter, target in CPU seconds
    "derive+generate the catalog": ("symgrad.generate(list(symgrad.catalog))", 5.0),
    "derive LayerNorm": ("symgrad.derive('LayerNorm')", 2.0),
    "derive sigmoid^6 (x)": (f"symgrad.derive(symgrad.elementwise('C', '{_CHAIN}', 'x'))", 2.0),
}
COLD_CODE = "import time; t=time.process_time(); import symgrad; {}; print(time.process_time()-t)"


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
        return TARGETS.get(self.layer, RATIO_TARGET)

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

    Layers with a contraction (Affine, MatMul) get x of (N, D), W of (D, M), b of (M,) with
    ``MATRIX_SHAPE``; every other layer an input of ``shape`` (its first two axes, or the
    ``...`` group), parameters and targets to match (``symgrad.sampling``), and ``dout`` of
    the output's shape (1.0 for a loss).
    """
    rng = np.random.default_rng(seed)
    d = symgrad.derive(name)
    x = d.spec.inputs[0]
    if any(s.kind == "contract" for s in d.spec.statements):
        n, dd, m = MATRIX_SHAPE
        sizes: dict[str, Any] = {"n": n, "d": dd, "m": m}
        shape = (n, dd, m)
    elif x.axes == ("...",):
        sizes = {"...": shape}
    elif x.axes[0] == "...":
        sizes = {"...": shape[:1], x.axes[1]: shape[1]}
    else:
        sizes = {x.axes[0]: shape[0], x.axes[1]: shape[1], "...": ()}
    params, inputs = sample(d, rng, dtype, sizes=sizes)
    if name in ("Affine", "MatMul"):
        params["W"] /= 32
    np.random.seed(seed)
    out = build(LAYERS[name], d, params).forward(*[a.copy() for a in inputs])
    dout = 1.0 if np.ndim(out) == 0 else rng.standard_normal(np.shape(out)).astype(dtype)
    return params, inputs, dout, shape


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
        np.random.seed(0)  # Dropout: both draw the same mask
        layer = make()
        y = layer.forward(*inputs)
        grads = as_tuple(layer.backward(np.copy(dout) if isinstance(dout, np.ndarray) else dout))
        names = ("W", "b", "gamma", "beta", "alpha")
        params = tuple(getattr(layer, f"d{p}") for p in names if hasattr(layer, f"d{p}"))
        outs.append((np.asarray(y), *grads, *params))
    rtol = 1e-4 if inputs[0].dtype == np.float32 else 1e-10
    return not all(np.allclose(a, b, rtol=rtol, atol=rtol) for a, b in zip(*outs, strict=True))


def run_cases(generated: Any, shapes: Sequence[tuple[int, int]], repeats: int) -> list[Case]:
    cases = []
    for name, spec in symgrad.catalog.items():
        for dtype in DTYPES:
            contract = any(s.kind == "contract" for s in spec.statements)
            for shape in shapes[:1] if contract else shapes:
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


def cold_times(code: str, runs: int = COLD_RUNS) -> list[float]:
    """CPU seconds of ``code`` after importing symgrad, each run in a fresh interpreter."""
    times = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", COLD_CODE.format(code)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(f"  cold run failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return times


def print_cold() -> list[str]:
    """The cold timings with their targets; the misses, as lines for the summary."""
    print(f"\nCold, CPU seconds in fresh interpreters ({COLD_RUNS} runs, min):")
    misses = []
    for what, (code, target) in COLD.items():
        times = cold_times(code)
        ok = bool(times) and min(times) < target
        got = f"{min(times):.2f} s" if times else "no run"
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"  {what:<30} {got:>8}  (runs: {runs})  target < {target:g} s  {status(ok)}")
        if not ok:
            misses.append(f"  MISS cold {what}: {got}, target < {target:g} s")
    return misses


def _torch_step(name: str, x0: np.ndarray, dout: np.ndarray, params: dict, eps: float) -> None:
    """One forward+backward of torch's own LayerNorm or RMSNorm."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(x0).requires_grad_()
    w = torch.from_numpy(params["gamma"]).requires_grad_()
    shape = (x0.shape[-1],)
    if name == "LayerNorm":
        b = torch.from_numpy(params["beta"]).requires_grad_()
        y = F.layer_norm(x, shape, w, b, eps)
    else:
        y = F.rms_norm(x, shape, w, eps)
    y.backward(torch.from_numpy(dout))


def torch_norms(generated: Any, repeats: int) -> None:
    """LayerNorm and RMSNorm, generated against torch CPU eager, one thread (reported)."""
    try:
        import torch
    except ImportError:
        print("\ntorch is not installed: the comparison with torch CPU eager is skipped")
        return
    torch.set_num_threads(1)
    print(f"\nAgainst torch {torch.__version__} CPU eager, one thread (forward+backward, min):")
    for name in ("LayerNorm", "RMSNorm"):
        for dtype in DTYPES:
            params, inputs, dout, shape = make_data(name, SHAPES[0], dtype)
            make = factory(getattr(generated, name), name, params)
            ours = min(time_once(make, inputs, dout)[0] for _ in range(repeats))
            eps = make().eps
            run = functools.partial(_torch_step, name, inputs[0], np.asarray(dout), params, eps)
            theirs = best_time(run, repeats)
            print(
                f"  {name:<10} {np.dtype(dtype).name:<8} {shape_text(shape):<10} "
                f"generated {ours * 1e3:7.3f} ms  torch {theirs * 1e3:7.3f} ms  "
                f"ratio {ours / theirs:5.2f}"
            )


def print_summary(cases: Sequence[Case], cold_misses: list[str]) -> None:
    misses = [c for c in cases if not c.passed]
    print("\nSummary:")
    for c in misses:
        over = c.ratio / c.target - 1
        print(
            f"  MISS {c.layer} {c.dtype} {shape_text(c.shape)}: ratio {c.ratio:.3f} > "
            f"{c.target} ({over:+.0%} over target)"
        )
    for line in cold_misses:
        print(line)
    if not misses and not cold_misses:
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
    torch_norms(generated, args.repeats)
    cold_misses = print_cold()
    print_summary(cases, cold_misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
