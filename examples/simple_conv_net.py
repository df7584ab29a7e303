"""The textbook's SimpleConvNet, built from layers whose backward formulas symgrad derived.

"Deep Learning from Scratch" (ch. 7) assembles ``SimpleConvNet`` as Convolution → Relu →
Pooling → Affine → Relu → Affine → SoftmaxWithLoss, checks backpropagation against central
differences, then trains it on MNIST. This example does the same on scikit-learn's 8x8
handwritten digits (input (N, 1, 8, 8), pixels in [0, 1]) with the classes in
``examples/conv_layers.py``, which symgrad generates::

    symgrad codegen Convolution Relu Pooling Affine SoftmaxWithLoss -o examples/conv_layers.py

No layer is written by hand here: the network only wires the generated classes together.
The sizes are the book's: 30 filters of 5x5 (stride 1, no padding), so 30 maps of 4x4, max
pooling 2x2 with stride 2 down to 30x2x2 = 120 values, a hidden Affine layer of 100 and an output
Affine layer of 10. The weights are initialised like the book's, Gaussian with
``weight_init_std=0.01`` (not He), and zero biases. Adam, the optimizer of the book's
``train_convnet.py``, trains them in batches of 100 for 20 epochs, with a learning rate of 0.01
rather than the book's 0.001 (which, on these 1347 training images instead of MNIST's 60000,
reaches only about 90% in 20 epochs), to over 95% test accuracy in a few seconds on a CPU::

    pip install -e ".[examples]"
    python examples/simple_conv_net.py gradcheck   # exit 1 if a mean difference is >= 1e-7
    python examples/simple_conv_net.py train       # exit 1 if test accuracy is < 0.95
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

LAYERS_PATH = Path(__file__).resolve().parent / "conv_layers.py"
LAYER_NAMES = ("Convolution", "Relu", "Pooling", "Affine", "SoftmaxWithLoss")
CODEGEN_HINT = (
    "symgrad codegen Convolution Relu Pooling Affine SoftmaxWithLoss -o examples/conv_layers.py"
)
INSTALL_HINT = 'this example needs scikit-learn: pip install -e ".[examples]"'
GRADCHECK_TOLERANCE = 1e-7
TARGET_ACCURACY = 0.95
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")

INPUT_DIM = (1, 8, 8)  # channels, height, width of the digits
FILTER_NUM = 30
FILTER_SIZE = 5
FILTER_STRIDE = 1
FILTER_PAD = 0
POOL_SIZE = 2  # pool_h = pool_w = stride
HIDDEN_SIZE = 100
OUTPUT_SIZE = 10
WEIGHT_INIT_STD = 0.01

# The gradient check's smaller net ("fast mode"): same input and filter size, fewer units.
GRADCHECK_SAMPLES = 2
GRADCHECK_FILTER_NUM = 3
GRADCHECK_HIDDEN_SIZE = 10


class SetupError(RuntimeError):
    """Something the example needs is missing; the message says how to get it."""


class Layer(Protocol):
    def forward(self, x: Array) -> Array: ...

    def backward(self, dout: Array) -> Array: ...


class LossLayer(Protocol):
    y: Array

    def forward(self, x: Array, t: Array) -> float: ...

    def backward(self, dout: float = 1.0) -> Array: ...


# --------------------------------------------------------------------------- the generated layers


def load_layers(path: Path = LAYERS_PATH) -> ModuleType:
    """Import the generated module from its file, whatever the current directory is."""
    module_name = "symgrad_example_conv_layers"
    if module_name in sys.modules:
        return sys.modules[module_name]
    if not path.is_file():
        raise SetupError(f"{path} not found; generate it with: {CODEGEN_HINT}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    missing = [name for name in LAYER_NAMES if not hasattr(module, name)]
    if missing:
        del sys.modules[module_name]
        raise SetupError(f"{path} has no {', '.join(missing)}; regenerate it with: {CODEGEN_HINT}")
    return module


# --------------------------------------------------------------------------------------- the net


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    return (input_size + 2 * pad - filter_size) // stride + 1


class SimpleConvNet:
    """conv - relu - pool - affine - relu - affine - softmax, as in the book's
    ``simple_convnet.py``.

    ``params`` holds W1, b1 (the filters (FN, C, FH, FW) and their biases (FN,)), W2, b2 (the
    hidden Affine layer) and W3, b3 (the output Affine layer); they are the very arrays the layers
    use, so updating a parameter in place updates the network. ``weight_init_std`` is the standard
    deviation of every weight, or ``"he"`` for sqrt(2 / fan-in) per layer.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = INPUT_DIM,
        filter_num: int = FILTER_NUM,
        filter_size: int = FILTER_SIZE,
        stride: int = FILTER_STRIDE,
        pad: int = FILTER_PAD,
        hidden_size: int = HIDDEN_SIZE,
        output_size: int = OUTPUT_SIZE,
        weight_init_std: float | str = WEIGHT_INIT_STD,
        seed: int = 0,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self.config = dict(
            input_dim=input_dim,
            filter_num=filter_num,
            filter_size=filter_size,
            stride=stride,
            pad=pad,
            hidden_size=hidden_size,
            output_size=output_size,
            weight_init_std=weight_init_std,
        )
        self.dtype = np.dtype(dtype)
        channels, height, width = input_dim
        conv_h = conv_output_size(height, filter_size, stride, pad)
        conv_w = conv_output_size(width, filter_size, stride, pad)
        pool_output_size = filter_num * (conv_h // POOL_SIZE) * (conv_w // POOL_SIZE)
        layers = load_layers()
        rng = np.random.default_rng(seed)

        def weights(*shape: int) -> Array:
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            std = np.sqrt(2 / fan_in) if weight_init_std == "he" else float(weight_init_std)
            return (std * rng.standard_normal(shape)).astype(self.dtype)

        self.layers: dict[str, Layer] = {
            "Conv1": layers.Convolution(
                weights(filter_num, channels, filter_size, filter_size),
                np.zeros(filter_num, self.dtype),
                stride=stride,
                pad=pad,
            ),
            "Relu1": layers.Relu(),
            "Pool1": layers.Pooling(POOL_SIZE, POOL_SIZE, stride=POOL_SIZE),
            "Affine1": layers.Affine(
                weights(pool_output_size, hidden_size), np.zeros(hidden_size, self.dtype)
            ),
            "Relu2": layers.Relu(),
            "Affine2": layers.Affine(
                weights(hidden_size, output_size), np.zeros(output_size, self.dtype)
            ),
        }
        self.last_layer: LossLayer = layers.SoftmaxWithLoss()
        # Taken back from the layers, so the sharing holds even if a layer copied its arguments.
        self.params: dict[str, Array] = {}
        for i, name in enumerate(("Conv1", "Affine1", "Affine2"), start=1):
            layer = self.layers[name]
            self.params[f"W{i}"] = layer.W  # type: ignore[attr-defined]
            self.params[f"b{i}"] = layer.b  # type: ignore[attr-defined]

    def predict(self, x: Array) -> Array:
        """Scores before softmax, shape (N, output_size), for images x of shape (N, C, H, W)."""
        x = np.asarray(x, dtype=self.dtype)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: Array, t: Array) -> float:
        """Mean cross-entropy; ``t`` is one-hot rows (N, K) or integer labels (N,)."""
        return float(self.last_layer.forward(self.predict(x), t))

    def accuracy(self, x: Array, t: Array, batch_size: int = 500) -> float:
        labels = t if np.ndim(t) == 1 else np.argmax(t, axis=1)
        correct = 0
        for start in range(0, len(x), batch_size):
            y = np.argmax(self.predict(x[start : start + batch_size]), axis=1)
            correct += int(np.sum(y == labels[start : start + batch_size]))
        return correct / len(x)

    def gradient(self, x: Array, t: Array) -> dict[str, Array]:
        """Gradients of ``loss(x, t)`` by backpropagation through the generated layers."""
        self.loss(x, t)
        return self.backward()

    def backward(self) -> dict[str, Array]:
        """Backpropagate the loss computed by the last ``loss`` call."""
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        grads: dict[str, Array] = {}
        for i, name in enumerate(("Conv1", "Affine1", "Affine2"), start=1):
            layer = self.layers[name]
            grads[f"W{i}"] = layer.dW  # type: ignore[attr-defined]
            grads[f"b{i}"] = layer.db  # type: ignore[attr-defined]
        return grads

    def numerical_gradient(self, x: Array, t: Array, h: float = 1e-4) -> dict[str, Array]:
        """Central differences over every parameter element, always in float64."""
        net = self if self.dtype == np.float64 else self.as_float64()
        x = np.asarray(x, dtype=np.float64)
        return {
            name: _central_differences(lambda: net.loss(x, t), net.params[name], h)
            for name in PARAM_NAMES
        }

    def as_float64(self) -> SimpleConvNet:
        """A float64 copy with the same parameter values."""
        twin = SimpleConvNet(**self.config, dtype=np.float64)  # type: ignore[arg-type]
        for name in PARAM_NAMES:
            twin.params[name][...] = self.params[name]
        return twin


def _central_differences(f: Any, param: Array, h: float) -> Array:
    """(f(p + h) - f(p - h)) / 2h for each element of ``param``, perturbed in place."""
    grad = np.zeros(param.shape, dtype=np.float64)
    for idx in np.ndindex(param.shape):
        saved = param[idx]
        param[idx] = saved + h
        f_plus = f()
        param[idx] = saved - h
        f_minus = f()
        param[idx] = saved
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


# ------------------------------------------------------------------------------ gradient check


def _clear_of_kinks(net: SimpleConvNet, x: Array, h: float) -> bool:
    """Whether nudging any one parameter by ±h keeps every Relu and every pooling maximum on
    the side it is on, so that central differences see a smooth loss.

    A filter weight or bias moves a convolution output by at most h * max(1, |x|), and so each
    pooled value by as much; a hidden weight or bias moves a hidden pre-activation by at most
    h * max(1, |pooled|), and a filter change by at most h times the largest column sum of |W2|.
    A margin of 10 times those bounds is asked for.
    """
    conv, pool, affine1 = net.layers["Conv1"], net.layers["Pool1"], net.layers["Affine1"]
    a = conv.forward(x)
    conv_margin = 10 * h * max(1.0, float(np.max(np.abs(x))))
    if np.min(np.abs(a)) < conv_margin:
        return False
    relu = np.maximum(a, 0)
    n, c, height, width = relu.shape
    windows = relu.reshape(n, c, height // POOL_SIZE, POOL_SIZE, width // POOL_SIZE, POOL_SIZE)
    windows = windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, -1, POOL_SIZE * POOL_SIZE)
    top_two = np.sort(windows, axis=-1)[..., -2:]
    gaps = (top_two[..., 1] - top_two[..., 0])[top_two[..., 1] > 0]
    if gaps.size and np.min(gaps) < 2 * conv_margin:
        return False
    pooled = pool.forward(relu)
    w2 = net.params["W2"]
    reach = max(1.0, float(np.max(np.abs(pooled))), float(np.max(np.abs(w2).sum(axis=0))))
    return bool(np.min(np.abs(affine1.forward(pooled))) >= 10 * h * reach)


def gradient_check(seed: int = 0, h: float = 1e-4) -> dict[str, tuple[float, float, float]]:
    """(mean, max) |backprop - numerical| and mean |backprop| per parameter, on 2 random images.

    The net is the small one of "fast mode" (3 filters of 5x5, 10 hidden units), initialised
    with He's sqrt(2 / fan-in) rather than the book's 0.01. Relu and max pooling have kinks; a
    central difference that straddles one can be wrong by up to half the jump in slope, whatever
    h is, so images are redrawn until every kink is out of reach of ±h. With 0.01 the hidden
    pre-activations are about 1e-3, within reach of h = 1e-4 (no image is clear of the kinks),
    and the book's check then differs by about 1e-4 in b2.
    """
    rng = np.random.default_rng(seed)
    net = SimpleConvNet(
        filter_num=GRADCHECK_FILTER_NUM,
        hidden_size=GRADCHECK_HIDDEN_SIZE,
        weight_init_std="he",
        seed=seed,
    )
    shape = (GRADCHECK_SAMPLES, *INPUT_DIM)
    x = rng.random(shape)
    for _ in range(1000):
        if _clear_of_kinks(net, x, h):
            break
        x = rng.random(shape)
    else:
        raise RuntimeError("no images clear of the kinks in 1000 draws")
    t = np.eye(OUTPUT_SIZE)[rng.integers(0, OUTPUT_SIZE, size=GRADCHECK_SAMPLES)]  # one-hot
    numerical = net.numerical_gradient(x, t, h)
    backprop = net.gradient(x, t)
    diffs = {}
    for name in PARAM_NAMES:
        diff = np.abs(backprop[name] - numerical[name])
        diffs[name] = (
            float(np.mean(diff)),
            float(np.max(diff)),
            float(np.mean(np.abs(backprop[name]))),
        )
    return diffs


# ------------------------------------------------------------------------------------- training


def load_digits_split() -> tuple[Array, Array, Array, Array]:
    """scikit-learn's 8x8 digits (bundled, no download) as images (N, 1, 8, 8), pixels in
    [0, 1], split 75/25."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise SetupError(INSTALL_HINT) from exc
    digits = load_digits()
    x = (digits.images / 16.0).reshape(-1, *INPUT_DIM)
    x_train, x_test, t_train, t_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    return x_train, x_test, t_train, t_test


class Adam:
    """Adam (Kingma & Ba), updating parameters in place so the layers see the new values."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.step = 0
        self.m: dict[str, Array] = {}
        self.v: dict[str, Array] = {}

    def update(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        self.step += 1
        lr = self.lr * np.sqrt(1 - self.beta2**self.step) / (1 - self.beta1**self.step)
        for name, grad in grads.items():
            m = self.m.setdefault(name, np.zeros_like(params[name]))
            v = self.v.setdefault(name, np.zeros_like(params[name]))
            m += (1 - self.beta1) * (grad - m)
            v += (1 - self.beta2) * (grad**2 - v)
            params[name] -= lr * m / (np.sqrt(v) + 1e-7)


def progress_bar(epoch: int, epochs: int, loss: float, train_acc: float, test_acc: float) -> None:
    """Redraw one status line on stderr; a newline after the last epoch."""
    width = 30
    done = round(width * epoch / epochs)
    bar = "#" * done + "-" * (width - done)
    line = (
        f"[{bar}] epoch {epoch}/{epochs} loss {loss:.4f} train {train_acc:.4f} test {test_acc:.4f}"
    )
    sys.stderr.write("\r" + line + ("\n" if epoch == epochs else ""))
    sys.stderr.flush()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while in the block, where threadpoolctl (which scikit-learn
    needs) is installed.

    The products here are small (at most 100x120 by 120x100): splitting them across threads
    saves nothing, and where another process keeps a core busy, OpenBLAS's waiting threads made
    training about ten times slower (13 s instead of 1 s on two cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def train(
    epochs: int = 20,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 100,
    lr: float = 0.01,
) -> float:
    """Train on the digits with mini-batch Adam; returns the test accuracy."""
    x_train, x_test, t_train, t_test = load_digits_split()
    net = SimpleConvNet(seed=seed)
    optimizer = Adam(lr=lr)
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            losses.append(net.loss(x_train[batch], t_train[batch]))
            optimizer.update(net.params, net.backward())
        if progress:
            progress_bar(
                epoch,
                epochs,
                float(np.mean(losses)),
                net.accuracy(x_train, t_train),
                net.accuracy(x_test, t_test),
            )
    return net.accuracy(x_test, t_test)


# ------------------------------------------------------------------------------------------- CLI


def run_gradcheck(seed: int) -> int:
    diffs = gradient_check(seed)
    for name, (mean, worst, scale) in diffs.items():
        print(f"{name}: mean {mean:.3e} max {worst:.3e} (mean |grad| {scale:.3e})")
    if max(mean for mean, _, _ in diffs.values()) >= GRADCHECK_TOLERANCE:
        print(f"FAIL: a mean difference is >= {GRADCHECK_TOLERANCE:g}", file=sys.stderr)
        return 1
    return 0


def run_train(epochs: int, seed: int, progress: bool) -> int:
    start = time.perf_counter()
    with one_blas_thread():
        accuracy = train(epochs=epochs, seed=seed, progress=progress)
    print(f"test accuracy {accuracy:.4f} ({epochs} epochs, {time.perf_counter() - start:.1f} s)")
    if accuracy < TARGET_ACCURACY:
        print(f"FAIL: test accuracy is below {TARGET_ACCURACY}", file=sys.stderr)
        return 1
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("gradcheck", help="backprop vs central differences")
    check.add_argument("--seed", type=int, default=0)
    fit = commands.add_parser("train", help="train on scikit-learn's 8x8 digits")
    fit.add_argument("--epochs", type=positive_int, default=20)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "gradcheck":
            return run_gradcheck(args.seed)
        return run_train(args.epochs, args.seed, not args.no_progress)
    except SetupError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
