"""Benchmark symgrad's generated NumPy layers against the hand-written textbook layers.

Run ``python benchmarks/bench_layers.py [--quick] [--repeats N]``. It prints a report; the
targets are printed as PASS/MISS, they are not assertions. It exits 0, or 1 when a peer's
results disagree with the generated layer's (then its times would compare different work).

What is measured, in one run:

1. Every catalog layer, float32 and float64, shapes 256x4096 and 1024x4096 (``--quick``: only
   256x4096; Affine and MatMul at ``MATRIX_SHAPE``, windows, attention and Embedding at
   ``OWN_SIZES``): the time of one ``forward`` plus one ``backward`` of the generated class (from
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
3. Beside the peers (``peers.py``): the same forward+backward written with torch CPU eager ops
   (autograd) and with JAX under ``jit`` (``jax.vjp``), interleaved with the generated layer
   (timed again for them, apart from the book's comparison, which they would disturb); the
   columns are generated/torch (target <= 1.5) and generated/jax. Each peer is checked
   against the generated layer (output and every gradient) before it is timed; a peer that
   disagrees is printed as DIFF, listed as an ERROR, and the script exits 1. A layer without a
   peer (Dropout: the book's does not rescale) says why. Torch, XLA and BLAS run on one thread.
4. Where the time and memory go (``costs.py``), for every generated case: the bytes the layer
   must move given what it keeps, and its time at the memory bandwidth over the layer's time
   (target >= 0.70 for Relu and LeakyReLU); the transcendental ufunc calls it makes (recorded by
   running it with ``np`` replaced), and one NumPy pass of each of them over the layer's time
   (target: within 1.3x where the layer makes one per element); the forward's and backward's
   tracemalloc peak against what each leaves allocated (ideal: equal).
5. The cold time (CPU seconds) to derive and generate the whole catalog, to derive LayerNorm,
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
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# one thread everywhere: NumPy's BLAS, torch, XLA (set before any of them is imported)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402

import symgrad  # noqa: E402
from symgrad.codegen import load  # noqa: E402
from symgrad.sampling import build, sample  # noqa: E402
from symgrad.textbook import LAYERS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import costs as costing  # noqa: E402
import peers  # noqa: E402
from costs import Costs  # noqa: E402

RATIO_TARGET = 1.05
PEER_TARGET = 1.5  # generated / torch CPU eager
BANDWIDTH_TARGET = {"Relu": 0.70, "LeakyReLU": 0.70}  # fraction of the copy bandwidth
UFUNC_TARGET = 1.3  # one-transcendental layers: time / one NumPy pass of that ufunc
TEMPORARY_SLACK = 0.05  # peak - kept, in units of one input, that still counts as ideal
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
    """One (layer, dtype, shape) comparison: the timings of each repetition, in seconds, of the
    generated layer, the textbook's, and each peer (``peers.py``: torch eager, JAX jit)."""

    layer: str
    dtype: str
    shape: tuple[int, ...]
    gen: list[float]
    ref: list[float]
    gen_faults: list[int]
    ref_faults: list[int]
    mismatch: bool = False
    peers: dict[str, list[float]] = field(default_factory=dict)
    peer_notes: dict[str, str] = field(default_factory=dict)  # why a peer has no time
    costs: Costs | None = None
    gen_beside_peers: list[float] = field(default_factory=list)  # timed with the peers

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

    def peer_ratio(self, peer: str) -> float | None:
        """Generated over the peer, both timed in the same interleaved set."""
        times = self.peers.get(peer)
        return min(self.gen_beside_peers) / min(times) if times else None


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def status(ok: bool) -> str:
    return "PASS" if ok else "MISS"


MATRIX_SHAPE = (256, 1024, 1024)  # N, D, M for Affine and MatMul, as the issue asks
# Layers whose arguments are not rows of features get sizes of their own (axis sizes, the
# constants given to both classes), as bench_conv.py uses: a convolution of 32 images of
# 16x28x28 by 32 filters of 3x3 (pad 1), 2x2 pooling with stride 2, attention over 128
# positions of 64 features in 8x8 heads, 8-head attention on 32 sequences of 128x512, an
# embedding of 64x128 ids into 10000x512.
OWN_SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "Convolution": ({"n": 32, "c": 16, "h": 28, "w": 28, "fn": 32, "fh": 3, "fw": 3}, {"pad": 1}),
    "Pooling": ({"n": 32, "c": 32, "h": 28, "w": 28}, {"pool_h": 2, "pool_w": 2, "stride": 2}),
    "AvgPooling": ({"n": 32, "c": 32, "h": 28, "w": 28}, {"pool_h": 2, "pool_w": 2, "stride": 2}),
    "Attention": ({"...": (8, 8), "t": 128, "s": 128, "e": 64, "f": 64}, {}),
    "MultiHeadAttention": ({"n": 32, "t": 128, "d": 512, "c": 512, "m": 512}, {"heads": 8}),
    "Embedding": ({"...": (64, 128), "v": 10000, "d": 512}, {}),
}


@dataclass
class Data:
    """What one case runs on: parameters, forward arguments, upstream gradient, the constants
    given to the classes, and the shape shown (the first argument's)."""

    params: dict[str, np.ndarray]
    inputs: list[np.ndarray]
    dout: Any
    constants: dict[str, Any]
    shape: tuple[int, ...]


def sizes_for(name: str, shape: tuple[int, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Axis sizes and constants for ``name`` at the benchmark's ``shape`` (see make_data)."""
    if name in OWN_SIZES:
        return OWN_SIZES[name]
    d = symgrad.derive(name)
    x = d.spec.with_role("input", "target")[0]
    if any(s.kind == "contract" for s in d.spec.statements):
        n, dd, m = MATRIX_SHAPE
        return {"n": n, "d": dd, "m": m}, {}
    if x.axes == ("...",):
        return {"...": shape}, {}
    if x.axes[0] == "...":
        return {"...": shape[:1], x.axes[1]: shape[1]}, {}
    return {x.axes[0]: shape[0], x.axes[1]: shape[1], "...": ()}, {}


def make_data(name: str, shape: tuple[int, int], dtype: type[np.floating], seed: int = 0) -> Data:
    """Parameters, inputs and upstream gradient suited to the layer.

    Layers with a contraction (Affine, MatMul) get x of (N, D), W of (D, M), b of (M,) with
    ``MATRIX_SHAPE`` (weights scaled by 1/sqrt of their first axis); those in ``OWN_SIZES``
    their own sizes; every other layer an input of ``shape`` (its first two axes, or the
    ``...`` group), parameters and targets to match (``symgrad.sampling``), and ``dout`` of
    the output's shape (1.0 for a loss).
    """
    rng = np.random.default_rng(seed)
    d = symgrad.derive(name)
    sizes, constants = sizes_for(name, shape)
    params, inputs = sample(d, rng, dtype, sizes=sizes)
    for p in ("W", "Wq", "Wk", "Wv", "Wo"):
        if p in params and params[p].ndim == 2 and name != "Embedding":
            params[p] /= np.sqrt(params[p].shape[0])  # keep outputs O(1)
    np.random.seed(seed)
    out = build(LAYERS[name], d, params, **constants).forward(*[a.copy() for a in inputs])
    dout = 1.0 if np.ndim(out) == 0 else rng.standard_normal(np.shape(out)).astype(dtype)
    return Data(params, inputs, dout, constants, inputs[0].shape)


def factory(cls: type, name: str, data: Data) -> Callable[[], Any]:
    """A function making a fresh layer (with the same parameters and constants)."""
    return functools.partial(build, cls, symgrad.derive(name), data.params, **data.constants)


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


Prepare = Callable[[], Callable[[], Any]]  # made outside the clock; what it returns is timed


def layer_run(make: Callable[[], Any], inputs: Sequence[np.ndarray], dout: Any) -> Prepare:
    """Prepare a forward + backward of a fresh layer on its own copy of ``dout`` (the textbook
    Relu writes into ``dout``); the layer and the copy are made outside the clock."""

    def prepare() -> Callable[[], Any]:
        layer = make()
        d = np.copy(dout) if isinstance(dout, np.ndarray) else dout
        return lambda: (layer.forward(*inputs), layer.backward(d))

    return prepare


def time_once(prepare: Prepare) -> tuple[float, int]:
    """Seconds and minor page faults for one timed run; results stay referenced until the
    clock is read."""
    run = prepare()
    faults = minor_faults()
    start = time.perf_counter()
    out = run()
    elapsed = time.perf_counter() - start
    faults = minor_faults() - faults
    del out, run
    return elapsed, faults


Samples = list[tuple[float, int]]


def interleaved(runs: Sequence[Prepare], repeats: int) -> list[Samples]:
    """Time every implementation once per repetition, rotating which goes first."""
    samples: list[Samples] = [[] for _ in runs]
    gc.collect()
    gc.disable()
    try:
        for i in range(WARMUP + repeats):
            for k in range(len(runs)):
                j = (i + k) % len(runs)
                sample = time_once(runs[j])
                if i >= WARMUP:
                    samples[j].append(sample)
    finally:
        gc.enable()
    return samples


def results_differ(gen: Callable[[], Any], ref: Callable[[], Any], data: Data) -> bool:
    """Do the two implementations disagree on forward or backward (beyond rounding)?"""
    outs = []
    for make in (gen, ref):
        np.random.seed(0)  # Dropout: both draw the same mask
        y, grads, params = peers.generated_results(make(), data.inputs, data.dout, data.params)
        outs.append((y, grads, params))
    rtol = 1e-4 if data.inputs[0].dtype == np.float32 else 1e-10
    return bool(peers.disagreements(outs[0], outs[1], rtol))


def peer_runs(name: str, make: Callable[[], Any], data: Data) -> tuple[dict, dict[str, str]]:
    """Each installed peer's timed step, checked against the generated layer first; and, for
    each peer without a time, why (not installed, no peer, or its results differ)."""
    runs: dict[str, Prepare] = {}
    notes: dict[str, str] = {}
    if name in peers.NO_PEER:
        return runs, dict.fromkeys(PEERS, "no peer: " + peers.NO_PEER[name])
    diff = peers.differentiable(symgrad.derive(name).spec)
    ours = peers.generated_results(make(), data.inputs, data.dout, data.params)
    rtol = 1e-3 if data.inputs[0].dtype == np.float32 else 1e-8
    for label, (table, stepper) in PEERS.items():
        if table is None:
            notes[label] = f"{label} is not installed"
            continue
        step = stepper(table[name], data.inputs, data.params, make(), data.dout, diff)
        bad = peers.disagreements(ours, step(), rtol)
        if bad:
            notes[label] = "DIFFERS: " + ", ".join(bad)
            continue
        runs[label] = functools.partial(lambda s: s, step)
    return runs, notes


def run_cases(generated: Any, shapes: Sequence[tuple[int, int]], repeats: int) -> list[Case]:
    cases = []
    for name in symgrad.catalog:
        for dtype in DTYPES:
            one = name in OWN_SIZES or any(
                s.kind == "contract" for s in symgrad.catalog[name].statements
            )
            for shape in shapes[:1] if one else shapes:
                cases.append(run_case(generated, name, dtype, shape, repeats))
                print(case_row(cases[-1]), flush=True)
    return cases


def run_case(
    generated: Any, name: str, dtype: type[np.floating], shape: tuple[int, int], repeats: int
) -> Case:
    data = make_data(name, shape, dtype)
    gen = factory(getattr(generated, name), name, data)
    ref = factory(LAYERS[name], name, data)
    mismatch = results_differ(gen, ref, data)
    others, notes = peer_runs(name, gen, data)
    ours = layer_run(gen, data.inputs, data.dout)
    samples = interleaved([ours, layer_run(ref, data.inputs, data.dout)], repeats)
    (gen_t, gen_f), (ref_t, ref_f) = (zip(*s) for s in samples)
    # the peers in a set of their own, with the generated layer timed again beside them: a
    # framework's run can leave the machine (caches, allocator, threads) in a state that
    # slows whatever follows, and the book's comparison should not pay for it
    peer_samples = interleaved([ours, *others.values()], repeats) if others else []
    times = {label: [t for t, _ in s] for label, s in zip(others, peer_samples[1:])}
    case = Case(name, np.dtype(dtype).name, data.shape, [*gen_t], [*ref_t], [*gen_f], [*ref_f])
    case.mismatch, case.peers, case.peer_notes = mismatch, times, notes
    case.gen_beside_peers = [t for t, _ in peer_samples[0]] if others else []
    case.costs = costs(name, gen, data)
    return case


PEERS: dict[str, tuple[dict | None, Callable]] = {}  # label -> (peer table, stepper); see main
SOURCE: list[str] = []  # the generated catalog's source (main fills it)


def load_peers() -> None:
    """Fill ``PEERS`` with torch's and JAX's tables, or None where one is not installed."""
    try:
        import torch

        torch.set_num_threads(1)
        PEERS["torch"] = (peers.torch_peers(), peers.torch_step)
    except ImportError:
        PEERS["torch"] = (None, peers.torch_step)
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        PEERS["jax"] = (peers.jax_peers(), peers.jax_step)
    except ImportError:
        PEERS["jax"] = (None, peers.jax_step)


def costs(name: str, make: Callable[[], Any], data: Data) -> Costs:
    """The generated layer's measured costs (``costs.py``)."""
    d = symgrad.derive(name)

    def construct(cls: type) -> Any:
        return build(cls, d, data.params, **data.constants)

    return costing.measure(SOURCE[0], name, construct, make, data.inputs, data.dout)


def table_header() -> str:
    head = (
        f"{'layer':<18} {'dtype':<8} {'shape':<16} {'gen ms':>8} {'book ms':>8} "
        f"{'ratio':>6} {'(med)':>6}  {'target':<7} {'status':<6} "
        f"{'torch':>6} {'<=1.5':<5} {'jax':>6} {'faults gen/ref':>15}"
    )
    return head + "\n" + "-" * len(head)


def case_row(c: Case) -> str:
    note = "  (results differ!)" if c.mismatch else ""
    return (
        f"{c.layer:<18} {c.dtype:<8} {shape_text(c.shape):<16} "
        f"{min(c.gen) * 1e3:>8.3f} {min(c.ref) * 1e3:>8.3f} "
        f"{c.ratio:>6.3f} {c.ratio_median:>6.3f}  <= {c.target:<4} {status(c.passed):<6} "
        f"{peer_text(c, 'torch'):>6} {peer_status(c):<5} {peer_text(c, 'jax'):>6} "
        f"{faults_text(c.gen_faults, c.ref_faults):>15}{note}"
    )


def peer_text(c: Case, peer: str) -> str:
    r = c.peer_ratio(peer)
    return f"{r:.2f}" if r is not None else ("DIFF" if "DIFFERS" in c.peer_notes[peer] else "n/a")


def peer_status(c: Case) -> str:
    r = c.peer_ratio("torch")
    return "" if r is None else status(r <= PEER_TARGET)


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


@functools.cache
def memory_bandwidth() -> float:
    """Bytes per second np.copyto moves (read + written) on arrays far larger than the caches."""
    return copy_bandwidth(COPY_BYTES)


def bandwidth_fraction(c: Case) -> float:
    """The time the case's traffic takes at the memory bandwidth, over the case's time (1.0:
    at the bound; above 1 where the arrays stay in the cache)."""
    assert c.costs is not None
    return c.costs.traffic / memory_bandwidth() / min(c.gen)


def ufunc_fraction(c: Case) -> float | None:
    """One NumPy pass of each transcendental call over the case's time (None: no such call)."""
    assert c.costs is not None
    return c.costs.ufunc_limit / min(c.gen) if c.costs.calls else None


def one_transcendental(c: Case) -> bool:
    """Is the layer's cost one transcendental ufunc per element (a row-wise one included)?"""
    return c.costs is not None and 0.99 <= c.costs.per_element <= 1.05


def cost_lines(c: Case) -> tuple[str, list[str]]:
    """The case's row of the cost table, and its misses."""
    assert c.costs is not None
    k, misses, where = c.costs, [], f"{c.layer} {c.dtype} {shape_text(c.shape)}"
    bw = bandwidth_fraction(c)
    bw_goal = BANDWIDTH_TARGET.get(c.layer)
    if bw_goal is not None and bw < bw_goal:
        misses.append(f"  MISS bandwidth {where}: {bw:.2f} of copy bandwidth < {bw_goal}")
    uf = ufunc_fraction(c)
    uf_text = "-" if uf is None else f"{uf:.2f}"
    if one_transcendental(c) and uf is not None:
        ok = 1 / uf <= UFUNC_TARGET
        uf_text += " " + status(ok)
        if not ok:
            misses.append(
                f"  MISS ufunc {where}: {1 / uf:.2f}x one pass of its ufunc > {UFUNC_TARGET}"
            )
    temp_ok = max(k.fwd_extra, k.bwd_extra) <= TEMPORARY_SLACK
    if not temp_ok:
        misses.append(
            f"  MISS temporaries {where}: forward {k.fwd_extra:+.2f}, backward "
            f"{k.bwd_extra:+.2f} inputs beyond what is kept"
        )
    names = ",".join(sorted({n for n, _, _ in k.calls})) or "-"
    row = (
        f"{c.layer:<18} {c.dtype:<8} {shape_text(c.shape):<16} {k.traffic / 2**20:>8.1f} "
        f"{bw:>6.2f} {status(bw >= bw_goal) if bw_goal else '':<4} "
        f"{k.per_element:>5.2f} {names:<18} {uf_text:<9} "
        f"{k.fwd_peak:>5.2f}/{k.fwd_kept:<5.2f} {k.bwd_peak:>5.2f}/{k.bwd_kept:<5.2f} "
        f"{status(temp_ok)}"
    )
    return row, misses


def print_costs(cases: Sequence[Case]) -> list[str]:
    """Where each generated layer's time and memory go, against its limits; the misses."""
    print(
        "\nWhere the time and memory go (generated layers). traffic: bytes forward+backward "
        "must move, given what\nthe layer keeps; bw: its time at the memory bandwidth "
        f"(np.copyto, {COPY_BYTES >> 20} MiB), over the time (1.0 = at the\nbound; above 1 "
        "in cache); tr/el: transcendental ufunc evaluations per input element; ufunc: one\n"
        "NumPy pass of each of them, over the time (1.0 = at NumPy's limit; target >= "
        f"{1 / UFUNC_TARGET:.2f} where tr/el is 1);\npeak/kept: tracemalloc, in inputs; ideal: "
        f"peak = kept (temporaries within {TEMPORARY_SLACK} of an input)."
    )
    head = (
        f"{'layer':<18} {'dtype':<8} {'shape':<16} {'MiB':>8} {'bw':>6} {'':<4} "
        f"{'tr/el':>5} {'ufuncs':<18} {'ufunc':<9} {'fwd peak/kept':<13} "
        f"{'bwd peak/kept':<13} temps"
    )
    print(head + "\n" + "-" * len(head))
    misses: list[str] = []
    for c in cases:
        row, more = cost_lines(c)
        print(row)
        misses += more
    return misses


def peer_misses(cases: Sequence[Case]) -> list[str]:
    """Torch ratios over the target, and peers whose results differ (errors)."""
    lines = []
    for c in cases:
        where = f"{c.layer} {c.dtype} {shape_text(c.shape)}"
        r = c.peer_ratio("torch")
        if r is not None and r > PEER_TARGET:
            lines.append(f"  MISS torch {where}: {r:.2f}x torch CPU eager > {PEER_TARGET}")
        for peer, note in c.peer_notes.items():
            if note.startswith("DIFFERS"):
                lines.append(f"  ERROR {peer} {where}: {note}")
    return lines


def print_summary(cases: Sequence[Case], other_misses: list[str]) -> None:
    misses = [c for c in cases if not c.passed]
    print("\nSummary:")
    for c in misses:
        over = c.ratio / c.target - 1
        print(
            f"  MISS {c.layer} {c.dtype} {shape_text(c.shape)}: ratio {c.ratio:.3f} > "
            f"{c.target} ({over:+.0%} over target)"
        )
    for line in other_misses:
        print(line)
    if not misses and not other_misses:
        print("  all targets met")
    notes = sorted({f"  {p}: {n}" for c in cases for p, n in c.peer_notes.items()})
    if notes:
        print("Peers without a time:")
        print("\n".join(notes))
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
    load_peers()
    versions = [f"{k} {v[0] and _version(k)}" for k, v in PEERS.items()]
    print("peers (one thread):", ", ".join(versions), "\n")
    SOURCE[:] = [symgrad.generate(list(symgrad.catalog))]
    generated = load(SOURCE[0])
    print(table_header())
    cases = run_cases(generated, shapes, args.repeats)
    print_bandwidth(cases)
    cost_misses = print_costs(cases)
    cold_misses = print_cold()
    other = peer_misses(cases)
    print_summary(cases, other + cost_misses + cold_misses)
    return 1 if any(line.startswith("  ERROR") for line in other) else 0


def _version(module: str) -> str:
    return str(__import__(module).__version__)


if __name__ == "__main__":
    sys.exit(main())
