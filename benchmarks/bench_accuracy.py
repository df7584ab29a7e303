"""The worst float64 error of every generated catalog layer, by the measure the README states.

The measurement is :func:`symgrad.accuracy.measure` (its docstring says where it looks), here on
a denser grid than the tests use. The target for every number is the engine's ``ACCURATE``.

Run: python benchmarks/bench_accuracy.py [--points 2001]
"""

from __future__ import annotations

import argparse

import symgrad
from symgrad.accuracy import measure
from symgrad.codegen import load
from symgrad.numerics import ACCURATE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2001)
    args = parser.parse_args()
    names = list(symgrad.catalog)
    module = load(symgrad.generate(names))
    print(f"{'layer':<18} {'forward':>9} {'backward':>9}  target {ACCURATE:.0e}  measured at")
    for name in names:
        d = symgrad.derive(name)
        forward, backward, where = measure(d, getattr(module, name), args.points)
        verdict = "PASS" if max(forward, backward) <= ACCURATE else "MISS"
        print(f"{name:<18} {forward:>9.1e} {backward:>9.1e}  {verdict:<13} {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
