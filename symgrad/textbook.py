"""Hand-written reference layers and formulas: independent expected values, never code sources.

This module is what a student writes after reading the textbook ("Deep Learning from Scratch",
ch. 5): each layer's forward and backward typed in from the formulas, and each backward formula
as a SymPy expression. ``symgrad check`` and the tests compare the *derived* results against
these; the engine and codegen never import this module (a test enforces it), so nothing here can
leak into generated code.

The textbook's own layers (MulLayer, AddLayer, Relu, Sigmoid, Affine, BatchNormalization,
Dropout) are reproduced faithfully, defects included: ``Relu.backward`` writes into ``dout``;
``Sigmoid`` overflows at x = -1000; ``Dropout`` draws a fresh mask on every forward. Its
SoftmaxWithLoss is kept verbatim as ``BookSoftmaxWithLoss`` (``log(y + 1e-7)``, ``dout``
ignored); the reference ``SoftmaxWithLoss`` is written from the formulas instead. The others
are written in the same style.
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


class LeakyReLU:
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


class Affine:
    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class MatMul:
    def __init__(self, W: np.ndarray) -> None:
        self.W = W
        self.x = None
        self.dW = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.dot(x, self.W)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = np.dot(self.x.T, dout)
        return np.dot(dout, self.W.T)


def softmax(x: np.ndarray) -> np.ndarray:
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


class Softmax:
    def __init__(self) -> None:
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = softmax(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = self.out * dout
        sumdx = np.sum(dx, axis=-1, keepdims=True)
        dx -= self.out * sumdx
        return dx


class SoftmaxWithLoss:
    """Written from the formulas: exact cross-entropy, and the backward multiplies by dout."""

    def __init__(self) -> None:
        self.y = None
        self.t = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        if t.ndim == 1:
            t = np.eye(x.shape[1])[t]
        self.t = t
        self.y = softmax(x)
        return -np.sum(t * np.log(self.y)) / x.shape[0]

    def backward(self, dout: float = 1.0) -> np.ndarray:
        return dout * (self.y - self.t) / self.t.shape[0]


class BookSoftmaxWithLoss:
    """The textbook's SoftmaxWithLoss verbatim (common/layers.py), defects included: its loss
    adds 1e-7 inside the log, so its backward is not the gradient of its forward, and its
    backward ignores ``dout``. Kept for benchmarks and for tests that show the defects."""

    def __init__(self) -> None:
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        self.y = softmax(x)
        self.loss = book_cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout: float = 1) -> np.ndarray:
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            dx = (self.y - self.t) / batch_size
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
            dx = dx / batch_size
        return dx


def book_cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class MeanSquaredError:
    def __init__(self) -> None:
        self.y = None
        self.t = None

    def forward(self, y: np.ndarray, t: np.ndarray) -> float:
        self.y, self.t = y, t
        return 0.5 * np.sum((y - t) ** 2) / y.shape[0]

    def backward(self, dout: float = 1.0) -> np.ndarray:
        return dout * (self.y - self.t) / self.y.shape[0]


class SigmoidWithLoss:
    def __init__(self) -> None:
        self.y = None
        self.t = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        self.y = 1 / (1 + np.exp(-x))
        loss = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        return np.sum(loss) / x.shape[0]

    def backward(self, dout: float = 1.0) -> np.ndarray:
        return dout * (self.y - self.t) / self.y.shape[0]


class BatchNormalization:
    """The textbook's BatchNormalization verbatim (common/layers.py, ch. 6), with its running
    averages and its eps of 10e-7; ``train_flg`` selects batch statistics."""

    def __init__(
        self,
        gamma: np.ndarray,
        beta: np.ndarray,
        momentum: float = 0.9,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
    ) -> None:
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        self.input_shape = x.shape
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        out = self._forward(x, train_flg)
        return out.reshape(*self.input_shape)

    def _forward(self, x: np.ndarray, train_flg: bool) -> np.ndarray:
        if self.running_mean is None:
            _, D = x.shape
            self.running_mean = np.zeros(D)
            self.running_var = np.zeros(D)
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc**2, axis=0)
            std = np.sqrt(var + 10e-7)
            xn = xc / std
            self.batch_size = x.shape[0]
            self.xc = xc
            self.xn = xn
            self.std = std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xc = x - self.running_mean
            xn = xc / np.sqrt(self.running_var + 10e-7)
        return self.gamma * xn + self.beta

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if dout.ndim != 2:
            dout = dout.reshape(dout.shape[0], -1)
        dx = self._backward(dout)
        return dx.reshape(*self.input_shape)

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma = dgamma
        self.dbeta = dbeta
        return dx


class Dropout:
    """The textbook's Dropout verbatim: a fresh random mask on every training forward."""

    def __init__(self, dropout_ratio: float = 0.5) -> None:
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


LAYERS: dict[str, type] = {
    "MulLayer": MulLayer,
    "AddLayer": AddLayer,
    "Relu": Relu,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "Exp": Exp,
    "LeakyReLU": LeakyReLU,
    "Softplus": Softplus,
    "SiLU": SiLU,
    "Affine": Affine,
    "MatMul": MatMul,
    "Softmax": Softmax,
    "SoftmaxWithLoss": SoftmaxWithLoss,
    "MeanSquaredError": MeanSquaredError,
    "SigmoidWithLoss": SigmoidWithLoss,
}


def formulas() -> dict[str, dict[str, Any]]:
    """The textbook's backward formulas, ``{layer: {input: expr}}``, in ``dout``, the inputs and
    the output (``y`` for one-input layers). SymPy is imported only when this is called."""
    from sympy import IndexedBase, MatrixSymbol, OneMatrix, Piecewise, Rational, Sum, Symbol, exp

    from symgrad.spec import D, M, N, i, k, n

    x, y, dout = Symbol("x"), Symbol("y"), Symbol("dout")
    X, W, G = MatrixSymbol("X", N, D), MatrixSymbol("W", D, M), MatrixSymbol("dout", N, M)
    xi, yi, ti, gi = (IndexedBase(s) for s in ("x", "y", "t", "dout"))
    return {
        "Affine": {"X": G * W.T, "W": X.T * G, "b": G.T * OneMatrix(N, 1)},
        "MatMul": {"X": G * W.T, "W": X.T * G},
        "Softmax": {"x": yi[i] * (gi[i] - Sum(gi[k] * yi[k], (k, 0, n - 1)))},
        "SoftmaxWithLoss": {"x": dout * (yi[i] - ti[i]) / N},
        "MeanSquaredError": {"y": dout * (yi[i] - ti[i]) / N},
        "SigmoidWithLoss": {"x": dout * (1 / (1 + exp(-xi[i])) - ti[i]) / N},
        "MulLayer": {"x": dout * y, "y": dout * x},
        "AddLayer": {"x": dout, "y": dout},
        "Relu": {"x": Piecewise((dout, x > 0), (0, True))},
        "Sigmoid": {"x": dout * (1 - y) * y},
        "Tanh": {"x": dout * (1 - y**2)},
        "Exp": {"x": dout * y},
        "LeakyReLU": {"x": Piecewise((dout, x > 0), (Rational(1, 100) * dout, True))},
        "Softplus": {"x": dout / (1 + exp(-x))},
        "SiLU": {"x": dout * (1 / (1 + exp(-x)) + y * (1 - 1 / (1 + exp(-x))))},
    }
