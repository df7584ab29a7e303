"""symgrad: derive backpropagation instead of transcribing it.

The public names are loaded on first use, so ``import symgrad`` (and the pytest plugin) stays
cheap and does not import SymPy until something symbolic is asked for.

>>> import symgrad
>>> symgrad.derive("Sigmoid").grads["x"]
dout*y*(1 - y)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Layer": "symgrad.program",
    "layer": "symgrad.spec",
    "elementwise": "symgrad.spec",
    "catalog": "symgrad.registry",
    "derive": "symgrad.engine",
    "Derivation": "symgrad.engine",
    "generate": "symgrad.codegen",
    "gradcheck": "symgrad.verify",
    "numerical_gradient": "symgrad.verify",
    "GradcheckError": "symgrad.verify",
    "check_layer": "symgrad.verify",
    "compare": "symgrad.comparison",
    "SymgradError": "symgrad.errors",
    "DerivationError": "symgrad.errors",
    "parse_expr": "symgrad.parse",
    "evaluate_graph": "symgrad.evaluation",
    "set_language": "symgrad.i18n",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symgrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
