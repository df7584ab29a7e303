"""Measured bug-catching power: every injected backward bug is caught, no correct layer fails.

Over 20 seeds and both dtypes, for every catalog layer and every mutation that applies to it
(see ``tests/mutations.py``), symgrad's checker (gradcheck with a random upstream gradient, plus
``compare`` against the derived layer) must catch 100% of the bugs and raise no false alarm on
the correct layers. ``benchmarks/bench_checkers.py`` measures the textbook's and DeZero's checks
on the same trials.
"""

from __future__ import annotations

import mutations
import numpy as np
import pytest

import symgrad

SEEDS = range(20)


@pytest.fixture(scope="module")
def trials() -> list[mutations.Trial]:
    return mutations.run_trials(SEEDS)


def test_every_injected_bug_is_caught(trials: list[mutations.Trial]) -> None:
    missed = [
        (t.layer, t.mutation, t.dtype, t.seed)
        for t in trials
        if t.mutation and t.verdicts["symgrad"]
    ]
    assert not missed
    catch, _, n_bugs, _ = mutations.rates(trials, "symgrad")
    assert catch == 1.0 and n_bugs >= 20 * 2 * 12


def test_no_false_alarm_on_correct_layers(trials: list[mutations.Trial]) -> None:
    alarms = [
        (t.layer, t.dtype, t.seed) for t in trials if not t.mutation and not t.verdicts["symgrad"]
    ]
    assert not alarms


def test_at_least_twelve_kinds_of_bug_and_every_layer_covered(
    trials: list[mutations.Trial],
) -> None:
    kinds = {t.mutation for t in trials if t.mutation}
    assert len(kinds) >= 12
    assert {t.layer for t in trials if t.mutation} == set(symgrad.catalog)


def test_fast_mode_catches_the_same_bugs() -> None:
    trials = mutations.run_trials(range(3), dtypes=(np.float64,), fast=True)
    catch, alarms, _, _ = mutations.rates(trials, "symgrad")
    assert (catch, alarms) == (1.0, 0.0)


def test_the_other_checkers_miss_bugs_or_cry_wolf() -> None:
    # The comparison the benchmark reports in full: DeZero's all-ones check passes a backward
    # that drops dout; the textbook's check has no answer at the ReLU kink.
    trials = mutations.run_trials(range(1), dtypes=(np.float64,), checkers=("textbook", "all-ones"))
    dropped = [t for t in trials if t.mutation == "dropped dout" and t.layer == "Sigmoid"]
    assert dropped[0].verdicts["all-ones"] is True
    relu = [t for t in trials if not t.mutation and t.layer == "Relu"]
    assert relu[0].verdicts["textbook"] is False
