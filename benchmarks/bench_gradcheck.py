"""symgrad's gradcheck beside torch.autograd.gradcheck and the book's numerical_gradient.

Targets (issue 9): the full check (every element) is no slower than
``torch.autograd.gradcheck`` on the same layer, and the fast check stays at least 100x faster
than the book's element-by-element ``numerical_gradient`` on its TwoLayerNet.

Method: the same function in NumPy (a layer with the textbook interface, checked by symgrad) and
in PyTorch (checked by ``torch.autograd.gradcheck`` with its defaults: eps 1e-6, every input
element, the analytic Jacobian one output at a time), float64, one thread, the two timed
alternately ``--repeats`` times; the ratio is min(symgrad) / min(torch). Both check the inputs
and the parameters. Needs ``pip install -e ".[bench]"`` (a CPU wheel of torch); without torch the
first part says so and the second still runs.

Run: python benchmarks/bench_gradcheck.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "examples")]

from symgrad import textbook  # noqa: E402
from symgrad.verify import check_layer  # noqa: E402


class Tanh:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = np.tanh(x)
        return self.y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1 - self.y**2)


def _cases(rng: np.random.Generator) -> list[tuple[str, Callable, Callable, list]]:
    """(name, numpy layer factory, torch function, inputs) for each layer."""
    import torch

    x = rng.standard_normal((16, 32))
    W, b = rng.standard_normal((32, 16)), rng.standard_normal(16)
    return [
        ("Tanh 16x32", Tanh, torch.tanh, [x]),
        ("Softmax 16x32", textbook.Softmax, lambda v: torch.softmax(v, dim=-1), [x]),
        (
            "Affine 16x32 -> 16 (x, W, b)",
            lambda: textbook.Affine(W.copy(), b.copy()),
            lambda v, w, c: v @ w + c,
            [x, W, b],
        ),
    ]


def torch_part(repeats: int) -> None:
    try:
        import torch
    except ImportError:
        print('torch is not installed (pip install -e ".[bench]"): full-mode comparison skipped')
        return
    torch.set_num_threads(1)
    print("Full check, every element, float64 (min over repeats; ratio = symgrad / torch)")
    print(f"{'layer':<30} {'symgrad':>9} {'torch':>9} {'ratio':>6}")
    worst = 0.0
    for name, make, fn, inputs in _cases(np.random.default_rng(0)):
        tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(_timed(functools.partial(_symgrad_full, make, inputs)))
            theirs.append(_timed(functools.partial(torch.autograd.gradcheck, fn, tensors)))
        ratio = min(ours) / min(theirs)
        worst = max(worst, ratio)
        print(f"{name:<30} {min(ours):>8.3f}s {min(theirs):>8.3f}s {ratio:>6.2f}")
    print(f"worst ratio {worst:.2f}   target <= 1   {'PASS' if worst <= 1 else 'MISS'}")


def _symgrad_full(make: Callable, inputs: list) -> None:
    layer = make()
    report = check_layer(layer, inputs[0])
    assert report.passed, report.message()


def book_part(repeats: int) -> None:
    import two_layer_net

    net = two_layer_net.TwoLayerNet(784, 50, 10, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, (3, 784)), np.eye(10)[rng.integers(0, 10, 3)]
    book, fast = [], []
    for _ in range(repeats):
        book.append(_timed(lambda: net.numerical_gradient(x, t)))
        fast.append(_timed(lambda: check_layer(net, x, t, fast=True)))
    report = check_layer(net, x, t, fast=True)
    ratio = min(book) / min(fast)
    print(f"\nTwoLayerNet 784-50-10, batch 3: checked {report.checked}")
    print(f"  book's numerical_gradient, every element {min(book):8.3f} s")
    print(f"  symgrad fast check (4 directions)        {min(fast):8.3f} s  ({report!r})")
    print(f"  speed-up {ratio:.0f}x   target >= 100x   {'PASS' if ratio >= 100 else 'MISS'}")


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch_part(args.repeats)
    book_part(max(1, args.repeats // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
