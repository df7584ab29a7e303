"""Benchmark symgrad's generated convolution, pooling and attention against the book and torch.

Run ``python benchmarks/bench_conv.py [--quick] [--repeats N]``. It prints a report and exits 0
whatever the timings: the targets are printed as PASS/MISS, they are not assertions. It exits 1
only when the implementations disagree (checked before anything is timed).

What is measured, in one run (``--quick``: float64 only, 7 repetitions, one cold run each):

1. Convolution, x (32, 16, 28, 28), W (32, 16, 3, 3), pad 1, stride 1, float32 and float64: one
   ``forward`` plus one ``backward`` of the generated class (from ``symgrad.codegen.generate``),
   of the book's im2col ``symgrad.textbook.Convolution`` and, when torch is installed, of
   ``torch.nn.functional.conv2d`` (CPU eager, autograd backward). Target: generated/book <= 1.05.
2. Max pooling 2x2, stride 2, on x (32, 32, 28, 28) (the shape of the convolution's output):
   generated ``Pooling`` against ``symgrad.textbook.Pooling`` and
   ``torch.nn.functional.max_pool2d``. Target: generated/book <= 1.0.
3. Attention, q, k, v (8, 8, 128, 64) (batch, heads, T, d): the hand-written
   ``symgrad.textbook.Attention`` against ``torch.nn.functional.scaled_dot_product_attention``
   (eager, autograd backward), and a generated ``Attention`` when the catalog or the drafts
   declare one ("generated Attention: not available yet" otherwise). No target: reported.
4. The cold CPU time of ``symgrad.derive(layer)`` for Convolution, Pooling, AvgPooling, Embedding,
   Attention and MultiHeadAttention, each in a fresh interpreter (3 runs, min),
   so that no in-process cache hides the cost. ``time.process_time`` is read inside the
   subprocess around the ``derive`` call alone (target < 3 s); the time from interpreter start
   (importing symgrad, loading the catalog) to the end of ``derive`` is printed beside it.

Method and fairness rules (as in ``bench_layers.py``):

- Interleaving: each repetition times every implementation back to back, rotating which goes
  first, so that drift on a shared machine hits all alike. Two untimed warm-up repetitions come
  first; the garbage collector is off while timing.
- Statistic: the minimum over the repetitions (default 21) is the reported time and decides
  PASS/MISS; the ratio of the medians is printed next to it, in parentheses, as a check on
  stability.
- What is timed: forward followed by backward on an object made just before, outside the timed
  region (for torch: the leaf tensors with ``requires_grad``, made from the same NumPy arrays
  without a copy). ``dout`` is copied for each call outside the clock. Results stay referenced
  until the clock is read.
- Threads: torch runs on one thread (``torch.set_num_threads(1)``), as in ``bench_layers.py``;
  NumPy's BLAS keeps its default thread count, which is printed with the CPU count and the load
  average (``OPENBLAS_NUM_THREADS=1`` makes it one thread too). On a machine shared with other
  busy processes, multi-threaded OpenBLAS can stall on some GEMM shapes (seen: a (32, 25088) @
  (25088, 144) product, as in the generated Convolution's dW, 100x slower with 2 threads under
  load, while the transposed product the book computes was not); compare with one thread then.
- Page faults: the median minor page faults per timed call are printed for each implementation;
  one 30 MiB block is freed before any case so that glibc's mmap threshold is raised up front.
- Inputs are standard-normal random numbers (fixed seed; W scaled by 1/sqrt(C*FH*FW)), so the
  pooling windows have no ties. Before timing, the forward output and every gradient (dx, dW,
  db; dq, dk, dv) of each implementation are compared with the book's and the largest absolute
  difference is printed; a difference beyond rounding aborts the run.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad import catalog, textbook
from symgrad.codegen import generate, load
from symgrad.registry import drafts

WARMUP = 2
COLD_RUNS = 3
COLD_TARGET = 3.0
DTYPES: tuple[type[np.floating], ...] = (np.float32, np.float64)
CONV = {"N": 32, "C": 16, "H": 28, "W": 28, "FN": 32, "FH": 3, "FW": 3, "pad": 1, "stride": 1}
POOL_SHAPE = (32, 32, 28, 28)
POOL = {"pool_h": 2, "pool_w": 2, "stride": 2, "pad": 0}
ATTN_SHAPE = (8, 8, 128, 64)  # batch, heads, T, d
TARGETS = {"Convolution": 1.05, "Pooling": 1.0}
GENERATED = ("Convolution", "Pooling", "Attention")
COLD_LAYERS = (
    "Convolution",
    "Pooling",
    "AvgPooling",
    "Embedding",
    "Attention",
    "MultiHeadAttention",
)
COLD_OPTIONAL: tuple[str, ...] = ()  # timed when declared (a draft)
COLD_CODE = """\
import time
start = time.process_time()
import symgrad
from symgrad import catalog
from symgrad.registry import drafts
import symgrad.engine
name = {name!r}
spec = catalog[name] if name in catalog else drafts[name]
before = time.process_time()
symgrad.derive(spec)
end = time.process_time()
print(end - before, end - start)
"""

Run = Callable[[], dict[str, Any]]  # one forward + backward; returns the results by name


def layer(name: str) -> Any:
    """The declaration of ``name``: from the catalog, else from the drafts, else None."""
    # Not drafts.get(name): a Catalog raises SymgradError, not KeyError, for an unknown name.
    return catalog[name] if name in catalog else (drafts[name] if name in drafts else None)  # noqa: SIM401


def status(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


@dataclass
class Impl:
    """One implementation of a case: ``make()`` (not timed) returns the ``Run`` that is timed."""

    label: str
    make: Callable[[], Run]
    times: list[float] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)


@dataclass
class Case:
    layer: str
    dtype: str
    what: str
    impls: list[Impl]

    def get(self, label: str) -> Impl | None:
        return next((i for i in self.impls if i.label == label), None)

    def ratio(self, a: str, b: str, stat: Callable[[list[float]], float] = min) -> float | None:
        ia, ib = self.get(a), self.get(b)
        if ia is None or ib is None:
            return None
        return stat(ia.times) / stat(ib.times)

    @property
    def target(self) -> float | None:
        return TARGETS.get(self.layer)

    @property
    def passed(self) -> bool | None:
        r = self.ratio("generated", "book")
        return None if r is None or self.target is None else r <= self.target


# ---------------------------------------------------------------------------------------------
# Implementations


def numpy_conv(cls: type, x: np.ndarray, W: np.ndarray, b: np.ndarray, dout: np.ndarray) -> Run:
    lay = cls(W.copy(), b.copy(), stride=CONV["stride"], pad=CONV["pad"])
    d = dout.copy()

    def run() -> dict[str, Any]:
        y = lay.forward(x)
        dx = lay.backward(d)
        return {"y": y, "dx": dx, "dW": lay.dW, "db": lay.db}

    return run


def numpy_pool(cls: type, x: np.ndarray, dout: np.ndarray) -> Run:
    lay = cls(**POOL)
    d = dout.copy()

    def run() -> dict[str, Any]:
        y = lay.forward(x)
        return {"y": y, "dx": lay.backward(d)}

    return run


def numpy_attention(
    cls: type, q: np.ndarray, k: np.ndarray, v: np.ndarray, dout: np.ndarray
) -> Run:
    lay = cls()
    d = dout.copy()

    def run() -> dict[str, Any]:
        y = lay.forward(q, k, v)
        dq, dk, dv = lay.backward(d)
        return {"y": y, "dq": dq, "dk": dk, "dv": dv}

    return run


def torch_conv(x: np.ndarray, W: np.ndarray, b: np.ndarray, dout: np.ndarray) -> Run:
    import torch
    import torch.nn.functional as F

    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, W, b))
    d = torch.from_numpy(dout.copy())

    def run() -> dict[str, Any]:
        y = F.conv2d(xt, wt, bt, stride=CONV["stride"], padding=CONV["pad"])
        y.backward(d)
        return {"y": y, "dx": xt.grad, "dW": wt.grad, "db": bt.grad}

    return run


def torch_pool(x: np.ndarray, dout: np.ndarray) -> Run:
    import torch
    import torch.nn.functional as F

    xt = torch.from_numpy(x).requires_grad_()
    d = torch.from_numpy(dout.copy())
    size, stride = (POOL["pool_h"], POOL["pool_w"]), POOL["stride"]

    def run() -> dict[str, Any]:
        y = F.max_pool2d(xt, size, stride, POOL["pad"])
        y.backward(d)
        return {"y": y, "dx": xt.grad}

    return run


def torch_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, dout: np.ndarray) -> Run:
    import torch
    import torch.nn.functional as F

    qt, kt, vt = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
    d = torch.from_numpy(dout.copy())

    def run() -> dict[str, Any]:
        y = F.scaled_dot_product_attention(qt, kt, vt)
        y.backward(d)
        return {"y": y, "dq": qt.grad, "dk": kt.grad, "dv": vt.grad}

    return run


def conv_case(generated: Any, dtype: type[np.floating], torch_ok: bool) -> Case:
    c = CONV
    rng = np.random.default_rng(0)
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"])).astype(dtype)
    W = rng.standard_normal((c["FN"], c["C"], c["FH"], c["FW"]))
    W = (W / math.sqrt(c["C"] * c["FH"] * c["FW"])).astype(dtype)
    b = rng.standard_normal(c["FN"]).astype(dtype)
    oh = 1 + (c["H"] + 2 * c["pad"] - c["FH"]) // c["stride"]
    ow = 1 + (c["W"] + 2 * c["pad"] - c["FW"]) // c["stride"]
    dout = rng.standard_normal((c["N"], c["FN"], oh, ow)).astype(dtype)
    impls = [
        Impl("generated", lambda: numpy_conv(generated.Convolution, x, W, b, dout)),
        Impl("book", lambda: numpy_conv(textbook.Convolution, x, W, b, dout)),
    ]
    if torch_ok:
        impls.append(Impl("torch", lambda: torch_conv(x, W, b, dout)))
    what = f"x {shape_text(x.shape)}, W {shape_text(W.shape)}, pad {c['pad']}, stride {c['stride']}"
    return Case("Convolution", np.dtype(dtype).name, what, impls)


def pool_case(generated: Any, dtype: type[np.floating], torch_ok: bool) -> Case:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(POOL_SHAPE).astype(dtype)
    n, ch, h, w = POOL_SHAPE
    oh = 1 + (h + 2 * POOL["pad"] - POOL["pool_h"]) // POOL["stride"]
    ow = 1 + (w + 2 * POOL["pad"] - POOL["pool_w"]) // POOL["stride"]
    dout = rng.standard_normal((n, ch, oh, ow)).astype(dtype)
    impls = [
        Impl("generated", lambda: numpy_pool(generated.Pooling, x, dout)),
        Impl("book", lambda: numpy_pool(textbook.Pooling, x, dout)),
    ]
    if torch_ok:
        impls.append(Impl("torch", lambda: torch_pool(x, dout)))
    what = (
        f"x {shape_text(x.shape)}, max {POOL['pool_h']}x{POOL['pool_w']}, stride {POOL['stride']}"
    )
    return Case("Pooling", np.dtype(dtype).name, what, impls)


def attention_case(generated: Any, dtype: type[np.floating], torch_ok: bool) -> Case:
    rng = np.random.default_rng(2)
    q, k, v, dout = (rng.standard_normal(ATTN_SHAPE).astype(dtype) for _ in range(4))
    impls = []
    cls = getattr(generated, "Attention", None)
    if cls is not None:
        impls.append(Impl("generated", lambda: numpy_attention(cls, q, k, v, dout)))
    impls.append(Impl("book", lambda: numpy_attention(textbook.Attention, q, k, v, dout)))
    if torch_ok:
        impls.append(Impl("torch", lambda: torch_attention(q, k, v, dout)))
    what = f"q, k, v {shape_text(ATTN_SHAPE)} (batch, heads, T, d)"
    return Case("Attention", np.dtype(dtype).name, what, impls)


# ---------------------------------------------------------------------------------------------
# Agreement and timing


def as_array(a: Any) -> np.ndarray:
    return a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)


def check_agreement(case: Case) -> None:
    """Compare every result of every implementation with the book's; abort beyond rounding."""
    results = {i.label: {k: as_array(v) for k, v in i.make()().items()} for i in case.impls}
    ref = results["book"]
    tol = 1e-4 if case.dtype == "float32" else 1e-10
    parts, bad = [], []
    for label, res in results.items():
        if label == "book":
            continue
        worst = 0.0
        for name, want in ref.items():
            got = np.reshape(res[name], np.shape(want))  # e.g. db (FN,) or (FN, 1, 1)
            diff = float(np.max(np.abs(got - want)))
            worst = max(worst, diff)
            scale = max(1.0, float(np.max(np.abs(want))))
            if not diff <= tol * scale:
                bad.append(f"{label} {name}: max |diff| {diff:.3g} > {tol:g} x {scale:.3g}")
        parts.append(f"{label}-book {worst:.2e}")
    found = ", ".join(parts) or "only the book's implementation, nothing to compare"
    print(f"  {case.layer} {case.dtype}: max |diff| over outputs and gradients: {found}")
    if bad:
        print(f"\nABORT: {case.layer} {case.dtype}: the implementations disagree:", file=sys.stderr)
        for line in bad:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_once(impl: Impl) -> tuple[float, int]:
    run = impl.make()
    faults = minor_faults()
    start = time.perf_counter()
    out = run()
    elapsed = time.perf_counter() - start
    faults = minor_faults() - faults
    del out, run
    return elapsed, faults


def interleaved(impls: Sequence[Impl], repeats: int) -> None:
    """Time the implementations back to back, rotating which goes first every repetition."""
    gc.collect()
    gc.disable()
    try:
        for i in range(WARMUP + repeats):
            k = i % len(impls)
            for impl in [*impls[k:], *impls[:k]]:
                elapsed, faults = time_once(impl)
                if i >= WARMUP:
                    impl.times.append(elapsed)
                    impl.faults.append(faults)
    finally:
        gc.enable()


def settle_allocator() -> None:
    """Free one 30 MiB block, so that glibc raises its mmap threshold before any case."""
    block = np.ones(30 * 2**20, dtype=np.uint8)
    del block


# ---------------------------------------------------------------------------------------------
# Report


def table_header() -> str:
    head = (
        f"{'layer':<12} {'dtype':<8} {'gen ms':>8} {'book ms':>8} {'torch ms':>8} "
        f"{'gen/book':>8} {'(med)':>6}  {'target':<7} {'status':<6} "
        f"{'gen/torch':>9} {'book/torch':>10}  {'faults gen/book/torch':>21}"
    )
    return head + "\n" + "-" * len(head)


def ms(impl: Impl | None) -> str:
    return "n/a" if impl is None else f"{min(impl.times) * 1e3:.3f}"


def num(value: float | None, width: int, digits: int = 3) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def case_row(c: Case) -> str:
    target = "-" if c.target is None else f"<= {c.target:g}"
    ok = c.passed
    faults = "/".join(
        "-" if (i := c.get(label)) is None else f"{statistics.median(i.faults):.0f}"
        for label in ("generated", "book", "torch")
    )
    return (
        f"{c.layer:<12} {c.dtype:<8} {ms(c.get('generated')):>8} {ms(c.get('book')):>8} "
        f"{ms(c.get('torch')):>8} {num(c.ratio('generated', 'book'), 8)} "
        f"{num(c.ratio('generated', 'book', statistics.median), 6)}  {target:<7} "
        f"{'-' if ok is None else status(ok):<6} {num(c.ratio('generated', 'torch'), 9, 2)} "
        f"{num(c.ratio('book', 'torch'), 10, 2)}  {faults:>21}"
    )


def cold_times(name: str, runs: int) -> list[tuple[float, float]]:
    """(derive, start to end of derive) CPU seconds, each run in a fresh interpreter."""
    times = []
    for _ in range(runs):
        code = COLD_CODE.format(name=name)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  {name}: cold run failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        derive, total = map(float, proc.stdout.strip().splitlines()[-1].split())
        times.append((derive, total))
    return times


def print_cold(runs: int) -> list[str]:
    print(f"\nCold symgrad.derive(layer), CPU seconds in fresh interpreters ({runs} run(s), min):")
    misses = []
    for name in (*COLD_LAYERS, *COLD_OPTIONAL):
        if layer(name) is None:
            print(f"  {name:<20} not declared in the catalog or the drafts: skipped")
            if name in COLD_LAYERS:
                misses.append(f"  MISS cold derive {name}: not declared")
            continue
        times = cold_times(name, runs)
        if not times:
            misses.append(f"  MISS cold derive {name}: no run")
            continue
        best = min(t for t, _ in times)
        total = min(t for _, t in times)
        ok = best < COLD_TARGET
        runs_text = ", ".join(f"{t:.2f}" for t, _ in times)
        print(
            f"  {name:<20} derive {best:5.2f} s  (runs: {runs_text})  target < {COLD_TARGET:g} s  "
            f"{status(ok)}   [interpreter start to end of derive: {total:.2f} s]"
        )
        if not ok:
            misses.append(f"  MISS cold derive {name}: {best:.2f} s, target < {COLD_TARGET:g} s")
    return misses


def print_summary(cases: Sequence[Case], cold_misses: list[str]) -> None:
    print("\nSummary:")
    misses = [c for c in cases if c.passed is False]
    for c in misses:
        r = c.ratio("generated", "book")
        print(
            f"  MISS {c.layer} {c.dtype}: generated/book {r:.3f} > {c.target:g} "
            f"({r / c.target - 1:+.0%} over target)"
        )
    for line in cold_misses:
        print(line)
    if not misses and not cold_misses:
        print("  all targets met")


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in info) or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="float64 only, 7 repetitions, one cold run each"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed repetitions (default 21)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (7 if args.quick else 21)
    dtypes = (np.float64,) if args.quick else DTYPES
    started = time.perf_counter()

    try:
        import torch
    except ImportError:
        torch = None
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, repeats {repeats}")
    if torch is None:
        print('torch is not installed (pip install -e ".[bench]"): the torch columns are skipped')
    else:
        torch.set_num_threads(1)
        print(f"torch {torch.__version__} CPU eager, one thread (torch.set_num_threads(1))")
    load1, load5, _ = os.getloadavg()
    print(
        f"NumPy BLAS threads: {blas_threads()}; {os.cpu_count()} CPUs, load average "
        f"{load1:.2f} (1 min) {load5:.2f} (5 min)"
    )
    print("times: min over interleaved repetitions of forward+backward; ratio = a/b (min),")
    print("(med) = ratio of medians; faults = median minor page faults per timed call.")

    found = {n: layer(n) for n in GENERATED}
    generated = load(generate([spec for spec in found.values() if spec is not None]))
    for n, spec in found.items():
        where = "catalog" if n in catalog else "drafts"
        print(f"generated {n}: " + ("not available yet" if spec is None else f"from the {where}"))
    if found["Convolution"] is None or found["Pooling"] is None:
        print("ABORT: Convolution and Pooling must be declared", file=sys.stderr)
        return 1

    settle_allocator()
    cases = [
        make(generated, dtype, torch is not None)
        for make in (conv_case, pool_case, attention_case)
        for dtype in dtypes
    ]
    print("\nAgreement (before timing; each against the book):")
    for case in cases:
        check_agreement(case)
    print()
    for what in dict.fromkeys(f"  {case.layer}: {case.what}" for case in cases):
        print(what)
    print()
    print(table_header())
    for case in cases:
        interleaved(case.impls, repeats)
        print(case_row(case), flush=True)
    cold_misses = print_cold(1 if args.quick else COLD_RUNS)
    print_summary(cases, cold_misses)
    print(f"\nbench_conv ran for {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
