"""Convolution (textbook ch. 7): filters slid over the input, read through an index map."""

from symgrad.spec import layer

SPEC = layer(
    "Convolution",
    """
    x[n, c, h, w]
    col[n, oh, ow, c, fh, fw] = x[n, c, stride*oh + fh - pad, stride*ow + fw - pad]
    y[n, fn, oh, ow] = sum_(c, fh, fw)(col[n, oh, ow, c, fh, fw] * W[fn, c, fh, fw]) + b[fn]
    """,
    params=("W", "b"),
    constants={"stride": 1, "pad": 0},
    sizes={"oh": "1 + (H + 2*pad - FH) // stride", "ow": "1 + (W + 2*pad - FW) // stride"},
    doc=(
        "2-D convolution (cross-correlation, as the book's): W of shape (FN, C, FH, FW), x of "
        "shape (N, C, H, W) zero-padded by pad, the filters moved by stride; im2col and a "
        "matrix product."
    ),
)
