"""The textbook's convolution, pooling, embedding and attention layers against central
differences in float64: L = sum(dout * forward(...)), each element perturbed by ±eps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from symgrad import textbook as tb

EPS = 1e-6


def numerical_gradient(loss: Callable[[], float], a: np.ndarray) -> np.ndarray:
    """Central differences of ``loss()`` with respect to ``a``, perturbed in place."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + EPS
        plus = loss()
        a[i] = old - EPS
        minus = loss()
        a[i] = old
        grad[i] = (plus - minus) / (2 * EPS)
    return grad


def assert_close(analytic: np.ndarray, numeric: np.ndarray) -> None:
    assert analytic.shape == numeric.shape
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


# (N, C, H, W, FH, FW, stride, pad): stride 1 and 2, pad 0 and 1, H != W, FH != FW.
CONV_CASES = [
    (1, 1, 4, 4, 2, 2, 1, 0),
    (2, 3, 5, 4, 2, 3, 1, 0),
    (2, 2, 5, 6, 2, 3, 2, 0),
    (1, 3, 4, 5, 3, 2, 1, 1),
    (3, 2, 6, 5, 2, 3, 2, 1),
    (2, 1, 7, 4, 3, 3, 2, 1),
]


@pytest.mark.parametrize(("N", "C", "H", "W", "FH", "FW", "stride", "pad"), CONV_CASES)
def test_col2im_is_the_adjoint_of_im2col(N, C, H, W, FH, FW, stride, pad) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, C, H, W))
    col = tb.im2col(x, FH, FW, stride, pad)
    out_h = (H + 2 * pad - FH) // stride + 1
    out_w = (W + 2 * pad - FW) // stride + 1
    assert col.shape == (N * out_h * out_w, C * FH * FW)
    c = rng.normal(size=col.shape)
    back = tb.col2im(c, x.shape, FH, FW, stride, pad)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(col * c), np.sum(x * back), rtol=1e-12)


def direct_convolution(x, W, b, stride, pad):
    """The definition, one output cell at a time."""
    N, _, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    out_h = (H + 2 * pad - FH) // stride + 1
    out_w = (Wd + 2 * pad - FW) // stride + 1
    out = np.zeros((N, FN, out_h, out_w))
    for n in range(N):
        for f in range(FN):
            for i in range(out_h):
                for j in range(out_w):
                    window = xp[n, :, i * stride : i * stride + FH, j * stride : j * stride + FW]
                    out[n, f, i, j] = np.sum(window * W[f]) + b[f]
    return out


@pytest.mark.parametrize(("N", "C", "H", "W", "FH", "FW", "stride", "pad"), CONV_CASES)
def test_convolution_forward_and_gradients(N, C, H, W, FH, FW, stride, pad) -> None:
    rng = np.random.default_rng(1)
    FN = 2
    x = rng.normal(size=(N, C, H, W))
    Wt = rng.normal(size=(FN, C, FH, FW))
    b = rng.normal(size=FN)
    layer = tb.Convolution(Wt, b, stride, pad)
    out = layer.forward(x)
    np.testing.assert_allclose(out, direct_convolution(x, Wt, b, stride, pad), rtol=1e-12)

    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)
    dW, db = layer.dW, layer.db
    assert dW.shape == Wt.shape
    assert db.shape == b.shape

    def loss() -> float:
        return float(np.sum(dout * layer.forward(x)))

    assert_close(dx, numerical_gradient(loss, x))
    assert_close(dW, numerical_gradient(loss, Wt))
    assert_close(db, numerical_gradient(loss, b))


# (N, C, H, W, pool_h, pool_w, stride, pad)
POOL_CASES = [
    (1, 1, 4, 4, 2, 2, 2, 0),
    (2, 3, 4, 6, 2, 3, 1, 0),
    (2, 2, 5, 7, 2, 3, 2, 0),
    (1, 2, 4, 5, 2, 3, 1, 1),
    (3, 1, 5, 4, 3, 2, 2, 1),
]


@pytest.mark.parametrize(("N", "C", "H", "W", "ph", "pw", "stride", "pad"), POOL_CASES)
def test_max_pooling_gradients(N, C, H, W, ph, pw, stride, pad) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, C, H, W))
    layer = tb.Pooling(ph, pw, stride, pad)
    out = layer.forward(x)
    out_h = (H + 2 * pad - ph) // stride + 1
    out_w = (W + 2 * pad - pw) // stride + 1
    assert out.shape == (N, C, out_h, out_w)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)

    def loss() -> float:
        return float(np.sum(dout * layer.forward(x)))

    assert_close(dx, numerical_gradient(loss, x))


def test_max_pooling_pads_with_zeros() -> None:
    # A negative input one row high: every 2x2 window reaches the padding, so its maximum is 0.
    x = -np.arange(1.0, 4.0).reshape(1, 1, 1, 3)
    layer = tb.Pooling(2, 2, stride=1, pad=1)
    out = layer.forward(x)
    assert out.shape == (1, 1, 2, 4)
    np.testing.assert_array_equal(out, np.zeros((1, 1, 2, 4)))
    # Every maximum is a padded cell, so no gradient reaches x.
    np.testing.assert_array_equal(layer.backward(np.ones_like(out)), np.zeros_like(x))


def test_max_pooling_sends_ties_to_the_first_maximum() -> None:
    # Two windows of 2x3, stride 3: the left one all equal, the right one tied at (0, 1) and
    # (1, 0); the gradient goes to the first in row-major order.
    x = np.array([[[[5.0, 5.0, 5.0, 0.0, 7.0, 1.0], [5.0, 5.0, 5.0, 7.0, 2.0, 7.0]]]])
    layer = tb.Pooling(2, 3, stride=3)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [[[[5.0, 7.0]]]])
    dx = layer.backward(np.array([[[[2.0, 3.0]]]]))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 0] = 2.0
    expected[0, 0, 0, 4] = 3.0
    np.testing.assert_array_equal(dx, expected)


def test_max_pooling_overlapping_windows_accumulate() -> None:
    # One large value seen by every 2x2 window at stride 1: it collects all their gradients.
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    layer = tb.Pooling(2, 2, stride=1)
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    layer.forward(x)
    dx = layer.backward(dout)
    assert dx[0, 0, 1, 1] == 10.0
    assert np.sum(dx) == 10.0


@pytest.mark.parametrize(("N", "C", "H", "W", "ph", "pw", "stride", "pad"), POOL_CASES)
def test_average_pooling_gradients(N, C, H, W, ph, pw, stride, pad) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, C, H, W))
    layer = tb.AvgPooling(ph, pw, stride, pad)
    out = layer.forward(x)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)

    def loss() -> float:
        return float(np.sum(dout * layer.forward(x)))

    assert_close(dx, numerical_gradient(loss, x))


def test_average_pooling_counts_the_padding() -> None:
    layer = tb.AvgPooling(2, 2, stride=2, pad=1)
    out = layer.forward(np.ones((1, 1, 2, 2)))
    # Each 2x2 window holds one real cell and three padded zeros.
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 0.25))


def test_embedding_gradient_counts_repeated_indices() -> None:
    rng = np.random.default_rng(4)
    W = rng.normal(size=(6, 3))
    idx = np.array([[1, 4, 1], [0, 1, 4]])
    layer = tb.Embedding(W)
    out = layer.forward(idx)
    np.testing.assert_array_equal(out, W[idx])
    assert out.shape == (2, 3, 3)

    assert layer.backward(np.ones_like(out)) is None
    counts = np.array([1, 3, 0, 0, 2, 0], dtype=float)
    np.testing.assert_array_equal(layer.dW, np.repeat(counts[:, None], 3, axis=1))

    dout = rng.normal(size=out.shape)
    layer.backward(dout)

    def loss() -> float:
        return float(np.sum(dout * layer.forward(idx)))

    assert_close(layer.dW, numerical_gradient(loss, W))


def test_embedding_scalar_and_flat_indices() -> None:
    W = np.arange(12.0).reshape(4, 3)
    layer = tb.Embedding(W)
    np.testing.assert_array_equal(layer.forward(np.array(2)), W[2])
    layer.backward(np.ones(3))
    assert layer.dW.sum() == 3.0 and layer.dW[2].sum() == 3.0
    layer.forward(np.array([3, 3, 3]))
    layer.backward(np.ones((3, 3)))
    np.testing.assert_array_equal(layer.dW[3], [3.0, 3.0, 3.0])
    assert layer.dW[:3].sum() == 0.0


@pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
@pytest.mark.parametrize(("causal", "T", "S"), [(False, 3, 4), (False, 4, 4), (True, 4, 4)])
def test_attention_gradients(lead, causal, T, S) -> None:
    rng = np.random.default_rng(5)
    d, dv = 3, 2
    q = rng.normal(size=(*lead, T, d))
    k = rng.normal(size=(*lead, S, d))
    v = rng.normal(size=(*lead, S, dv))
    layer = tb.Attention(causal)
    out = layer.forward(q, k, v)
    assert out.shape == (*lead, T, dv)
    dout = rng.normal(size=out.shape)
    dq, dk, dv_ = layer.backward(dout)

    def loss() -> float:
        return float(np.sum(dout * layer.forward(q, k, v)))

    assert_close(dq, numerical_gradient(loss, q))
    assert_close(dk, numerical_gradient(loss, k))
    assert_close(dv_, numerical_gradient(loss, v))


def test_attention_is_the_softmax_of_scaled_scores() -> None:
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    s = q @ k.T / 2.0
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tb.Attention().forward(q, k, v), p @ v, rtol=1e-12)


def test_causal_attention_never_looks_ahead() -> None:
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 2))
    layer = tb.Attention(causal=True)
    out = layer.forward(q, k, v)
    # The first query sees only the first key.
    np.testing.assert_allclose(out[:, 0], v[:, 0], rtol=1e-12)
    # Changing the last key and value leaves every earlier output unchanged.
    k2, v2 = k.copy(), v.copy()
    k2[:, -1] += 5.0
    v2[:, -1] -= 3.0
    out2 = layer.forward(q, k2, v2)
    np.testing.assert_array_equal(out2[:, :-1], out[:, :-1])
    # Each query t is the non-causal attention over keys 0..t.
    for t in range(4):
        sub = tb.Attention().forward(q[:, t : t + 1], k[:, : t + 1], v[:, : t + 1])
        np.testing.assert_allclose(out[:, t : t + 1], sub, rtol=1e-12)


def test_causal_attention_needs_as_many_queries_as_keys() -> None:
    with pytest.raises(ValueError, match="causal"):
        tb.Attention(causal=True).forward(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((4, 2)))


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_gradients(heads, causal) -> None:
    rng = np.random.default_rng(8)
    N, T, D = 2, 3, 4
    x = rng.normal(size=(N, T, D))
    Wq, Wk, Wv, Wo = (rng.normal(size=(D, D)) / 2 for _ in range(4))
    layer = tb.MultiHeadAttention(Wq, Wk, Wv, Wo, heads, causal)
    out = layer.forward(x)
    assert out.shape == (N, T, D)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)

    def loss() -> float:
        return float(np.sum(dout * layer.forward(x)))

    assert_close(dx, numerical_gradient(loss, x))
    assert_close(layer.dWq, numerical_gradient(loss, Wq))
    assert_close(layer.dWk, numerical_gradient(loss, Wk))
    assert_close(layer.dWv, numerical_gradient(loss, Wv))
    assert_close(layer.dWo, numerical_gradient(loss, Wo))


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_splits_columns_into_heads(causal) -> None:
    rng = np.random.default_rng(9)
    N, T, D, heads = 2, 3, 6, 3
    dh = D // heads
    x = rng.normal(size=(N, T, D))
    Wq, Wk, Wv, Wo = (rng.normal(size=(D, D)) for _ in range(4))
    out = tb.MultiHeadAttention(Wq, Wk, Wv, Wo, heads, causal).forward(x)
    cols = [slice(h * dh, (h + 1) * dh) for h in range(heads)]
    per_head = [
        tb.Attention(causal).forward(x @ Wq[:, c], x @ Wk[:, c], x @ Wv[:, c]) for c in cols
    ]
    np.testing.assert_allclose(out, np.concatenate(per_head, axis=-1) @ Wo, rtol=1e-10)


def test_multi_head_attention_needs_heads_to_divide_the_width() -> None:
    W = np.zeros((6, 6))
    with pytest.raises(ValueError, match="divisible"):
        tb.MultiHeadAttention(W, W, W, W, heads=4)
