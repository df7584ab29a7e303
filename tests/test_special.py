"""erf and erfc in NumPy alone (symgrad.special): accurate to a few ulps over the whole line,
and their tables exactly what the 40-digit fit gives."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from symgrad import special, special_tables
from symgrad.special import fit_tables, namespace

ULP = np.finfo(np.float64).eps


def _points() -> np.ndarray:
    tiny = np.geomspace(1e-300, 1, 200)
    return np.concatenate([np.linspace(-30, 30, 6001), tiny, -tiny, [0.0, 1.0, 2.0, 4.0, 27.0]])


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_relative_error_is_a_few_ulps(name: str) -> None:
    x = _points()
    got = namespace()[name](x)
    exact = getattr(mpmath, name)
    with mpmath.workdps(40):
        want = np.array([float(exact(mpmath.mpf(v))) for v in x])
    tiny = np.finfo(np.float64).tiny
    rel = np.abs(got - want) / np.maximum(np.abs(want), tiny)
    assert rel.max() < 8 * ULP, (name, x[np.argmax(rel)], rel.max() / ULP)


def test_limits_nan_and_dtypes() -> None:
    erf, erfc = namespace()["erf"], namespace()["erfc"]
    edges = np.array([np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(erf(edges), [1.0, -1.0, np.nan])
    np.testing.assert_array_equal(erfc(edges), [0.0, 2.0, np.nan])
    assert erf(np.array([0.5], dtype=np.float32)).dtype == np.float32
    assert erfc(np.array([1, 2])).dtype == np.float64


def test_the_tables_are_what_the_fit_gives() -> None:
    # symgrad/special_tables.py is written by tools/fit_special.py; it must not drift.
    fitted = fit_tables()
    for name in special.PIECES:
        assert list(getattr(special_tables, name)) == fitted[name], name
