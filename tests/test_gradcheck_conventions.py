"""gradcheck over every parameter convention: every bug caught, no false alarm, layer unchanged.

The mutation grid is convention × parameter × kind of bug (tests/conventions.py); the correct
layers run over 20 seeds in float64 and float32.
"""

from __future__ import annotations

import numpy as np
import pytest
from conventions import BUGS, CASES, Case, applies, mutated

from symgrad.parameters import resolve
from symgrad.verify import check_layer

SEEDS = range(20)
MUTANT_SEEDS = range(3)


def _layer(case: Case, seed: int, dtype: type = np.float64) -> tuple:
    rng = np.random.default_rng(seed)
    return case.make(rng, dtype), case.inputs(rng, dtype)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_correct_layers_pass_and_every_parameter_is_checked(case: Case, dtype: type) -> None:
    for seed in SEEDS:
        layer, inputs = _layer(case, seed, dtype)
        report = check_layer(layer, *inputs, seed=seed, **case.options)
        assert report.passed, report.message()
        params = {f.name for f in report.findings if f.kind == "parameter"}
        expected = {f"params[{k!r}]" if case.method == "gradient" else k for k in case.grads}
        assert params == expected, report.checked
        assert not report.unchecked


def _mutants() -> list[tuple[Case, str, str]]:
    out = []
    for case in CASES:
        layer, inputs = _layer(case, 0)
        check_layer(layer, *inputs, **case.options)  # so that every gradient exists
        result = getattr(layer, case.method)(*inputs) if case.method == "gradient" else None
        for param, access in case.grads.items():
            value = access.get(layer, result)
            out += [(case, param, bug) for bug in BUGS if applies(bug, value)]
    return out


MUTANTS = _mutants()


@pytest.mark.parametrize(
    ("case", "param", "bug"), MUTANTS, ids=[f"{c.name}-{p}-{b}" for c, p, b in MUTANTS]
)
def test_every_kind_of_bug_in_every_parameter_is_caught(case: Case, param: str, bug: str) -> None:
    for seed in MUTANT_SEEDS:
        layer, inputs = _layer(case, seed)
        layer = mutated(case, layer, param, bug, batch=len(inputs[0]))
        report = check_layer(layer, *inputs, seed=seed, **case.options)
        assert not report.passed, f"{bug} in {param} passed:\n{report.message()}"
        named = [f.name for f in report.findings if not f.passed]
        assert report.problems or any(param in n for n in named), report.message()


def _state(case: Case, layer: object) -> list[tuple[str, int, str, bytes]]:
    """Every parameter of the layer: path, identity, dtype and bits."""
    out = []
    for name in case.grads:
        path = f"params[{name!r}]" if case.method == "gradient" else name
        value = resolve(layer, path).get()
        out.append((name, id(value), str(np.asarray(value).dtype), np.asarray(value).tobytes()))
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_check_leaves_the_parameters_as_they_were(case: Case, dtype: type) -> None:
    layer, inputs = _layer(case, 1, dtype)
    before = _state(case, layer)
    assert check_layer(layer, *inputs, **case.options).passed
    assert _state(case, layer) == before


def test_the_book_two_layer_net_stays_wired_after_the_check() -> None:
    case = next(c for c in CASES if c.method == "gradient")
    net, inputs = _layer(case, 0, np.float32)
    w1 = net.params["W1"]
    assert check_layer(net, *inputs).passed
    assert net.params["W1"] is w1 and net.layers["Affine1"].W is w1
    assert w1.dtype == np.float32
    w1 -= 0.1  # an SGD step on the dict still reaches the layer
    assert net.layers["Affine1"].W is net.params["W1"]
