"""MatMul: Y = X·W."""

from sympy import MatrixSymbol

from symgrad.spec import D, M, N, matrix_layer

X, W = MatrixSymbol("X", N, D), MatrixSymbol("W", D, M)

SPEC = matrix_layer("MatMul", X * W, inputs=(X,), params=(W,), doc="Matrix product: Y = X·W.")
