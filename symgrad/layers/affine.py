"""Affine (textbook ch. 5): Y = X·W + 1·bᵀ, the bias broadcast over the batch."""

from sympy import MatrixSymbol, OneMatrix

from symgrad.spec import D, M, N, matrix_layer

X, W, b = MatrixSymbol("X", N, D), MatrixSymbol("W", D, M), MatrixSymbol("b", M, 1)

SPEC = matrix_layer(
    "Affine",
    X * W + OneMatrix(N, 1) * b.T,
    inputs=(X,),
    params=(W, b),
    flatten=True,
    doc="Fully connected layer: Y = X·W + 1·bᵀ (forward flattens X of shape (N, ...) to (N, D)).",
)
