"""Every catalog layer against what an engineer would otherwise run: torch eager and JAX.

``benchmarks/peers.py`` writes each layer's forward with the framework's own ops (its native op
where there is one) and lets the framework differentiate it. Here each generated layer's output
and every gradient must agree with both, in float32 and float64, at the sampler's small sizes:
an oracle independent of symgrad's engine, and a guard that ``bench_layers.py`` times the same
function on both sides.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import symgrad
from symgrad.codegen import load
from symgrad.sampling import build, sample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peers

GENERATED = load(symgrad.generate(list(symgrad.catalog)))
TORCH, JAX = peers.torch_peers(), peers.jax_peers()
STEPS = {"torch": (TORCH, peers.torch_step), "jax": (JAX, peers.jax_step)}


def case(name: str, dtype: type, seed: int = 1) -> tuple:
    d = symgrad.derive(name)
    rng = np.random.default_rng(seed)
    params, args = sample(d, rng, dtype)
    out = build(getattr(GENERATED, name), d, params).forward(*[a.copy() for a in args])
    dout = 1.0 if np.ndim(out) == 0 else rng.standard_normal(np.shape(out)).astype(dtype)
    layer = build(getattr(GENERATED, name), d, params)
    ours = peers.generated_results(build(getattr(GENERATED, name), d, params), args, dout, params)
    return ours, (args, params, layer, dout, peers.differentiable(d.spec))


def test_every_layer_has_a_peer_or_a_reason() -> None:
    for table in (TORCH, JAX):
        assert set(table) | set(peers.NO_PEER) == set(symgrad.catalog)
        assert not set(table) & set(peers.NO_PEER)


@pytest.mark.parametrize("framework", sorted(STEPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(set(symgrad.catalog) - set(peers.NO_PEER)))
def test_generated_layer_agrees_with_the_framework(name: str, dtype: type, framework: str) -> None:
    table, step = STEPS[framework]
    ours, (args, params, layer, dout, diff) = case(name, dtype)
    with jax.enable_x64(dtype == np.float64):  # JAX keeps float64 only when asked to
        theirs = step(table[name], args, params, layer, dout, diff)()
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    assert peers.disagreements(ours, theirs, rtol) == []
    assert len(ours[1]) == sum(diff), "one gradient per differentiated argument"


@pytest.mark.parametrize("framework", sorted(STEPS))
def test_a_wrong_gradient_or_output_is_reported(framework: str) -> None:
    table, step = STEPS[framework]
    (y, grads, pgrads), rest = case("Affine", np.float64)
    with jax.enable_x64(True):
        theirs = step(table["Affine"], *rest)()
    assert peers.disagreements((y, grads, pgrads), theirs, 1e-9) == []
    assert peers.disagreements((y * (1 + 1e-6), grads, pgrads), theirs, 1e-9) == ["y"]
    wrong = {**pgrads, "W": pgrads["W"] + 1e-6 * np.abs(pgrads["W"]).max()}
    assert peers.disagreements((y, grads, wrong), theirs, 1e-9) == ["dW"]
    assert peers.disagreements((y, [g.T for g in grads], pgrads), theirs, 1e-9) != []
