"""Shared fixtures: the catalog's names and one generated module for the whole session."""

from __future__ import annotations

import types

import pytest

import symgrad
from symgrad.codegen import load

CATALOG = list(symgrad.catalog)


@pytest.fixture(scope="session")
def generated() -> types.ModuleType:
    return load(symgrad.generate(CATALOG))


@pytest.fixture(scope="session")
def generated_source() -> str:
    return symgrad.generate(CATALOG)
