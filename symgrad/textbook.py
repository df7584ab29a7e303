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
are written in the same style, among them reference layers from beyond the book (LayerNorm,
RMSNorm, GELU, GELUTanh, PReLU, ELU, LogSoftmax, HuberLoss, CrossEntropyLoss), typed in from
their published formulas with PyTorch's conventions.
"""

from __future__ import annotations

import math

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


class LayerNorm:
    """Normalises each sample over its last axis (biased variance), then scales and shifts."""

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> None:
        self.gamma = gamma
        self.beta = beta
        self.eps = eps
        self.xhat = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        mu = np.mean(x, axis=-1, keepdims=True)
        xc = x - mu
        var = np.mean(xc**2, axis=-1, keepdims=True)
        self.std = np.sqrt(var + self.eps)
        self.xhat = xc / self.std
        return self.gamma * self.xhat + self.beta

    def backward(self, dout: np.ndarray) -> np.ndarray:
        D = dout.shape[-1]
        self.dbeta = np.sum(dout.reshape(-1, D), axis=0)
        self.dgamma = np.sum((dout * self.xhat).reshape(-1, D), axis=0)
        dxhat = dout * self.gamma
        mean_dxhat = np.mean(dxhat, axis=-1, keepdims=True)
        mean_dxhat_xhat = np.mean(dxhat * self.xhat, axis=-1, keepdims=True)
        return (dxhat - mean_dxhat - self.xhat * mean_dxhat_xhat) / self.std


class RMSNorm:
    """Divides each sample by the root mean square of its last axis, then scales."""

    def __init__(self, gamma: np.ndarray, eps: float = 1e-6) -> None:
        self.gamma = gamma
        self.eps = eps
        self.x = None
        self.rms = None
        self.dgamma = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.rms = np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + self.eps)
        return self.gamma * x / self.rms

    def backward(self, dout: np.ndarray) -> np.ndarray:
        D = dout.shape[-1]
        xhat = self.x / self.rms
        self.dgamma = np.sum((dout * xhat).reshape(-1, D), axis=0)
        dxhat = dout * self.gamma
        # d xhat_i / d x_j = (delta_ij - xhat_i * xhat_j / D) / rms
        return (dxhat - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True)) / self.rms


_erfc = np.vectorize(math.erfc, otypes=[float])


class GELU:
    """Exact GELU: y = x * Phi(x), Phi the standard normal CDF (erf from ``math.erf``)."""

    def __init__(self) -> None:
        self.x = None
        self.cdf = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        # 1 + erf(x/√2) written as erfc(-x/√2): the same value, without cancelling for x < 0
        self.cdf = 0.5 * _erfc(-x / np.sqrt(2.0))
        return x * self.cdf

    def backward(self, dout: np.ndarray) -> np.ndarray:
        pdf = np.exp(-0.5 * self.x**2) / np.sqrt(2.0 * np.pi)
        return dout * (self.cdf + self.x * pdf)


class GELUTanh:
    """GELU, tanh approximation: y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""

    def __init__(self) -> None:
        self.x = None
        self.s = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        # (1 + tanh(u))/2 = 1/(1 + exp(-2u)) and 1 - tanh(u)**2 = 4 s (1 - s): the same
        # values without the cancellation of 1 + tanh(u) for u < 0
        self.x = x
        u = np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)
        with np.errstate(over="ignore"):
            self.s = 1.0 / (1.0 + np.exp(-2.0 * u))
        return x * self.s

    def backward(self, dout: np.ndarray) -> np.ndarray:
        du = np.sqrt(2.0 / np.pi) * (1.0 + 3 * 0.044715 * self.x**2)
        s = self.s
        return dout * (s + 2.0 * self.x * s * (1.0 - s) * du)


class PReLU:
    """y = x for x > 0, alpha * x otherwise; alpha of shape () shared, or (C,) for channel
    axis 1 of inputs (N, C, ...)."""

    def __init__(self, alpha: np.ndarray | float) -> None:
        self.alpha = alpha
        self.x = None
        self.mask = None
        self.dalpha = None

    def _alpha(self, ndim: int) -> np.ndarray:
        alpha = np.asarray(self.alpha, dtype=float)
        if alpha.ndim == 0:
            return alpha
        return alpha.reshape(alpha.shape[0], *([1] * (ndim - 2)))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.mask = x > 0
        return np.where(self.mask, x, self._alpha(x.ndim) * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dalpha = np.where(self.mask, 0.0, dout * self.x)
        if np.ndim(self.alpha) == 0:
            self.dalpha = np.array(np.sum(dalpha))
        else:
            self.dalpha = np.sum(dalpha, axis=(0, *range(2, dout.ndim)))
        return np.where(self.mask, dout, self._alpha(dout.ndim) * dout)


class ELU:
    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self.x = None
        self.mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.mask = x > 0
        return np.where(self.mask, x, self.alpha * (np.exp(np.minimum(x, 0)) - 1))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.mask, dout, dout * self.alpha * np.exp(np.minimum(self.x, 0)))


class LogSoftmax:
    """y = x - logsumexp(x) over the last axis, the row max subtracted first."""

    def __init__(self) -> None:
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = x - np.max(x, axis=-1, keepdims=True)
        self.out = x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout - np.exp(self.out) * np.sum(dout, axis=-1, keepdims=True)


class HuberLoss:
    """Mean over all elements of (x - t)^2 / 2 where |x - t| < delta, else
    delta * (|x - t| - delta / 2) (PyTorch's HuberLoss, reduction='mean')."""

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = delta
        self.diff = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.diff = x - t
        a = np.abs(self.diff)
        loss = np.where(a < self.delta, 0.5 * self.diff**2, self.delta * (a - 0.5 * self.delta))
        return np.mean(loss)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        return dout * np.clip(self.diff, -self.delta, self.delta) / self.diff.size


class CrossEntropyLoss:
    """Softmax cross-entropy against q = (1 - eps) * t + eps / K, mean over the batch
    (PyTorch's CrossEntropyLoss(label_smoothing=eps)); t one-hot rows or integer labels."""

    def __init__(self, label_smoothing: float = 0.1) -> None:
        self.label_smoothing = label_smoothing
        self.y = None
        self.q = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        N, K = x.shape
        if t.ndim == 1:
            t = np.eye(K)[t]
        self.q = (1 - self.label_smoothing) * t + self.label_smoothing / K
        self.y = softmax(x)
        xs = x - np.max(x, axis=-1, keepdims=True)
        log_y = xs - np.log(np.sum(np.exp(xs), axis=-1, keepdims=True))
        return -np.sum(self.q * log_y) / N

    def backward(self, dout: float = 1.0) -> np.ndarray:
        # q sums to 1 over each row (t does), so the gradient is softmax(x) - q.
        return dout * (self.y - self.q) / self.q.shape[0]


def im2col(
    input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """The book's im2col (common/util.py, ch. 7): (N, C, H, W) -> (N*out_h*out_w, C*FH*FW), one
    row per window, after zero padding."""
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1

    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=img.dtype)

    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]

    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(
    col: np.ndarray,
    input_shape: tuple[int, int, int, int],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
) -> np.ndarray:
    """The book's col2im: the adjoint of :func:`im2col`; cells shared by overlapping windows
    accumulate (``+=``), and the padding is cut off again."""
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)

    # The book's extra ``stride - 1`` rows and columns are never written: each slice below ends
    # at or before H + 2*pad, and the crop drops them.
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]

    return img[:, :, pad : H + pad, pad : W + pad]


class Convolution:
    """The book's Convolution (ch. 7): W (FN, C, FH, FW), b (FN,), x (N, C, H, W)."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        FN, _, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = 1 + (H + 2 * self.pad - FH) // self.stride
        out_w = 1 + (W + 2 * self.pad - FW) // self.stride

        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T

        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

        self.x = x
        self.col = col
        self.col_W = col_W
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)

        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout)
        self.dW = self.dW.transpose(1, 0).reshape(FN, C, FH, FW)

        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    """The book's max pooling (ch. 7): the maximum of each (zero-padded) window; the gradient
    goes to the first maximum of the window (``np.argmax``).

    The book computes ``out_h = 1 + (H - pool_h) / stride``, leaving out ``pad``; here the
    padding is counted, as in :class:`Convolution`, so that ``pad > 0`` works."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, H, W = x.shape
        out_h = 1 + (H + 2 * self.pad - self.pool_h) // self.stride
        out_w = 1 + (W + 2 * self.pad - self.pool_w) // self.stride

        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)

        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

        self.x = x
        self.arg_max = arg_max
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)

        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dmax = dmax.reshape((*dout.shape, pool_size))

        dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class AvgPooling:
    """Average pooling in the book's pooling style: the mean of each zero-padded window (padded
    cells count, as PyTorch's ``count_include_pad=True``); each cell of a window gets
    ``dout / (pool_h * pool_w)``."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, H, W = x.shape
        out_h = 1 + (H + 2 * self.pad - self.pool_h) // self.stride
        out_w = 1 + (W + 2 * self.pad - self.pool_w) // self.stride

        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)

        out = np.mean(col, axis=1)
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

        self.x = x
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)

        pool_size = self.pool_h * self.pool_w
        dmean = np.repeat(dout.reshape(-1, 1) / pool_size, pool_size, axis=1)
        dmean = dmean.reshape((*dout.shape, pool_size))

        dcol = dmean.reshape(dmean.shape[0] * dmean.shape[1] * dmean.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class Embedding:
    """The sequel's Embedding (vol. 2, ch. 4): rows of W picked by an integer array of any
    shape; repeated indices accumulate their gradients (``np.add.at``)."""

    def __init__(self, W: np.ndarray) -> None:
        self.W = W
        self.idx = None
        self.dW = None

    def forward(self, idx: np.ndarray) -> np.ndarray:
        self.idx = idx
        return self.W[idx]

    def backward(self, dout: np.ndarray) -> None:
        self.dW = np.zeros_like(self.W)
        np.add.at(self.dW, self.idx, dout)
        return None


class Attention:
    """Scaled dot-product attention, softmax(q kᵀ / √d) v, batched over the leading axes:
    q (..., T, d), k (..., S, d), v (..., S, dv). ``causal`` lets query t see keys 0..t only
    (T must equal S)."""

    def __init__(self, causal: bool = False) -> None:
        self.causal = causal
        self.q = None
        self.k = None
        self.v = None
        self.P = None

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        T, d = q.shape[-2], q.shape[-1]
        S = k.shape[-2]
        scores = q @ k.swapaxes(-1, -2) / math.sqrt(d)
        if self.causal:
            if T != S:
                raise ValueError(f"causal attention needs as many queries as keys, got {T} != {S}")
            future = np.triu(np.ones((T, S), dtype=bool), k=1)  # key s > query t
            scores = np.where(future, -np.inf, scores)
        self.P = softmax(scores)
        self.q = q
        self.k = k
        self.v = v
        return self.P @ v

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self.q.shape[-1]
        P = self.P
        dv = P.swapaxes(-1, -2) @ dout
        dP = dout @ self.v.swapaxes(-1, -2)
        dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
        dq = dS @ self.k / math.sqrt(d)
        dk = dS.swapaxes(-1, -2) @ self.q / math.sqrt(d)
        return dq, dk, dv


class MultiHeadAttention:
    """Multi-head self-attention without biases: x (N, T, D), Wq, Wk, Wv (D, C), Wo (C, M);
    head h takes columns h*dh:(h+1)*dh of Q, K and V (dh = C // heads); out = concat(heads) @
    Wo."""

    def __init__(
        self,
        Wq: np.ndarray,
        Wk: np.ndarray,
        Wv: np.ndarray,
        Wo: np.ndarray,
        heads: int,
        causal: bool = False,
    ) -> None:
        C = Wq.shape[1]
        if C % heads != 0:
            raise ValueError(f"the projection width {C} is not divisible by {heads} heads")
        self.Wq = Wq
        self.Wk = Wk
        self.Wv = Wv
        self.Wo = Wo
        self.heads = heads
        self.attention = Attention(causal)
        self.x = None
        self.merged = None
        self.dWq = None
        self.dWk = None
        self.dWv = None
        self.dWo = None

    def _split(self, a: np.ndarray) -> np.ndarray:
        N, T, C = a.shape
        return a.reshape(N, T, self.heads, C // self.heads).transpose(0, 2, 1, 3)

    def _merge(self, a: np.ndarray) -> np.ndarray:
        N, H, T, dh = a.shape
        return a.transpose(0, 2, 1, 3).reshape(N, T, H * dh)

    def forward(self, x: np.ndarray) -> np.ndarray:
        Q = self._split(x @ self.Wq)
        K = self._split(x @ self.Wk)
        V = self._split(x @ self.Wv)
        self.merged = self._merge(self.attention.forward(Q, K, V))
        self.x = x
        return self.merged @ self.Wo

    def backward(self, dout: np.ndarray) -> np.ndarray:
        D, C, M = self.x.shape[-1], self.Wq.shape[1], self.Wo.shape[1]
        x2 = self.x.reshape(-1, D)
        self.dWo = self.merged.reshape(-1, C).T @ dout.reshape(-1, M)
        dmerged = dout @ self.Wo.T
        dQ, dK, dV = self.attention.backward(self._split(dmerged))
        dQ, dK, dV = self._merge(dQ), self._merge(dK), self._merge(dV)
        self.dWq = x2.T @ dQ.reshape(-1, C)
        self.dWk = x2.T @ dK.reshape(-1, C)
        self.dWv = x2.T @ dV.reshape(-1, C)
        return dQ @ self.Wq.T + dK @ self.Wk.T + dV @ self.Wv.T


LAYERS: dict[str, type] = {
    "BatchNormalization": BatchNormalization,
    "Dropout": Dropout,
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
    "LayerNorm": LayerNorm,
    "RMSNorm": RMSNorm,
    "GELU": GELU,
    "GELUTanh": GELUTanh,
    "PReLU": PReLU,
    "ELU": ELU,
    "LogSoftmax": LogSoftmax,
    "HuberLoss": HuberLoss,
    "CrossEntropyLoss": CrossEntropyLoss,
    "Convolution": Convolution,
    "Pooling": Pooling,
    "AvgPooling": AvgPooling,
    "Embedding": Embedding,
    "Attention": Attention,
    "MultiHeadAttention": MultiHeadAttention,
}


def formulas() -> dict[str, dict[str, str]]:
    """The backward formulas as the textbook and the papers print them, ``{layer: {tensor:
    formula}}``: the right-hand side of ``d<tensor>`` in symgrad's declaration language, in
    ``dout``, the layer's tensors and the values its forward computes (``y``, ``xhat``, ``std``);
    an elementwise formula may leave out the indices. :func:`symgrad.check.formula_agrees`
    writes both sides out at concrete sizes and proves them equal."""
    bn_dx = (
        "gamma[d] / std[d] * (dout[n, d] - mean_n(dout[n, d])"
        " - xhat[n, d] * mean_n(dout[n, d] * xhat[n, d]))"
    )
    ln_dx = (
        "(dout[..., d] * gamma[d] - mean_d(dout[..., d] * gamma[d])"
        " - xhat[..., d] * mean_d(dout[..., d] * gamma[d] * xhat[..., d])) / std[...]"
    )
    rms_dx = (
        "(dout[..., d] * gamma[d] - xhat[..., d] * mean_d(dout[..., d] * gamma[d] * xhat[..., d]))"
        " / rms[...]"
    )
    phi = "exp(-x**2 / 2) / sqrt(2 * pi)"
    back = "(h + pad - fh) / stride, (w + pad - fw) / stride"  # the output a window cell met
    u = "sqrt(2 / pi) * (x + 0.044715 * x**3)"

    def dp(t: str, s: str) -> str:  # attention's dP = dout·vᵀ
        return f"sum_f(dout[..., {t}, f] * v[..., {s}, f])"

    ds = f"p[..., t, s] * ({dp('t', 's')} - sum_j(p[..., t, j] * {dp('t', 'j')}))"  # softmax row

    # Multi-head attention, head h the columns h*E:(h+1)*E of each weight (column c is head
    # c // E, its column c % E), a query at q_, a key at k_: dO = dout·Woᵀ, dP = dO·Vᵀ, dS the
    # softmax row's, dQ = dS·K/√E, dK = dSᵀ·Q/√E, dV = Pᵀ·dO.
    def mh_do(q_: str, h: str, e: str) -> str:
        return f"sum_m(dout[n, {q_}, m] * Wo[({h})*E + {e}, m])"

    def mh_dp(q_: str, k_: str, h: str) -> str:
        return f"sum_e({mh_do(q_, h, 'e')} * v[n, {h}, {k_}, e])"

    def mh_ds(q_: str, k_: str, h: str) -> str:
        rest = f"sum_j(p[n, {h}, {q_}, j] * {mh_dp(q_, 'j', h)})"
        return f"p[n, {h}, {q_}, {k_}] * ({mh_dp(q_, k_, h)} - {rest})"

    def mh_dq(q_: str, k_: str, h: str, e: str) -> str:  # k_: the key axis summed over
        return f"sum_{k_}({mh_ds(q_, k_, h)} * k[n, {h}, {k_}, {e}]) / sqrt(E)"

    def mh_dk(k_: str, q_: str, h: str, e: str) -> str:
        return f"sum_{q_}({mh_ds(q_, k_, h)} * q[n, {h}, {q_}, {e}]) / sqrt(E)"

    def mh_dv(k_: str, q_: str, h: str, e: str) -> str:
        return f"sum_{q_}(p[n, {h}, {q_}, {k_}] * {mh_do(q_, h, e)})"

    head, col = "c // E", "c % E"
    mh_dx = (  # x is the queries at t, and the keys and values at t
        f"sum_c({mh_dq('t', 's', head, col)} * Wq[d, c]"
        f" + {mh_dk('t', 's', head, col)} * Wk[d, c]"
        f" + {mh_dv('t', 's', head, col)} * Wv[d, c])"
    )
    return {
        "MulLayer": {"x": "dout * y", "y": "dout * x"},
        "AddLayer": {"x": "dout", "y": "dout"},
        "Relu": {"x": "where(x > 0, dout, 0)"},
        "Sigmoid": {"x": "dout * (1 - y) * y"},
        "Tanh": {"x": "dout * (1 - y**2)"},
        "Exp": {"x": "dout * y"},
        "LeakyReLU": {"x": "where(x > 0, dout, dout / 100)"},
        "Softplus": {"x": "dout / (1 + exp(-x))"},
        "SiLU": {"x": "dout * (sigmoid(x) + y * (1 - sigmoid(x)))"},
        "GELU": {"x": f"dout * ((1 + erf(x / sqrt(2))) / 2 + x * {phi})"},
        "GELUTanh": {
            "x": f"dout * (0.5 * (1 + tanh({u})) + 0.5 * x * (1 - tanh({u})**2)"
            " * sqrt(2 / pi) * (1 + 3 * 0.044715 * x**2))"
        },
        "ELU": {"x": "where(x > 0, dout, dout * alpha * exp(x))"},
        "PReLU": {
            "x": "where(x[n, c, ...] > 0, dout[n, c, ...], dout[n, c, ...] * alpha[c])",
            "alpha": "sum_n(sum_(...)(where(x[n, c, ...] > 0, 0, dout[n, c, ...] * x[n, c, ...])))",
        },
        "Dropout": {"x": "dout * mask"},
        "Affine": {
            "x": "sum_m(dout[n, m] * W[d, m])",
            "W": "sum_n(x[n, d] * dout[n, m])",
            "b": "sum_n(dout[n, m])",
        },
        "MatMul": {"x": "sum_m(dout[n, m] * W[d, m])", "W": "sum_n(x[n, d] * dout[n, m])"},
        "Softmax": {"x": "y[..., k] * (dout[..., k] - sum_j(dout[..., j] * y[..., j]))"},
        "LogSoftmax": {"x": "dout[..., k] - exp(y[..., k]) * sum_j(dout[..., j])"},
        "SoftmaxWithLoss": {"x": "dout * (y[n, k] - t[n, k]) / N"},
        "CrossEntropyLoss": {
            "x": "dout * (y[n, k] - (1 - label_smoothing) * t[n, k] - label_smoothing / K) / N"
        },
        "MeanSquaredError": {"y": "dout * (y[n, k] - t[n, k]) / N"},
        "SigmoidWithLoss": {"x": "dout * (sigmoid(x[n, k]) - t[n, k]) / N"},
        "HuberLoss": {
            "x": "dout * where(abs(x - t) < delta, x - t, where(x > t, delta, -delta)) / B"
        },
        "BatchNormalization": {
            "x": bn_dx,
            "gamma": "sum_n(dout[n, d] * xhat[n, d])",
            "beta": "sum_n(dout[n, d])",
        },
        "LayerNorm": {
            "x": ln_dx,
            "gamma": "sum_(...)(dout[..., d] * xhat[..., d])",
            "beta": "sum_(...)(dout[..., d])",
        },
        "RMSNorm": {"x": rms_dx, "gamma": "sum_(...)(dout[..., d] * xhat[..., d])"},
        # dx: dout correlated with the flipped kernel, dilated by the stride (a position off
        # the integers reads 0); dW: the input correlated with dout.
        "Convolution": {
            "x": f"sum_(fn, fh, fw)(W[fn, c, fh, fw] * dout[n, fn, {back}])",
            "W": "sum_(n, oh, ow)(x[n, c, stride*oh + fh - pad, stride*ow + fw - pad]"
            " * dout[n, fn, oh, ow])",
            "b": "sum_(n, oh, ow)(dout[n, fn, oh, ow])",
        },
        "Pooling": {"x": f"sum_(fh, fw)(dout[n, c, {back}] * argmax[n, {back}, c, fh, fw])"},
        "AvgPooling": {"x": f"sum_(fh, fw)(dout[n, c, {back}]) / (pool_h * pool_w)"},
        # dW[v] adds the rows of dout whose id is v (ids are integers: |id - v| < 1/2 is id = v)
        "Embedding": {"W": "sum_(...)(where(abs(idx[...] - v) < 1 / 2, dout[..., d], 0))"},
        # dV = Pᵀ·dout, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = dS·K/√E, dK = dSᵀ·Q/√E
        "Attention": {
            "q": f"sum_s({ds} * k[..., s, e]) / sqrt(E)",
            "k": f"sum_t({ds} * q[..., t, e]) / sqrt(E)",
            "v": "sum_t(p[..., t, s] * dout[..., t, f])",
        },
        "MultiHeadAttention": {
            "x": mh_dx,
            "Wq": f"sum_(n, t)(x[n, t, d] * {mh_dq('t', 's', head, col)})",
            "Wk": f"sum_(n, s)(x[n, s, d] * {mh_dk('s', 't', head, col)})",
            "Wv": f"sum_(n, s)(x[n, s, d] * {mh_dv('s', 't', head, col)})",
            "Wo": f"sum_(n, t)(o[n, {head}, t, {col}] * dout[n, t, m])",
        },
    }
