"""How well and how fast gradient checkers catch backward bugs, measured side by side.

Part 1, catch rates: every catalog layer, every injected bug that applies to it
(``tests/mutations.py``: 15 kinds, from a dropped ``dout`` to a float32 parameter gradient),
20 seeds, float32 and float64 inputs. Three checkers judge each mutant and each correct layer:

- symgrad: ``check_layer`` (random upstream gradient, per-element rtol 1e-5, kinks moved) plus
  ``symgrad.compare`` against the derived layer, in full and in fast mode;
- textbook: the book's gradient_check re-implemented per layer (h = 1e-4, mean |difference|
  below 1e-5 taken as the verdict; the book itself prints numbers and draws no line);
- all-ones: DeZero's gradient_check (upstream all ones, allclose atol 1e-5, rtol 1e-4).

Catch rate = mutants judged wrong / mutants; false alarms = correct layers judged wrong.

Part 2, speed on the textbook's TwoLayerNet (784-50-10, batch of 3, as in gradient_check.py),
built from symgrad's generated layers: the book's element-by-element ``numerical_gradient`` over
every parameter against symgrad's fast check of all parameters and the input (best of 3 runs
each, measured in the same process). Target: at least 100x faster.

Run: python benchmarks/bench_checkers.py [--seeds 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "examples")]

import mutations  # noqa: E402
import two_layer_net  # noqa: E402

from symgrad.verify import check_layer  # noqa: E402

CHECKERS = ("symgrad", "textbook", "all-ones")


def catch_rates(seeds: int) -> None:
    start = time.perf_counter()
    trials = mutations.run_trials(range(seeds), checkers=CHECKERS)
    fast = mutations.run_trials(range(seeds), checkers=("symgrad",), fast=True)
    print(
        f"Catch rates over {seeds} seeds, float32 and float64 ({time.perf_counter() - start:.0f} s)"
    )
    print(f"{'checker':<16} {'caught':>9} {'false alarms':>13}  mutants  correct")
    for name, data, key in [
        *((c, trials, c) for c in CHECKERS),
        ("symgrad (fast)", fast, "symgrad"),
    ]:
        catch, alarms, n_bugs, n_good = mutations.rates(data, key)
        print(f"{name:<16} {catch:>8.1%} {alarms:>12.1%}  {n_bugs:>7}  {n_good:>7}")
    print("\nMissed by the other checkers, by kind of bug (share of mutants passed):")
    kinds = sorted({t.mutation for t in trials if t.mutation})
    print(f"{'bug':<32} " + " ".join(f"{c:>9}" for c in CHECKERS))
    for kind in kinds:
        group = [t for t in trials if t.mutation == kind]
        missed = [sum(t.verdicts[c] for t in group) / len(group) for c in CHECKERS]
        print(f"{kind:<32} " + " ".join(f"{m:>9.0%}" for m in missed))


class NetUnderCheck:
    """TwoLayerNet in the textbook interface: parameters as attributes, dW1... after backward."""

    def __init__(self, net: Any) -> None:
        self.net = net
        for name in two_layer_net.PARAM_NAMES:
            setattr(self, name, net.params[name])
            setattr(self, f"d{name}", None)

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        for name in two_layer_net.PARAM_NAMES:
            self.net.params[name][...] = getattr(self, name)
        return self.net.loss(x, t)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        dx = self.net.last_layer.backward(dout)
        for layer in reversed(self.net.layers.values()):
            dx = layer.backward(dx)
        affine1, affine2 = self.net.layers["Affine1"], self.net.layers["Affine2"]
        grads = {"W1": affine1.dW, "b1": affine1.db, "W2": affine2.dW, "b2": affine2.db}
        for name, value in grads.items():
            setattr(self, f"d{name}", value)
        return dx


def speed(repeats: int = 3) -> None:
    net = two_layer_net.TwoLayerNet(784, 50, 10, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, (3, 784)), np.eye(10)[rng.integers(0, 10, 3)]
    textbook = min(_timed(lambda: net.numerical_gradient(x, t)) for _ in range(repeats))
    layer = NetUnderCheck(net)
    fast = min(_timed(lambda: check_layer(layer, x, t, fast=True)) for _ in range(repeats))
    report = check_layer(layer, x, t, fast=True)
    print(
        f"\nTwoLayerNet 784-50-10, batch 3 ({sum(p.size for p in net.params.values())} parameters)"
    )
    print(f"  textbook numerical_gradient, every element: {textbook:8.3f} s")
    print(
        f"  symgrad fast check (4 random directions):  {fast:8.3f} s   verdict: "
        f"{'pass' if report.passed else 'FAIL'}"
    )
    ratio = textbook / fast
    print(f"  speed-up {ratio:.0f}x   target >= 100x   {'PASS' if ratio >= 100 else 'MISS'}")


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    catch_rates(args.seeds)
    speed()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
