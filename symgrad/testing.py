"""symgrad's pytest plugin: gradient checks for your own layers in three lines.

Installed with symgrad and registered as a ``pytest11`` entry point, so any project that has
symgrad installed can write::

    def test_my_layer(gradcheck):
        gradcheck(MyLayer(), np.random.randn(4, 5))

or, without the fixture, ``symgrad.testing.assert_gradcheck(MyLayer(), x)``. A failure is an
``AssertionError`` whose message names the input or parameter, the worst elements, expected and
got, and the relative error on the cs231n scale. Hypothesis strategies for layer inputs live in
:mod:`symgrad.strategies`.

This module imports NumPy and symgrad's numerical checker only: loading the plugin never imports
SymPy, so it costs nothing in test sessions that do not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from symgrad.verify import check_layer, warn_in_place


def assert_gradcheck(layer: Any, *inputs: Any, **options: Any) -> None:
    """Raise ``AssertionError`` with the full report when ``layer``'s backward is wrong.

    ``options`` are those of :func:`symgrad.gradcheck` (``seed``, ``rtol``, ``atol``, ``fast``,
    ``params``, ``targets``).
    """
    __tracebackhide__ = True
    report = check_layer(layer, *inputs, **options)
    warn_in_place(report, stacklevel=2)
    if not report.passed:
        raise AssertionError(report.message())


@pytest.fixture
def gradcheck() -> Callable[..., None]:
    """The :func:`assert_gradcheck` function, as a fixture."""
    return assert_gradcheck
