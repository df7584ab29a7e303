"""What generated layers allocate, measured with tracemalloc (NumPy reports its buffers to it).

Issue 13's ideal: a forward allocates its output plus what backward keeps. Affine's
``x @ W + b`` made two output-size arrays (NumPy does not reuse a temporary whose other
operand broadcasts); ``y = x @ W`` then ``y += b`` makes one.
"""

from __future__ import annotations

import tracemalloc
import types

import numpy as np
import pytest

import symgrad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_forward_allocates_one_output(dtype) -> None:
    module = types.ModuleType("layers")
    exec(symgrad.generate(["Affine"]), module.__dict__)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 512)).astype(dtype)
    W = rng.standard_normal((512, 384)).astype(dtype)
    b = rng.standard_normal(384).astype(dtype)
    layer = module.Affine(W, b)
    want = x @ W + b
    layer.forward(x)  # warm: caches and first-call allocations
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        y = layer.forward(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(y, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert y.dtype == dtype
    assert peak < 1.5 * y.nbytes, f"forward peak {peak / y.nbytes:.2f} outputs; one expected"
