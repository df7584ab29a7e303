"""Generated torch Functions against PyTorch's native ops: bytes saved for backward, and time.

Run ``python benchmarks/bench_torch.py [--quick]``. For each layer the torch target covers, at
x of 256×4096 float32 (``--quick``: 64×1024), it prints

- the bytes the autograd graph keeps for backward after one forward, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` (every tensor packed, by its storage size), for
  the generated ``NameFunction`` and for the native op (``torch.sigmoid``, ``F.gelu``, ...);
- the time of forward + backward, min over interleaved repetitions, and the ratio
  generated/native (target ≤ 1.2 for elementwise layers), on CPU with one thread, and on CUDA
  where a GPU is present (the CUDA rows read n/a otherwise).

Targets: bytes saved ≤ the native op's; time ≤ 1.2× the native op's. The script prints
PASS/MISS per row and exits 0; a generated result that disagrees with the native op computed
in float64 aborts (exit 1) before anything is timed.

A second table does the same for layers with parameters and reductions, each beside its
native op (``F.layer_norm``, ``F.conv2d``, ``F.scaled_dot_product_attention``, ...). The issue
sets no time target for them; the bytes column says whether the Function keeps no more than
the native graph.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import types
from collections.abc import Callable

import torch

import symgrad

F = torch.nn.functional
NATIVE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ELU": F.elu,
    "Exp": torch.exp,
    "GELU": F.gelu,
    "GELUTanh": lambda x: F.gelu(x, approximate="tanh"),
    "LeakyReLU": lambda x: F.leaky_relu(x, 0.01),
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "SiLU": F.silu,
    "Softplus": F.softplus,
    "Tanh": torch.tanh,
}
TIME_TARGET = 1.2


def saved_bytes(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """Bytes of the tensors autograd packs for backward during one forward of ``f``."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        f(x.detach().requires_grad_())
    return sum(seen.values())


def step(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, dout: torch.Tensor) -> None:
    a = x.detach().requires_grad_()
    f(a).backward(dout)
    if a.is_cuda:
        torch.cuda.synchronize()


def timed(fs: list[Callable[[], None]], repeats: int) -> list[float]:
    best = [float("inf")] * len(fs)
    for _ in range(repeats):
        for k, f in enumerate(fs):
            start = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64x1024, 5 repetitions")
    parser.add_argument("--others", action="store_true", help="only the second table")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    shape, repeats = ((64, 1024), 5) if args.quick else ((256, 4096), 21)
    if args.others:
        others(args.quick, repeats)
        return 0
    code = symgrad.generate(list(NATIVE), target="torch")
    module = types.ModuleType("torch_layers")
    exec(compile(code, "<torch layers>", "exec"), module.__dict__)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, x {shape[0]}x{shape[1]} float32, {repeats} repetitions")
    print(f"{'layer':<10} {'device':<6} {'saved gen':>10} {'saved native':>13} {'bytes':>5}"
          f" {'gen ms':>8} {'native ms':>10} {'ratio':>6} {'time':>5}")  # fmt: skip
    misses = []
    for device in ("cpu", "cuda"):
        if device not in devices:
            print(f"{'(all)':<10} {device:<6} n/a: no GPU on this machine")
            continue
        g = torch.Generator(device=device).manual_seed(0)
        x = torch.randn(*shape, generator=g, device=device)
        dout = torch.randn(*shape, generator=g, device=device)
        for name, native in NATIVE.items():
            mine = getattr(module, name)()
            # against the native op in float64 (float32 F.gelu cancels for x < -3)
            want = native(x.double()).float()
            torch.testing.assert_close(mine(x), want, rtol=1e-5, atol=1e-6)
            saved = saved_bytes(mine, x), saved_bytes(native, x)
            runs = [functools.partial(step, f, x, dout) for f in (mine, native)]
            t_gen, t_native = timed(runs, repeats)
            ratio = t_gen / t_native
            bytes_ok, time_ok = saved[0] <= saved[1], ratio <= TIME_TARGET
            print(
                f"{name:<10} {device:<6} {saved[0]:>10} {saved[1]:>13} "
                f"{'PASS' if bytes_ok else 'MISS':>5} {t_gen * 1e3:>8.3f} {t_native * 1e3:>10.3f}"
                f" {ratio:>6.2f} {'PASS' if time_ok else 'MISS':>5}"
            )
            misses += [f"{name} {device} bytes"] * (not bytes_ok)
            misses += [f"{name} {device} time"] * (not time_ok)
    print("\nSummary:", "all targets met" if not misses else "MISS: " + ", ".join(misses))
    others(args.quick, repeats)
    return 0


def _others(quick: bool) -> dict[str, tuple[Callable, Callable, list[int]]]:
    """name -> (generated call, native call, the shapes of their arguments)."""
    n = 64 if quick else 256
    return {
        "LayerNorm": (
            lambda m, x, g, b: m.LayerNormFunction.apply(x, g, b, 1e-5),
            lambda x, g, b: F.layer_norm(x, (1024,), g, b, 1e-5),
            [(n, 1024), (1024,), (1024,)],
        ),
        "RMSNorm": (
            lambda m, x, g: m.RMSNormFunction.apply(x, g, 1e-6),
            lambda x, g: F.rms_norm(x, (1024,), g, 1e-6),
            [(n, 1024), (1024,)],
        ),
        "Softmax": (
            lambda m, x: m.SoftmaxFunction.apply(x),
            lambda x: torch.softmax(x, -1),
            [(n, 1024)],
        ),
        "Affine": (
            lambda m, x, w, b: m.AffineFunction.apply(x, w, b),
            lambda x, w, b: F.linear(x, w.T, b),
            [(n, 512), (512, 512), (512,)],
        ),
        "Convolution": (
            lambda m, x, w, b: m.ConvolutionFunction.apply(x, w, b, 1, 1),
            lambda x, w, b: F.conv2d(x, w, b, 1, 1),
            [(8, 16, 32, 32), (32, 16, 3, 3), (32,)],
        ),
        "Pooling": (
            lambda m, x: m.PoolingFunction.apply(x, 2, 2, 2, 0),
            lambda x: F.max_pool2d(x, 2, 2),
            [(8, 16, 32, 32)],
        ),
        "Attention": (
            lambda m, q, k, v: m.AttentionFunction.apply(q, k, v, False),
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
            [(8, 128, 64)] * 3,
        ),
        "BatchNormalization": (
            lambda m, x, g, b: m.BatchNormalizationFunction.apply(
                x, g, b, None, None, 0.9, 1e-6, True
            )[0],
            lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-6),
            [(n, 1024), (1024,), (1024,)],
        ),
    }


def others(quick: bool, repeats: int) -> None:
    """The second table of the module docstring (CPU, float32)."""
    table = _others(quick)
    code = symgrad.generate(list(table), target="torch")
    module = types.ModuleType("torch_layers")
    exec(compile(code, "<torch layers>", "exec"), module.__dict__)
    print(f"\n{'layer':<19} {'saved gen':>10} {'saved native':>13} {'bytes':>5}"
          f" {'gen ms':>8} {'native ms':>10} {'ratio':>6}")  # fmt: skip
    g = torch.Generator().manual_seed(1)
    for name, (mine, native, shapes) in table.items():
        xs = [torch.randn(*s, generator=g) for s in shapes]
        ours = functools.partial(mine, module)
        want = native(*(x.double() for x in xs)).float()
        scale = max(1.0, float(want.abs().max()))  # float32 sums of O(scale) terms
        torch.testing.assert_close(ours(*xs), want, rtol=1e-4, atol=1e-5 * scale)
        dout = torch.randn(want.shape, generator=g)
        saved = [_saved_many(f, xs) for f in (ours, native)]
        runs = [functools.partial(_step_many, f, xs, dout) for f in (ours, native)]
        t_gen, t_native = timed(runs, repeats)
        print(
            f"{name:<19} {saved[0]:>10} {saved[1]:>13} "
            f"{'PASS' if saved[0] <= saved[1] else 'MISS':>5} {t_gen * 1e3:>8.3f}"
            f" {t_native * 1e3:>10.3f} {t_gen / t_native:>6.2f}"
        )


def _saved_many(f: Callable, xs: list[torch.Tensor]) -> int:
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    leaves = [x.detach().requires_grad_() for x in xs]
    inputs = {x.untyped_storage().data_ptr() for x in leaves}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        f(*leaves)
    # the inputs and parameters exist anyway: count what the graph adds
    return sum(b for p, b in seen.items() if p not in inputs)


def _step_many(f: Callable, xs: list[torch.Tensor], dout: torch.Tensor) -> None:
    leaves = [x.detach().requires_grad_() for x in xs]
    f(*leaves).backward(dout)


if __name__ == "__main__":
    sys.exit(main())
