"""GELU with the tanh approximation (GPT-2's, PyTorch's approximate='tanh')."""

from symgrad.spec import elementwise

SPEC = elementwise(
    "GELUTanh",
    "0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))",
    "x",
    doc="GELU, tanh approximation: y = x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2.",
)
