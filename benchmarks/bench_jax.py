"""Generated JAX custom_vjp functions against ``jax.grad`` of the same forward, under ``jit``.

Run ``python benchmarks/bench_jax.py [--quick]``. For each layer below it times, on the CPU,
one jitted step that computes the loss ``sum(f(x) * dout)`` and its gradient with respect to
every differentiable argument:

- with the generated ``jax.custom_vjp`` function (the derived backward), and
- with ``jax.grad`` of the plain forward (the generated ``_name_fwd``, which is ordinary
  ``jax.numpy`` code, differentiated by JAX itself),

min over interleaved repetitions, and prints the ratio custom/plain. Target: ≤ 1.2 (the issue's
"custom_vjp under jit within 1.2× of jax.grad of the plain forward"). Before timing, the two
gradients must agree to 1e-4 relative (float32), else the script exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import symgrad
from symgrad.target_common import snake_case

TARGET = 1.2


def cases(quick: bool) -> dict[str, tuple[str, list[Any], tuple, int]]:
    """name -> (function, arguments, options, how many leading arguments are differentiated)."""
    k = iter(jax.random.split(jax.random.key(0), 64))
    n, d = (64, 1024) if quick else (256, 4096)

    def r(*shape: int) -> Any:
        return jax.random.normal(next(k), shape, jnp.float32)

    labels = jax.random.randint(next(k), (n,), 0, 1000)
    out = {
        name: (snake_case(name), [r(n, d)], (), 1)
        for name in ("Sigmoid", "Tanh", "GELU", "SiLU", "Softplus", "Relu")
    }
    out["ELU"] = ("elu", [r(n, d)], (1.0,), 1)
    out |= {
        "LayerNorm": ("layer_norm", [r(n, 1024), r(1024), r(1024)], (1e-5,), 3),
        "RMSNorm": ("rms_norm", [r(n, 1024), r(1024)], (1e-6,), 2),
        "Softmax": ("softmax", [r(n, 1024)], (), 1),
        "LogSoftmax": ("log_softmax", [r(n, 1024)], (), 1),
        "Affine": ("affine", [r(n, 512), r(512, 512), r(512)], (), 3),
        "BatchNormalization": (
            "batch_normalization",
            [r(n, 1024), r(1024), r(1024), None, None],
            (0.9, 1e-6, True),
            3,
        ),
        "CrossEntropyLoss": ("cross_entropy_loss", [r(n, 1000), labels], (0.1,), 1),
        "Attention": ("attention", [r(8, 128, 64), r(8, 128, 64), r(8, 128, 64)], (False,), 3),
        "Convolution": (
            "convolution",
            [r(8, 16, 32, 32), r(32, 16, 3, 3), r(32)],
            (1, 1),
            3,
        ),
    }
    return out


def step(f: Callable, args: list[Any], options: tuple, diff: int, state: bool) -> Callable:
    def loss(*xs: Any) -> Any:
        y = f(*xs, *args[diff:], *options)
        y = y[0] if state else y
        return jnp.sum(y * jnp.cos(y))

    return jax.jit(jax.grad(loss, argnums=tuple(range(diff))))


def timed(fs: list[Callable[[], Any]], repeats: int) -> list[float]:
    best = [float("inf")] * len(fs)
    for _ in range(repeats):
        for i, f in enumerate(fs):
            start = time.perf_counter()
            jax.block_until_ready(f())
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller arrays, 5 repetitions")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 21
    table = cases(args.quick)
    code = symgrad.generate(list(table), target="jax")
    module = types.ModuleType("jax_layers")
    exec(compile(code, "<jax layers>", "exec"), module.__dict__)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, float32, {repeats} repetitions")
    print(f"{'layer':<19} {'custom ms':>10} {'jax.grad ms':>12} {'ratio':>6} {'target':>6}")
    misses = []
    for name, (fname, values, options, diff) in table.items():
        custom = getattr(module, fname)
        plain_fwd = getattr(module, f"_{fname}_fwd")

        def plain(*xs: Any, plain_fwd: Callable = plain_fwd) -> Any:
            return plain_fwd(*xs)[0]

        state = name == "BatchNormalization"
        fs = [step(g, values, options, diff, state) for g in (custom, plain)]
        got, want = (f(*values[:diff]) for f in fs)
        for a, b in zip(got, want, strict=True):
            scale = max(1.0, float(jnp.max(jnp.abs(b))))
            if not np.allclose(a, b, rtol=1e-4, atol=1e-4 * scale):
                print(f"{name}: the custom_vjp gradient differs from jax.grad's")
                return 1
        runs = [lambda f=f, v=values, k=diff: f(*v[:k]) for f in fs]
        t_custom, t_plain = timed(runs, repeats)
        ratio = t_custom / t_plain
        ok = ratio <= TARGET
        misses += [name] * (not ok)
        print(
            f"{name:<19} {t_custom * 1e3:>10.3f} {t_plain * 1e3:>12.3f} {ratio:>6.2f}"
            f" {'PASS' if ok else 'MISS':>6}"
        )
    print("\nSummary:", "all targets met" if not misses else "MISS: " + ", ".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
