"""Hand-written reference layers and formulas: independent expected values, never code sources.

This module is what a student writes after reading the textbook ("Deep Learning from Scratch",
ch. 5): each layer's forward and backward typed in from the formulas, and each backward formula
as a SymPy expression. ``symgrad check`` and the tests compare the *derived* results against
these; the engine and codegen never import this module (a test enforces it), so nothing here can
leak into generated code.

The textbook's own layers (MulLayer, AddLayer, Relu, Sigmoid) are reproduced faithfully,
defects included: ``Relu.backward`` writes into ``dout``; ``Sigmoid`` overflows at x = -1000.
The others (Tanh, Exp, LeakyRelu, Softplus, SiLU) are written in the same style.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MulLayer:
    def __init__(self) -> None:
        self.x = None
        self.y = None

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx = dout * self.y  # swap x and y
        dy = dout * self.x
        return dx, dy


class AddLayer:
    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x + y

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dout * 1, dout * 1


class Relu:
    def __init__(self) -> None:
        self.mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        dx = dout
        return dx


class Sigmoid:
    def __init__(self) -> None:
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = 1 / (1 + np.exp(-x))
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out


class Tanh:
    def __init__(self) -> None:
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out**2)


class Exp:
    def __init__(self) -> None:
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.exp(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out


class LeakyRelu:
    def __init__(self, slope: float = 0.01) -> None:
        self.slope = slope
        self.mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return np.where(self.mask, x, self.slope * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.mask, dout, self.slope * dout)


class Softplus:
    def __init__(self) -> None:
        self.x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout / (1 + np.exp(-self.x))


class SiLU:
    def __init__(self) -> None:
        self.sig = None
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.sig = 1 / (1 + np.exp(-x))
        self.out = x * self.sig
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (self.sig + self.out * (1 - self.sig))


LAYERS: dict[str, type] = {
    "Mul": MulLayer,
    "Add": AddLayer,
    "Relu": Relu,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "Exp": Exp,
    "LeakyRelu": LeakyRelu,
    "Softplus": Softplus,
    "SiLU": SiLU,
}


def formulas() -> dict[str, dict[str, Any]]:
    """The textbook's backward formulas, ``{layer: {input: expr}}``, in ``dout``, the inputs and
    the output (``y`` for one-input layers). SymPy is imported only when this is called."""
    from sympy import Piecewise, Rational, Symbol, exp

    x, y, dout = Symbol("x"), Symbol("y"), Symbol("dout")
    return {
        "Mul": {"x": dout * y, "y": dout * x},
        "Add": {"x": dout, "y": dout},
        "Relu": {"x": Piecewise((dout, x > 0), (0, True))},
        "Sigmoid": {"x": dout * (1 - y) * y},
        "Tanh": {"x": dout * (1 - y**2)},
        "Exp": {"x": dout * y},
        "LeakyRelu": {"x": Piecewise((dout, x > 0), (Rational(1, 100) * dout, True))},
        "Softplus": {"x": dout / (1 + exp(-x))},
        "SiLU": {"x": dout * (1 / (1 + exp(-x)) + y * (1 - 1 / (1 + exp(-x))))},
    }
