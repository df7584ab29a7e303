"""AvgPooling: the mean of each window (padded cells count, as PyTorch's default)."""

from symgrad.spec import layer

SPEC = layer(
    "AvgPooling",
    """
    x[n, c, h, w]
    col[n, oh, ow, c, fh, fw] = x[n, c, stride*oh + fh - pad, stride*ow + fw - pad]
    y[n, c, oh, ow] = mean_(fh, fw)(col[n, oh, ow, c, fh, fw])
    """,
    constants={"pool_h": None, "pool_w": None, "stride": 1, "pad": 0},
    sizes={
        "fh": "pool_h",
        "fw": "pool_w",
        "oh": "1 + (H + 2*pad - FH) // stride",
        "ow": "1 + (W + 2*pad - FW) // stride",
    },
    doc=(
        "Average pooling over pool_h × pool_w windows moved by stride, the input zero-padded "
        "by pad; padded cells count in the mean (PyTorch's count_include_pad=True)."
    ),
)
