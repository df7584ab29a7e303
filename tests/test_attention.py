"""Scaled dot-product attention: the derived stages (dP, the softmax backward row by row, dQ,
dK, dV) in the textbook's form, the generated code against the hand-written reference of
textbook.py and against an independent masked computation, causal or not, batched or not, with
queries and keys of different lengths and values of another width; and its numerical
safety."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import sympy

import symgrad
from symgrad import textbook
from symgrad.codegen import generate, load
from symgrad.tensor_algebra import rsum


@pytest.fixture(scope="module")
def derivation() -> symgrad.Derivation:
    return symgrad.derive("Attention")


@pytest.fixture(scope="module")
def generated():
    return load(generate(["Attention"]))


def test_backward_is_derived_in_the_textbook_stages(derivation) -> None:
    p, dp, dscores = sympy.symbols("p dp dscores")
    stages = {g.name: g.expr for g in derivation.stages}
    assert list(stages) == ["dp", "dscores"]  # in the order backward computes them
    assert stages["dscores"] == p * (dp - rsum(dp * p, ("s",)))  # softmax backward, row by row
    assert stages["dp"].axes == ("f",)  # dout·vᵀ
    grads = derivation.grads
    assert grads["v"] == rsum(sympy.Symbol("dout") * p, ("t",))  # pᵀ·dout
    E = sympy.Symbol("E", integer=True, positive=True)
    assert grads["q"] == rsum(dscores * sympy.Symbol("k"), ("s",)) / sympy.sqrt(E)
    assert grads["k"] == rsum(dscores * sympy.Symbol("q"), ("t",)) / sympy.sqrt(E)


def test_forward_saves_the_probabilities_and_shifts_the_scores(derivation) -> None:
    assert [t.name for t in derivation.saved] == ["q", "k", "v", "p"]
    assert derivation.shifts == (("scores", "s"),)
    assert {c["causal"] for c in derivation.checked} == {0, 1}  # both masks proven or checked


def test_the_derivation_shows_every_matrix_product_with_its_shapes(derivation) -> None:
    text = derivation.text()
    for product in ("dout @ vᵀ", "dscores @ k / sqrt(E)", "dscoresᵀ @ q / sqrt(E)", "pᵀ @ dout"):
        assert product in text
    assert r"\underbrace{v^{\mathsf{T}}}_{B \times F \times S}" in derivation.latex()


def test_generated_code_is_batched_matrix_products() -> None:
    source = generate(["Attention"])
    assert "dp = dout @ v.swapaxes(-1, -2)" in source
    assert "dscores = p * (dp - (dp * p).sum(axis=-1, keepdims=True))" in source
    assert "np.einsum" not in source and "for " not in source
    assert "def __init__(self, causal: bool = False) -> None:" in source  # a flag, not a float
    assert "keep = np.where(np.arange(S) > np.arange(T)[:, None], 1 - causal, 1)" in source


SHAPES = [((), 4, 4, 3, 3), ((2,), 5, 5, 4, 6), ((2, 3), 3, 6, 2, 5), ((1,), 1, 1, 1, 1)]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_generated_equals_the_hand_written_reference(generated, shape, causal) -> None:
    lead, T, S, E, F = shape
    if causal and T != S:  # the reference needs as many queries as keys under a causal mask
        T = S
    rng = np.random.default_rng(T * 7 + S)
    q, k = rng.normal(size=(*lead, T, E)), rng.normal(size=(*lead, S, E))
    v = rng.normal(size=(*lead, S, F))
    mine, book = generated.Attention(causal), textbook.Attention(causal)
    y, want = mine.forward(q, k, v), book.forward(q, k, v)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-13)
    dout = rng.normal(size=y.shape)
    for got, expected in zip(mine.backward(dout.copy()), book.backward(dout.copy())):
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def _masked_reference(q, k, v, causal):
    """Attention with the mask written out by index, query by query (no shared code)."""
    T, S = q.shape[-2], k.shape[-2]
    out = np.zeros((*q.shape[:-1], v.shape[-1]))
    for lead in itertools.product(*(range(n) for n in q.shape[:-2])):
        for t in range(T):
            seen = [s for s in range(S) if not (causal and s > t)]
            scores = np.array([q[lead][t] @ k[lead][s] for s in seen]) / np.sqrt(q.shape[-1])
            weights = np.exp(scores - scores.max())
            weights /= weights.sum()
            out[lead][t] = sum(w * v[lead][s] for w, s in zip(weights, seen))
    return out


@pytest.mark.parametrize("causal", [False, True])
def test_more_keys_than_queries_match_a_mask_written_out_by_index(generated, causal) -> None:
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 2))
    got = generated.Attention(causal).forward(q, k, v)
    np.testing.assert_allclose(got, _masked_reference(q, k, v, causal), rtol=1e-12)


def test_causal_gradient_does_not_reach_future_keys(generated) -> None:
    rng = np.random.default_rng(4)
    q, k, v = (rng.normal(size=(4, 3)) for _ in range(3))
    layer = generated.Attention(causal=True)
    layer.forward(q, k, v)
    dout = np.zeros((4, 3))
    dout[0] = 1.0  # only the first query's output: it sees key 0 alone
    dq, dk, dv = layer.backward(dout)
    assert np.all(dk[1:] == 0) and np.all(dv[1:] == 0) and np.all(dq == 0)


@pytest.mark.parametrize("causal", [False, True])
def test_huge_scores_neither_overflow_nor_warn(generated, causal) -> None:
    rng = np.random.default_rng(5)
    q, k, v = (
        rng.normal(size=(2, 6, 3)) * 300,
        rng.normal(size=(2, 6, 3)) * 300,
        rng.normal(size=(2, 6, 3)),
    )
    layer = generated.Attention(causal)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        y = layer.forward(q, k, v)
        grads = layer.backward(np.ones_like(y))
    assert np.isfinite(y).all() and all(np.isfinite(g).all() for g in grads)
    np.testing.assert_allclose(y, _masked_reference(q, k, v, causal), rtol=1e-12, atol=1e-12)


def test_float32_stays_float32(generated) -> None:
    rng = np.random.default_rng(6)
    q, k, v = (rng.normal(size=(2, 4, 3)).astype(np.float32) for _ in range(3))
    layer = generated.Attention(causal=True)
    assert layer.forward(q, k, v).dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.backward(np.ones((2, 4, 3), np.float32)))
