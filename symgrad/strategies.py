"""Hypothesis strategies for layer inputs of varied shapes and dtypes.

>>> from hypothesis import given
>>> @given(layer_inputs(count=2))
... def test_add_is_symmetric(inputs):
...     x, y = inputs
...     assert (x + y == y + x).all()
>>> test_add_is_symmetric()
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = (np.float32, np.float64)


def shapes(min_dims: int = 1, max_dims: int = 3, max_side: int = 6) -> st.SearchStrategy:
    """Array shapes with every side at least 1."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy | None = None,
    dtype: type | None = None,
    bound: float = 5.0,
) -> st.SearchStrategy:
    """Finite arrays with entries in [-bound, bound], of the given or a drawn shape and dtype."""
    dtypes = st.just(dtype) if dtype is not None else st.sampled_from(DTYPES)
    return dtypes.flatmap(lambda dt: _arrays(dt, shape if shape is not None else shapes(), bound))


def _arrays(dtype: type, shape: object, bound: float) -> st.SearchStrategy:
    elements = st.floats(-bound, bound, allow_nan=False, width=np.dtype(dtype).itemsize * 8)
    return hnp.arrays(dtype, shape, elements=elements)


def layer_inputs(
    count: int = 1, dtype: type | None = None, bound: float = 5.0, **shape_options: int
) -> st.SearchStrategy:
    """``count`` arrays of one common drawn shape and dtype (the inputs of one forward call)."""
    dtypes = st.just(dtype) if dtype is not None else st.sampled_from(DTYPES)
    return st.tuples(dtypes, shapes(**shape_options)).flatmap(
        lambda pair: st.tuples(*(_arrays(pair[0], pair[1], bound) for _ in range(count)))
    )
