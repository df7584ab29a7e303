"""Layers written in every parameter convention gradcheck must understand, and the bugs people
put into their parameter gradients.

Each :class:`Case` builds a correct layer in one convention (the book's attributes, its
BatchNormalization, its TwoLayerNet's dicts, its sequel's lists written in place, sub-layers, a
Python-float parameter, an explicit ``params=``), and says how to read and overwrite each
parameter's gradient after the method that computes it. :func:`mutated` wraps that method on one
instance so that one parameter's gradient comes out wrong in one way.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad import textbook

# --- layers in each convention ----------------------------------------------------------------


class Linear:
    """dW and db exist only once backward has run (no attribute in __init__)."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class PReLU:
    """One learnable slope, a Python float, with its gradient a Python float."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dalpha = float(np.sum(dout * np.where(self.x > 0, 0.0, self.x)))
        return dout * np.where(self.x > 0, 1.0, self.alpha)


class BookTwoLayerNet:
    """The book's ch. 5 TwoLayerNet: params dict shared with its Affine layers, gradient()."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.params = params
        self.layers = OrderedDict()
        self.layers["Affine1"] = textbook.Affine(params["W1"], params["b1"])
        self.layers["Relu1"] = textbook.Relu()
        self.layers["Affine2"] = textbook.Affine(params["W2"], params["b2"])
        self.lastLayer = textbook.SoftmaxWithLoss()

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.lastLayer.forward(self.predict(x), t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {
            "W1": self.layers["Affine1"].dW,
            "b1": self.layers["Affine1"].db,
            "W2": self.layers["Affine2"].dW,
            "b2": self.layers["Affine2"].db,
        }


class SequelAffine:
    """The sequel's convention: params and grads lists, gradients written into the buffers."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        W, b = self.params
        self.x = x
        return x @ W + b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W, _ = self.params
        self.grads[0][...] = self.x.T @ dout
        self.grads[1][...] = dout.sum(axis=0)
        return dout @ W.T


class Stack:
    """Sub-layers in a list: parameters at ``layers[0].W``."""

    def __init__(self, layers: list[Any]) -> None:
        self.layers = layers

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


class Kernel:
    """Names no convention knows: checked through params={"kernel": "grad_kernel"}."""

    def __init__(self, kernel: np.ndarray) -> None:
        self.kernel = kernel

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.tanh(x * self.kernel)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        local = dout * (1 - np.tanh(self.x * self.kernel) ** 2)
        self.grad_kernel = (local * self.x).sum(axis=0)
        return local * self.kernel


# --- how to read and overwrite each gradient ---------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Read and overwrite one parameter's gradient, given the layer and the method's result."""

    get: Callable[[Any, Any], Any]
    set: Callable[[Any, Any, Any], None]


def attribute(name: str) -> Access:
    def put(layer: Any, result: Any, value: Any) -> None:
        old = getattr(layer, name)
        setattr(layer, name, float(value) if isinstance(old, float) else value)

    return Access(lambda layer, result: getattr(layer, name), put)


def buffer(index: int) -> Access:
    def put(layer: Any, result: Any, value: Any) -> None:
        layer.grads[index][...] = value

    return Access(lambda layer, result: layer.grads[index], put)


def sub_attribute(i: int, name: str) -> Access:
    def put(layer: Any, result: Any, value: Any) -> None:
        setattr(layer.layers[i], name, value)

    return Access(lambda layer, result: getattr(layer.layers[i], name), put)


def entry(key: str) -> Access:
    def put(layer: Any, result: Any, value: Any) -> None:
        result[key] = value

    return Access(lambda layer, result: result[key], put)


@dataclass(frozen=True)
class Case:
    """One convention: a correct layer, its inputs, and each parameter's gradient access."""

    name: str
    make: Callable[[np.random.Generator, type], Any]
    inputs: Callable[[np.random.Generator, type], tuple]
    grads: dict[str, Access]
    method: str = "backward"
    options: dict[str, Any] = field(default_factory=dict)


def _normal(rng: np.random.Generator, dtype: type, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _x(rng: np.random.Generator, dtype: type) -> tuple:
    return (_normal(rng, dtype, 4, 4),)


def _labels(rng: np.random.Generator, dtype: type) -> tuple:
    return _normal(rng, dtype, 4, 4), np.eye(3, dtype=dtype)[rng.integers(0, 3, 4)]


def _two_layer(rng: np.random.Generator, dtype: type) -> BookTwoLayerNet:
    shapes = {"W1": (4, 5), "b1": (5,), "W2": (5, 3), "b2": (3,)}
    return BookTwoLayerNet({k: _normal(rng, dtype, *s) for k, s in shapes.items()})


def _slope(rng: np.random.Generator, dtype: type) -> PReLU:
    return PReLU(float(rng.uniform(0.1, 0.5)))


CASES = [
    Case(
        "attributes set in backward",
        lambda rng, dt: Linear(_normal(rng, dt, 4, 4), _normal(rng, dt, 4)),
        _x,
        {"W": attribute("dW"), "b": attribute("db")},
    ),
    Case(
        "the book's Affine",
        lambda rng, dt: textbook.Affine(_normal(rng, dt, 4, 4), _normal(rng, dt, 4)),
        _x,
        {"W": attribute("dW"), "b": attribute("db")},
    ),
    Case(
        "the book's BatchNormalization",
        lambda rng, dt: textbook.BatchNormalization(_normal(rng, dt, 4) + 1.5, _normal(rng, dt, 4)),
        _x,
        {"gamma": attribute("dgamma"), "beta": attribute("dbeta")},
    ),
    Case("a Python-float slope", _slope, _x, {"alpha": attribute("dalpha")}),
    Case(
        "the book's TwoLayerNet (params, gradient())",
        _two_layer,
        _labels,
        {k: entry(k) for k in ("W1", "b1", "W2", "b2")},
        method="gradient",
    ),
    Case(
        "the sequel's params/grads lists",
        lambda rng, dt: SequelAffine(_normal(rng, dt, 4, 4), _normal(rng, dt, 4)),
        _x,
        {"params[0]": buffer(0), "params[1]": buffer(1)},
    ),
    Case(
        "sub-layers in a list",
        lambda rng, dt: Stack(
            [
                textbook.Affine(_normal(rng, dt, 4, 4), _normal(rng, dt, 4)),
                textbook.Tanh(),
                textbook.Affine(_normal(rng, dt, 4, 4), _normal(rng, dt, 4)),
            ]
        ),
        _x,
        {
            "layers[0].W": sub_attribute(0, "dW"),
            "layers[0].b": sub_attribute(0, "db"),
            "layers[2].W": sub_attribute(2, "dW"),
            "layers[2].b": sub_attribute(2, "db"),
        },
    ),
    Case(
        "explicit params=",
        lambda rng, dt: Kernel(_normal(rng, dt, 4)),
        _x,
        {"kernel": attribute("grad_kernel")},
        options={"params": {"kernel": "grad_kernel"}},
    ),
]


# --- bugs -------------------------------------------------------------------------------------


Bug = Callable[[Any, dict, int], Any]
"""``(gradient, state, batch size) -> wrong gradient``; ``state`` persists across calls."""


def _scaled(factor: float) -> Bug:
    return lambda g, state, n: g * factor


def _divided_by_batch(g: Any, state: dict, n: int) -> Any:
    return g / n


def _float16(g: Any, state: dict, n: int) -> Any:
    return type(g)(np.float16(g)) if isinstance(g, float) else g.astype(np.float16).astype(g.dtype)


def _rolled(g: Any, state: dict, n: int) -> Any:
    """A wrong index mapping (the wrong axis, a shifted sum)."""
    return np.roll(g, 1) if np.ndim(g) else g


def _transposed(g: Any, state: dict, n: int) -> Any:
    return g.T.copy() if np.ndim(g) == 2 else g


def _accumulated(g: Any, state: dict, n: int) -> Any:
    state["total"] = state.get("total", 0 * g) + g
    return copy.copy(state["total"])


def _stale(g: Any, state: dict, n: int) -> Any:
    state.setdefault("first", copy.copy(g))
    return copy.copy(state["first"])


def _zero(g: Any, state: dict, n: int) -> Any:
    return 0 * g


BUGS: dict[str, Bug] = {
    "0.1% off": _scaled(1.001),
    "10% off": _scaled(1.1),
    "sign flipped": _scaled(-1.0),
    "divided by the batch size": _divided_by_batch,
    "rounded to float16": _float16,
    "wrong index or axis": _rolled,
    "transposed": _transposed,
    "accumulated with +=": _accumulated,
    "stale (from the first call)": _stale,
    "zero": _zero,
}


def applies(bug: str, value: Any) -> bool:
    """A bug applies when it changes the gradient of a correct layer at all."""
    if bug == "transposed":
        return np.ndim(value) == 2 and value.shape[0] == value.shape[1]
    if bug == "wrong index or axis":
        return np.ndim(value) >= 1 and np.size(value) > 1
    return True


def mutated(case: Case, layer: Any, param: str, bug: str, batch: int) -> Any:
    """``layer`` with ``case.method`` wrapped so that ``param``'s gradient is wrong."""
    original = getattr(layer, case.method)
    access = case.grads[param]
    state: dict = {}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        wrong = BUGS[bug](copy.copy(access.get(layer, result)), state, batch)
        access.set(layer, result, wrong)
        return result

    setattr(layer, case.method, wrapped)
    return layer
