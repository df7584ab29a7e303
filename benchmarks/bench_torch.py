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
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    shape, repeats = ((64, 1024), 5) if args.quick else ((256, 4096), 21)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
