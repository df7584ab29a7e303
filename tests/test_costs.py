"""The measurements ``benchmarks/bench_layers.py`` reports its limits from (``costs.py``).

Each figure is held to a count made by hand for a layer whose code is known: the bytes Relu
must move, the ufunc calls Sigmoid and Softplus make, the memory Affine keeps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.sampling import build

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import costs

SOURCE = symgrad.generate(["Relu", "Sigmoid", "Softplus", "Affine", "Exp"])


def measure(name: str, args: list[np.ndarray], params: dict, dout: np.ndarray) -> costs.Costs:
    d = symgrad.derive(name)
    from symgrad.codegen import load

    module = load(SOURCE)

    def construct(cls: type) -> object:
        return build(cls, d, params)

    return costs.measure(
        SOURCE, name, construct, lambda: construct(getattr(module, name)), args, dout
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_traffic_is_counted_from_what_it_keeps(dtype) -> None:
    x = np.random.default_rng(0).standard_normal((64, 128)).astype(dtype)
    k = measure("Relu", [x], {}, x.copy())
    n, s = x.size, x.nbytes
    # forward: read x, write y and the 1-byte mask; backward: read dout and mask, write dx
    assert k.traffic == 4 * s + 2 * n
    assert k.calls == []
    assert k.fwd_kept == pytest.approx(1 + 1 / x.itemsize, abs=0.02)  # y and the mask


def test_transcendental_calls_are_recorded_with_their_shapes() -> None:
    x = np.random.default_rng(0).standard_normal((32, 16))
    assert [c[0] for c in measure("Sigmoid", [x], {}, x.copy()).calls] == ["exp"]
    softplus = measure("Softplus", [x], {}, x.copy())
    assert sorted(c[0] for c in softplus.calls) == ["exp", "expm1", "log1p"]
    assert all(c[1] == x.shape and c[2] == "float64" for c in softplus.calls)
    assert softplus.per_element == 3
    assert softplus.ufunc_limit > 0


def test_affine_memory_in_units_of_the_input() -> None:
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((256, 512)), rng.standard_normal((512, 512)), np.zeros(512)
    k = measure("Affine", [x], {"W": W, "b": b}, rng.standard_normal((256, 512)))
    assert k.fwd_kept == pytest.approx(1.0, abs=0.01)  # y; x is the caller's
    assert k.fwd_peak == pytest.approx(k.fwd_kept, abs=0.1)
    # dx (1) + dW (512x512 = 2 of x) + db
    assert k.bwd_kept == pytest.approx(3.0, abs=0.01)
    assert k.bwd_extra < 0.05, "backward makes no array it does not return"
