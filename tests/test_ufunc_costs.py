"""The cost model's weights (``symgrad.ufunc_costs``) are measured ones, and every weight has
its measurement in ``benchmarks/bench_ufuncs.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from symgrad.functions import TABLE
from symgrad.local import code_cost
from symgrad.ufunc_costs import PASSES, cost

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_ufuncs


def test_every_weight_is_measured_by_the_benchmark() -> None:
    x = y = np.linspace(-2, 2, 64)
    assert set(bench_ufuncs.operations(x, y, x > 0)) == set(PASSES)
    calls = bench_ufuncs.named_calls(x, y)
    assert set(calls) == {f.call for f in TABLE.values() if f.call}
    for run in calls.values():
        assert np.shape(run()) == x.shape


def test_a_named_call_is_costed_by_its_table_entry_only() -> None:
    for f in TABLE.values():
        if f.call:
            assert f.call.rpartition(".")[2] not in PASSES, f"{f.call} costed in two places"
            assert code_cost(f"{f.call}(x)") == f.cost


@pytest.mark.parametrize(
    ("cheaper", "dearer"),
    [
        ("x * np.maximum(mask.astype(x.dtype), 0.01)", "np.where(mask, x, 0.01 * x)"),
        ("x**2 * x", "x**1.5"),
        ("dout * (1 - y) * y", "dout * (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x)))"),
        ("2**0.5 * x", "np.sqrt(x)"),  # a Python number's power is free
    ],
)
def test_the_model_orders_forms_by_what_the_machine_pays(cheaper: str, dearer: str) -> None:
    assert cost(cheaper) < cost(dearer)
