"""The module-level helpers of the torch, JAX and array-API targets, one source per dialect.

The NumPy target's helpers (:data:`symgrad.gathers.HELPERS`: im2col and its reverse, the first
maximum of a window, a scatter-add) write into arrays in place; here each is written for its
library (``torch.Tensor.index_put_``, ``jax.Array.at``, the standard's setitem). Each has the
same name, arguments and meaning as the NumPy helper, and the tests compare them with it.
"""

from __future__ import annotations

_WINDOWS = '''
def _im2col(x, fh: int, fw: int, stride: int, pad: int):
    """The windows of x (N, C, H, W), zero-padded by pad and moved by stride, as an array
    (N, OH, OW, C, FH, FW): the book's im2col before it flattens them."""
    n, c, h, w = x.shape
    oh, ow = 1 + (h + 2 * pad - fh) // stride, 1 + (w + 2 * pad - fw) // stride
'''

TORCH = {
    "_im2col": _WINDOWS
    + """    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad)) if pad else x
    col = torch.empty((n, c, fh, fw, oh, ow), dtype=x.dtype, device=x.device)
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return col.permute(0, 4, 5, 1, 2, 3).contiguous()
""",
    "_col2im": '''
def _col2im(dcol, shape, fh: int, fw: int, stride: int, pad: int):
    """The reverse of _im2col: each window cell of dcol (N, OH, OW, C, FH, FW) added into the
    input cell it was read from; what falls in the padding is dropped."""
    n, c, h, w = shape
    oh, ow = 1 + (h + 2 * pad - fh) // stride, 1 + (w + 2 * pad - fw) // stride
    dcol = torch.broadcast_to(dcol, (n, oh, ow, c, fh, fw)).permute(0, 3, 4, 5, 1, 2)
    dx = torch.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcol.dtype, device=dcol.device)
    for i in range(fh):
        for j in range(fw):
            dx[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += dcol[:, :, i, j]
    return dx[:, :, pad : pad + h, pad : pad + w]
''',
    "_first_max": '''
def _first_max(a, k: int):
    """1 at the first maximum over the last k axes of a (row-major), 0 elsewhere."""
    flat = a.reshape(*a.shape[:-k], -1)
    mask = torch.zeros_like(flat)
    mask.scatter_(-1, flat.argmax(dim=-1, keepdim=True), 1)
    return mask.reshape(a.shape)
''',
    "_window_max": '''
def _window_max(a, k: int):
    """The maximum over the last k axes of a (kept, of size 1)."""
    flat = a.reshape(*a.shape[:-k], -1)
    return flat.amax(dim=-1).reshape(*a.shape[:-k], *(1,) * k)
''',
    "_scatter_add": '''
def _scatter_add(shape, idx, values):
    """Zeros of shape with each row of values added at its index (repeats accumulate)."""
    out = torch.zeros(shape, dtype=values.dtype, device=values.device)
    return out.index_put_((idx,), values, accumulate=True)
''',
}

JAX = {
    "_im2col": _WINDOWS.replace("n, c, h, w = x.shape", "h, w = x.shape[2:]")
    + """    xp = jnp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cells = [
        [xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] for j in range(fw)]
        for i in range(fh)
    ]
    rows = [jnp.stack(row, axis=2) for row in cells]
    return jnp.stack(rows, axis=2).transpose(0, 4, 5, 1, 2, 3)
""",
    "_col2im": '''
def _col2im(dcol, shape, fh: int, fw: int, stride: int, pad: int):
    """The reverse of _im2col: each window cell of dcol (N, OH, OW, C, FH, FW) added into the
    input cell it was read from; what falls in the padding is dropped."""
    n, c, h, w = shape
    oh, ow = 1 + (h + 2 * pad - fh) // stride, 1 + (w + 2 * pad - fw) // stride
    dcol = jnp.broadcast_to(dcol, (n, oh, ow, c, fh, fw)).transpose(0, 3, 4, 5, 1, 2)
    dx = jnp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcol.dtype)
    for i in range(fh):
        for j in range(fw):
            window = (slice(None), slice(None), slice(i, i + stride * oh, stride))
            dx = dx.at[(*window, slice(j, j + stride * ow, stride))].add(dcol[:, :, i, j])
    return dx[:, :, pad : pad + h, pad : pad + w]
''',
    "_first_max": '''
def _first_max(a, k: int):
    """1 at the first maximum over the last k axes of a (row-major), 0 elsewhere."""
    flat = a.reshape(*a.shape[:-k], -1)
    mask = jax.nn.one_hot(flat.argmax(axis=-1), flat.shape[-1], dtype=a.dtype)
    return mask.reshape(a.shape)
''',
    "_window_max": '''
def _window_max(a, k: int):
    """The maximum over the last k axes of a (kept, of size 1)."""
    flat = a.reshape(*a.shape[:-k], -1)
    return flat.max(axis=-1).reshape(*a.shape[:-k], *(1,) * k)
''',
    "_scatter_add": '''
def _scatter_add(shape, idx, values):
    """Zeros of shape with each row of values added at its index (repeats accumulate)."""
    return jnp.zeros(shape, dtype=values.dtype).at[idx].add(values)
''',
}

ARRAY_API = {
    "_im2col": _WINDOWS
    + """    xp = array_namespace(x)
    padded = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype, device=x.device)
    padded[:, :, pad : pad + h, pad : pad + w] = x
    col = xp.empty((n, c, fh, fw, oh, ow), dtype=x.dtype, device=x.device)
    for i in range(fh):
        for j in range(fw):
            rows = slice(i, i + stride * oh, stride)
            col[:, :, i, j, :, :] = padded[:, :, rows, j : j + stride * ow : stride]
    return xp.permute_dims(col, (0, 4, 5, 1, 2, 3))
""",
    "_col2im": '''
def _col2im(dcol, shape, fh: int, fw: int, stride: int, pad: int):
    """The reverse of _im2col: each window cell of dcol (N, OH, OW, C, FH, FW) added into the
    input cell it was read from; what falls in the padding is dropped."""
    xp = array_namespace(dcol)
    n, c, h, w = shape
    oh, ow = 1 + (h + 2 * pad - fh) // stride, 1 + (w + 2 * pad - fw) // stride
    dcol = xp.permute_dims(xp.broadcast_to(dcol, (n, oh, ow, c, fh, fw)), (0, 3, 4, 5, 1, 2))
    dx = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcol.dtype, device=dcol.device)
    for i in range(fh):
        for j in range(fw):
            rows, cols = slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride)
            dx[:, :, rows, cols] = dx[:, :, rows, cols] + dcol[:, :, i, j, :, :]
    return dx[:, :, pad : pad + h, pad : pad + w]
''',
    "_first_max": '''
def _first_max(a, k: int):
    """1 at the first maximum over the last k axes of a (row-major), 0 elsewhere."""
    xp = array_namespace(a)
    flat = xp.reshape(a, (*a.shape[:-k], -1))
    first = xp.argmax(flat, axis=-1, keepdims=True)
    cells = xp.arange(flat.shape[-1], device=a.device)
    return xp.reshape(xp.astype(cells == first, a.dtype), a.shape)
''',
    "_window_max": '''
def _window_max(a, k: int):
    """The maximum over the last k axes of a (kept, of size 1)."""
    xp = array_namespace(a)
    flat = xp.reshape(a, (*a.shape[:-k], -1))
    return xp.reshape(xp.max(flat, axis=-1), (*a.shape[:-k], *(1,) * k))
''',
    "_scatter_add": '''
def _scatter_add(shape, idx, values):
    """Zeros of shape with each row of values added at its index (repeats accumulate): the
    standard has no scatter, so a one-hot matrix of the ids times the rows."""
    xp = array_namespace(values)
    ids = xp.reshape(idx, (-1, 1))
    one_hot = xp.astype(ids == xp.arange(shape[0], device=values.device), values.dtype)
    rows = xp.reshape(values, (-1, shape[-1]))
    return xp.matrix_transpose(one_hot) @ rows
''',
    "_uniform": '''
def _uniform(xp, shape, device):
    """Uniform random numbers in [0, 1): the standard has none, so NumPy's global generator (as
    the book's np.random.rand), moved to the array's library and device."""
    import numpy

    return xp.asarray(numpy.random.rand(*shape), device=device)
''',
}

HELPERS = {"torch": TORCH, "jax": JAX, "array-api": ARRAY_API}


def used(dialect: str, code: str) -> list[str]:
    """The helpers ``code`` calls, each one's source once."""
    return [src.lstrip("\n") for name, src in HELPERS[dialect].items() if f"{name}(" in code]
