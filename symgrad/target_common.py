"""What the torch, JAX and array-API targets share: the NumPy module they are read from, its
classes' parts, and the names a function target gives its arguments.

Each of those targets starts from the NumPy module symgrad generates (and checks against a
numerical gradient) for the same layers; :func:`numpy_classes` returns that module's source
and each class read back as :class:`~symgrad.layer_code.LayerCode`.
"""

from __future__ import annotations

import ast
import re

from symgrad.engine import Derivation
from symgrad.layer_code import LayerCode, read_class

_WORDS = {"PReLU": "Prelu", "ReLU": "Relu", "SiLU": "Silu", "GELU": "Gelu", "ELU": "Elu"}


def numpy_classes(derivations: list[Derivation]) -> tuple[str, list[LayerCode]]:
    """The NumPy module for ``derivations`` (verified) and each class's parts."""
    from symgrad.codegen import generate

    source = generate(derivations)
    module = ast.parse(source)
    return source, [read_class(module, d) for d in derivations]


def snake_case(name: str) -> str:
    """The function name of a layer, as ``torch.nn.functional`` spells such names.

    >>> [snake_case(n) for n in ["SoftmaxWithLoss", "GELUTanh", "LeakyReLU", "RMSNorm", "SiLU"]]
    ['softmax_with_loss', 'gelu_tanh', 'leaky_relu', 'rms_norm', 'silu']
    """
    for word, plain in _WORDS.items():
        name = name.replace(word, plain)
    name = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return name.lower()


def function_args(code: LayerCode, extra: tuple[str, ...] = ()) -> list[str]:
    """A function target's arguments in order: the inputs, ``extra`` (JAX's key), the
    parameters, the state, then the options (never differentiated)."""
    return [
        *(a.name for a in code.inputs),
        *extra,
        *code.params,
        *code.state,
        *(a.name for a in code.options),
    ]


def draws(code: LayerCode) -> bool:
    """Does the forward draw random numbers (Dropout)?"""
    return "np.random" in "\n".join(ast.unparse(s) for s in code.forward)
