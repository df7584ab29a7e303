"""Multi-head self-attention, declared with its heads read through a reshape of each weight
(``Wq[d, h*E + e]``) and its keys along a renamed axis (``x[n, s, d]``, ``sizes={"s": "T"}``):
the derived stages, and the generated code against the hand-written
``textbook.MultiHeadAttention``. A weight's gradient is read back through the reshape's
inverse, ``dWq[d, c] = Σ_n,t x·dq[n, c // E, t, c % E]``, with no sum over the head's
columns."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from symgrad import derive, textbook
from symgrad.codegen import generate, load
from symgrad.errors import SymgradError
from symgrad.registry import catalog
from symgrad.spec import layer
from symgrad.statements.gather import Gather, rename_of, reshape_of
from symgrad.tensor_algebra import rsum


@pytest.fixture(scope="module")
def derivation():
    return derive(catalog["MultiHeadAttention"])


@pytest.fixture(scope="module")
def generated(derivation):
    return load(generate([derivation]))


def test_heads_are_a_reshape_and_keys_a_rename() -> None:
    gathers = [s for s in catalog["MultiHeadAttention"].statements if isinstance(s, Gather)]
    reshapes = [s for s in gathers if rename_of(s) is None]
    renames = [s for s in gathers if rename_of(s) is not None]
    assert {s.source.name for s in reshapes} == {"Wq", "Wk", "Wv", "Wo"}
    assert all(reshape_of(s) is not None for s in reshapes)
    # one read of x along s, shared by the keys and the values
    assert [rename_of(s) for s in renames] == [{"n": "n", "t": "s", "d": "d"}]


def test_the_backward_is_derived_in_the_textbook_stages(derivation) -> None:
    stages = {g.name: g.expr for g in derivation.stages}
    assert list(stages) == ["do", "dp", "dv", "dscores", "dq", "dk"]
    p, dp, do = sympy.symbols("p dp do")
    assert stages["dscores"] == p * (dp - rsum(dp * p, ("s",)))
    assert stages["dv"] == rsum(do * p, ("t",))  # Pᵀ·dO per head
    dWq = derivation.gradient("Wq").expr  # Σ x·dq over the batch and the sequence, per column
    assert isinstance(dWq, rsum) and set(dWq.axes) == {"n", "t"}
    c, E = (
        sympy.Symbol("c", integer=True, nonnegative=True),
        sympy.Symbol("E", positive=True, integer=True),
    )
    assert sympy.floor(c / E) in dWq.atoms(sympy.floor) and sympy.Mod(c, E) in dWq.atoms(sympy.Mod)
    assert "dq[n, c // E, t, c % E]" in derivation.text()


def test_an_axis_read_under_another_name_needs_its_size_declared() -> None:
    with pytest.raises(SymgradError, match="write the same axis names"):
        layer("Typo", "x[n, t, d]\ny[n, s, d] = x[n, s, d] * 2")
    ok = layer("Shifted", "x[n, t, d]\ny[n, s, d] = x[n, s, d] * 2", sizes={"s": "T"})
    assert isinstance(ok.statements[0], Gather)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(2, 5, 8, 4), (1, 3, 6, 2), (3, 4, 6, 3)], ids=str)
def test_generated_equals_the_hand_written_reference(generated, shape, causal) -> None:
    n, t, d, heads = shape
    rng = np.random.default_rng(sum(shape))
    weights = [rng.normal(size=(d, d)) / np.sqrt(d) for _ in range(4)]
    x = rng.normal(size=(n, t, d))
    mine = generated.MultiHeadAttention(*(w.copy() for w in weights), heads=heads, causal=causal)
    book = textbook.MultiHeadAttention(*(w.copy() for w in weights), heads, causal)
    np.testing.assert_allclose(mine.forward(x), book.forward(x), rtol=1e-12, atol=1e-13)
    dout = rng.normal(size=(n, t, d))
    np.testing.assert_allclose(mine.backward(dout.copy()), book.backward(dout.copy()), atol=1e-12)
    for name in ("dWq", "dWk", "dWv", "dWo"):
        np.testing.assert_allclose(getattr(mine, name), getattr(book, name), atol=1e-12)
