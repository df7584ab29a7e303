"""Gathers with index maps (Convolution, Pooling, AvgPooling, Embedding): the derived forms, the
generated code against the hand-written references of textbook.py at strides 1 and 2, padding
0 and 1, non-square kernels and inputs, and the declaration language's errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgrad
from symgrad import textbook
from symgrad.codegen import generate, load
from symgrad.errors import SymgradError
from symgrad.statements import Gather
from symgrad.tensor_algebra import at, rsum
from symgrad.tensors import index_symbol

LAYERS = ("Convolution", "Pooling", "AvgPooling", "Embedding")


def derive(name: str) -> symgrad.Derivation:
    return symgrad.derive(name)


@pytest.fixture(scope="module")
def generated():
    return load(generate(LAYERS))


def test_convolution_dx_is_dout_correlated_with_the_flipped_kernel_dilated_by_the_stride():
    d = derive("Convolution")
    dx = d.gradient("x").expr
    assert isinstance(dx, rsum) and set(dx.axes) == {"fh", "fw", "fn"}
    (read,) = dx.atoms(at)
    h, w, fh, fw = (index_symbol(a) for a in ("h", "w", "fh", "fw"))
    stride, pad = sympy.Symbol("stride"), sympy.Symbol("pad")
    assert read.tensor.name == "dout"
    assert sympy.simplify(read.indices[2] - (h + pad - fh) / stride) == 0
    assert sympy.simplify(read.indices[3] - (w + pad - fw) / stride) == 0
    assert d.gradient("W").expr.axes == ("n", "oh", "ow")  # Σ over the outputs: col ⋆ dout


def test_each_gather_layer_is_checked_at_two_strides_and_paddings():
    for name in ("Convolution", "Pooling", "AvgPooling"):
        checked = derive(name).checked
        assert {(c["stride"], c["pad"]) for c in checked} == {(1, 0), (2, 1)}
        assert max(c["oh"] for c in checked) >= 2  # windows that overlap or stride


def test_embedding_gradient_is_a_scatter_add_of_dout():
    d = derive("Embedding")
    dW = d.gradient("W").expr
    assert dW.has(sympy.KroneckerDelta) and dW.axes == ("...",)


def test_max_pooling_states_its_tie_convention():
    d = derive("Pooling")
    assert any("first maximum" in c for c in d.conventions)


CASES = list(itertools.product((1, 2), (0, 1), ((2, 3), (3, 2)), ((7, 8), (6, 5))))


@pytest.mark.parametrize(("stride", "pad", "kernel", "size"), CASES)
def test_generated_matches_the_hand_written_layers(generated, stride, pad, kernel, size):
    rng = np.random.default_rng(stride * 100 + pad * 10 + kernel[0])
    fh, fw = kernel
    x = rng.standard_normal((2, 3, *size))
    W, b = rng.standard_normal((4, 3, fh, fw)), rng.standard_normal(4)
    pairs = [
        (
            generated.Convolution(W.copy(), b.copy(), stride, pad),
            textbook.Convolution(W.copy(), b.copy(), stride, pad),
        ),
        (generated.Pooling(fh, fw, stride, pad), textbook.Pooling(fh, fw, stride, pad)),
        (generated.AvgPooling(fh, fw, stride, pad), textbook.AvgPooling(fh, fw, stride, pad)),
    ]
    for ours, theirs in pairs:
        y = ours.forward(x.copy())
        np.testing.assert_allclose(y, theirs.forward(x.copy()), rtol=1e-12, atol=1e-12)
        dout = rng.standard_normal(y.shape)
        np.testing.assert_allclose(
            ours.backward(dout.copy()), theirs.backward(dout.copy()), rtol=1e-12, atol=1e-12
        )
        for p in ("dW", "db"):
            if hasattr(theirs, p):
                np.testing.assert_allclose(getattr(ours, p), getattr(theirs, p), rtol=1e-12)


def test_generated_pooling_sends_a_tie_to_the_first_maximum(generated):
    pool = generated.Pooling(2, 2, stride=2)
    pool.forward(np.ones((1, 1, 4, 4)))
    dx = pool.backward(np.arange(1.0, 5.0).reshape(1, 1, 2, 2))
    assert dx[0, 0, 0, 0] == 1 and dx[0, 0, 0, 1] == 0 and dx[0, 0, 2, 2] == 4


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=3, max_dims=5, min_side=1, max_side=4),
        elements=st.floats(allow_nan=True, allow_infinity=True),
    ),
    st.integers(1, 2),
)
def test_window_max_is_numpys_max_nans_and_infinities_included(generated, a, k):
    # max pooling's maximum, cell by cell (NumPy's max over a short last axis is slow)
    want = a.max(axis=tuple(range(a.ndim - k, a.ndim)), keepdims=True)
    np.testing.assert_array_equal(generated._window_max(a, k), want)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 400),  # vocabulary: rounds of >= 64 distinct ids happen from 64 up
    st.lists(st.integers(0, 2000), min_size=0, max_size=3),  # idx's shape (2000 ids at most)
    st.integers(0, 2**32 - 1),
    st.sampled_from([np.float32, np.float64]),
    st.floats(0, 1),  # how much of idx is one heavy id (a padding token)
)
def test_scatter_add_is_np_add_at_to_the_bit(generated, vocab, shape, seed, dtype, heavy):
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape)) if shape else 1
    shape = tuple(shape) if size <= 2000 else (2000,)
    idx = rng.integers(-vocab, vocab, shape)
    idx[rng.random(shape) < heavy] = 0
    values = (rng.standard_normal((*shape, 3)) * 10.0 ** rng.integers(-8, 8)).astype(dtype)
    want = np.zeros((vocab, 3), dtype=dtype)
    np.add.at(want, idx, values)
    got = generated._scatter_add((vocab, 3), idx, values)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_generated_embedding_adds_repeated_ids(generated):
    rng = np.random.default_rng(3)
    W = rng.standard_normal((10, 5))
    idx = np.array([[1, 2, 1], [9, 1, 0]])
    ours, theirs = generated.Embedding(W.copy()), textbook.Embedding(W.copy())
    np.testing.assert_array_equal(ours.forward(idx), theirs.forward(idx))
    dout = rng.standard_normal((2, 3, 5))
    assert ours.backward(dout) is None
    theirs.backward(dout)
    np.testing.assert_allclose(ours.dW, theirs.dW, rtol=1e-14)
    np.testing.assert_allclose(ours.dW[1], dout[0, 0] + dout[0, 2] + dout[1, 1], rtol=1e-14)


def test_a_user_gather_derives_and_generates():
    layer = symgrad.layer(
        "Shift",
        """
        x[n, h]
        y[n, k] = x[n, k + 1]
        """,
        sizes={"k": "H - 1"},
    )
    d = symgrad.derive(layer)
    assert isinstance(d.spec.statements[0], Gather)
    assert d.gradient("x").expr.has(at)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y[n, k] = x[n, k + 1]", "declare the axes"),
        ("x[n, h]\ny[n, k] = x[n, k**2]", "a position is"),
        ("x[n, h]\ny[n, k, j] = x[n, k + 1]", "does not vary along j"),
        ("x[n, h]\ny[n, k] = x[k + 1]", "read at 1 positions"),
    ],
)
def test_bad_index_maps_get_one_clear_line(text, message):
    with pytest.raises(SymgradError, match=message):
        symgrad.layer("Bad", text)


def test_an_unknown_tie_rule_is_one_clear_line():
    with pytest.raises(SymgradError, match="ties is one of split, first"):
        symgrad.layer("Bad", "y[n] = max_k(x[n, k])", ties="last")


def test_a_windowed_layer_page_shows_its_index_map():
    from symgrad.docs import render

    files = render(["Convolution", "Embedding"])
    assert "Convolution-index-map.svg" in files and "Embedding-index-map.svg" not in files
    assert "![index map of Convolution](Convolution-index-map.svg)" in files["Convolution.md"]
    assert files["Convolution-index-map.svg"].count('class="cell gathered"') > 0


def test_an_axis_size_is_read_as_a_size_where_no_tensor_has_its_name():
    layer = symgrad.layer("Scaled", "y[n, e] = x[n, e] / sqrt(E)")
    assert [t.name for t in layer.tensors] == ["x"]
    d = symgrad.derive(layer)
    assert d.gradient("x").expr.has(sympy.Symbol("E", integer=True, positive=True))
