"""Pooling (textbook ch. 7): the maximum of each window; its gradient goes to the first one."""

from symgrad.spec import layer

SPEC = layer(
    "Pooling",
    """
    x[n, c, h, w]
    col[n, oh, ow, c, fh, fw] = x[n, c, stride*oh + fh - pad, stride*ow + fw - pad]
    y[n, c, oh, ow] = max_(fh, fw)(col[n, oh, ow, c, fh, fw])
    """,
    constants={"pool_h": None, "pool_w": None, "stride": 1, "pad": 0},
    sizes={
        "fh": "pool_h",
        "fw": "pool_w",
        "oh": "1 + (H + 2*pad - FH) // stride",
        "ow": "1 + (W + 2*pad - FW) // stride",
    },
    ties="first",
    doc=(
        "Max pooling over pool_h × pool_w windows moved by stride, the input zero-padded by pad "
        "(as the book's im2col); a tie's gradient goes to the window's first maximum."
    ),
)
