"""symgrad's gradcheck beside torch.autograd.gradcheck and the book's numerical_gradient.

Targets (issue 9): the full check (every element) is no slower than
``torch.autograd.gradcheck`` on the same layer, and the fast check stays at least 100x faster
than the book's element-by-element ``numerical_gradient`` on its TwoLayerNet. Issue 13: on
TwoLayerNet 784-50-10 at batch 3 and 100, the full check <= 1.0x torch's and the fast check
<= 1.5x torch's ``fast_mode``.

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


def _torch_net(net: Any, x: np.ndarray, t: np.ndarray) -> tuple[Callable, list]:
    """The same TwoLayerNet (Affine, Relu, Affine, SoftmaxWithLoss) in torch, float64: the loss
    as a function of the four parameters, and the parameters as tensors."""
    import torch

    xt, tt = torch.tensor(x), torch.tensor(t)

    def loss(W1: Any, b1: Any, W2: Any, b2: Any) -> Any:
        h = torch.relu(xt @ W1 + b1)
        return -(tt * torch.log_softmax(h @ W2 + b2, dim=1)).sum() / xt.shape[0]

    names = ("W1", "b1", "W2", "b2")
    return loss, [torch.tensor(net.params[k], requires_grad=True) for k in names]


def net_part(repeats: int) -> None:
    """TwoLayerNet 784-50-10 at batch 3 and 100: symgrad's full and fast checks beside
    ``torch.autograd.gradcheck`` with ``fast_mode`` False and True (issue 13 targets: full
    <= 1.0x, fast <= 1.5x)."""
    try:
        import torch
    except ImportError:
        print('torch is not installed (pip install -e ".[bench]"): TwoLayerNet part skipped')
        return
    import two_layer_net

    torch.set_num_threads(1)
    print("\nTwoLayerNet 784-50-10 against torch.autograd.gradcheck (float64, one thread)")
    print(f"{'batch':>5} {'mode':<5} {'symgrad':>9} {'torch':>9} {'ratio':>6} {'target':>7}")
    for batch in (3, 100):
        net = two_layer_net.TwoLayerNet(784, 50, 10, seed=0)
        rng = np.random.default_rng(0)
        x, t = rng.uniform(0, 1, (batch, 784)), np.eye(10)[rng.integers(0, 10, batch)]
        fn, params = _torch_net(net, x, t)
        for fast, target in ((False, 1.0), (True, 1.5)):
            ours, theirs = [], []
            runs = 1 if not fast else repeats  # a full check at batch 100 takes seconds
            for _ in range(runs):
                start = time.perf_counter()
                report = check_layer(net, x, t, fast=fast)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                ok = torch.autograd.gradcheck(fn, params, fast_mode=fast)
                theirs.append(time.perf_counter() - start)
            if not (report.passed and ok):
                print(f"  batch {batch}: a check failed (symgrad {report!r}, torch {ok})")
            ratio = min(ours) / min(theirs)
            verdict = "PASS" if ratio <= target else "MISS"
            print(
                f"{batch:>5} {'fast' if fast else 'full':<5} {min(ours):>8.3f}s "
                f"{min(theirs):>8.3f}s {ratio:>6.2f} {verdict:>4} <={target}"
            )


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
    net_part(args.repeats)
    book_part(max(1, args.repeats // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
