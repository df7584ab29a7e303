"""Printing tensor-algebra expressions as NumPy, LaTeX and text.

An expression of :mod:`symgrad.tensor_algebra` is elementwise over some axes; a symbol stands
for a whole array (stored as :mod:`symgrad.layout` says), so that the NumPy printer turns it into
vectorised code: ``rsum(dout*xhat, (n,))/N`` prints as ``(dout * xhat).mean(axis=0)``, a sum of a
product of two tensors with different axes as a matrix product (``x.T @ dout``) or an
``np.einsum``, and an axis size as the array dimension it is (``N`` as ``x.shape[0]``).

>>> import sympy
>>> from symgrad.tensors import index_axis, Tensor
>>> from symgrad.tensor_algebra import Scope, make_sum
>>> tensors = [Tensor("dout", ("n", "d")), Tensor("xhat", ("n", "d"))]
>>> slots = {"dout": ("n", "d"), "xhat": ("n", "d")}
>>> dout, xhat = (t.symbol for t in tensors)
>>> N = sympy.Symbol("N", positive=True, integer=True)
>>> e = make_sum(dout * xhat, ("n",), Scope.of(tensors)) / N
>>> numpy_tensor_code(e, slots)
'(dout * xhat).mean(axis=0)'
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping

import sympy
from sympy.printing.precedence import PRECEDENCE, precedence

from symgrad.latex_printer import SymgradLatexPrinter
from symgrad.layout import KEPT, broadcast, keeps_dims, numpy_axes
from symgrad.numpy_printer import SymgradNumPyPrinter, format_python
from symgrad.tensor_algebra import at, mean_size, rsum
from symgrad.tensors import ELLIPSIS, axis_size, index_axis
from symgrad.text_printer import SymgradTextPrinter


def _as_means(expr: sympy.Basic) -> sympy.Basic:
    """``rsum(b, A) * size(A)**-1`` as ``rmean(b, A)``, for printing."""

    def visit(e: sympy.Basic) -> sympy.Basic:
        if not e.args:
            return e
        e = e.func(*(visit(a) for a in e.args))
        if isinstance(e, sympy.Mul):
            factors = list(e.args)
            for i, f in enumerate(factors):
                if isinstance(f, rsum):
                    size = mean_size(f)
                    rest = sympy.Mul(*factors[:i], *factors[i + 1 :])
                    ratio = sympy.cancel(rest * size)
                    whole = size != 1 and not ratio.has(*size.free_symbols)
                    if whole and sympy.denom(sympy.cancel(rest)).has(*size.free_symbols):
                        return ratio * rmean(f.body, f.args[1])
        return e

    return visit(expr)


def _numbers_inside(e: sympy.Basic) -> sympy.Basic:
    """``dout·(1 if mask else 0.01)`` as ``dout if mask else 0.01·dout``: ``np.where`` of two
    Python numbers is a float64 array, which would turn float32 arrays into float64
    (``dout·(1 if mask else 0)`` becomes ``dout * mask``)."""

    def fold(m: sympy.Basic) -> bool:
        # never across a sum: its body is at other indices, where the condition differs
        numeric = any(
            isinstance(f, sympy.Piecewise) and all(v.is_number for v, _ in f.args) for f in m.args
        )
        return isinstance(m, sympy.Mul) and numeric and not m.has(rsum)

    return e.replace(fold, sympy.piecewise_fold) if e.has(sympy.Piecewise) else e


class rmean(sympy.Function):
    """``mean_axes body``: only for printing (the algebra keeps sums and sizes)."""

    nargs = 2


class TensorNumPyPrinter(SymgradNumPyPrinter):
    """NumPy code for tensor expressions, given each tensor's slots."""

    def __init__(
        self,
        slots: Mapping[str, tuple[str, ...]],
        target: tuple[str, ...] | None = None,
        sizes: Mapping[str, str] | None = None,
        last: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self.slots = dict(slots)
        self.target = target
        self.sizes = dict(sizes or {})
        self.last = frozenset(last)
        self.top: sympy.Basic | None = None
        """A reduction that is the whole expression: its result has the target's axes."""

    def _as_ordered_terms(self, expr: sympy.Expr, order: str | None = None) -> list:
        """As the base printer orders them, the names in ``last`` (biases) added last:
        ``x @ W + b``, ``gamma * xhat + beta``."""
        terms = super()._as_ordered_terms(expr, order=order)
        if isinstance(expr, sympy.Add) and self.last:
            terms = sorted(terms, key=lambda a: bool(a.is_Symbol and a.name in self.last))
        return terms

    # --- slots ------------------------------------------------------------------------------

    def slots_of(self, e: sympy.Basic) -> tuple[str, ...]:
        """The slots of the array ``e`` evaluates to."""
        if isinstance(e, at):
            return self._renamed(e)
        if isinstance(e, sympy.Symbol):
            position = self._position(e)
            if position is not None:
                return (e.name,) + (KEPT,) * position
            return self.slots.get(e.name, ())
        if isinstance(e, (rsum, rmean)):
            body = self.slots_of(e.args[0])
            axes = {str(a) for a in e.args[1]}
            if keeps_dims(body, axes):
                return tuple(KEPT if s in axes else s for s in body)
            return tuple(s for s in body if s not in axes)
        parts = [self.slots_of(a) for a in e.args if isinstance(a, sympy.Basic)]
        parts = [p for p in parts if p]
        return broadcast(*parts) if parts else ()

    def _reference(self, e: sympy.Basic) -> str:
        """The name of an array in ``e`` with the most slots (for ``.ndim`` and ``.shape``)."""
        symbols = [s for s in e.free_symbols if s.name in self.slots]
        best = max(symbols, key=lambda s: (len(self.slots[s.name]), s.name), default=None)
        return best.name if best is not None else "x"

    # --- printing -------------------------------------------------------------------------------

    def _print_rsum(self, e: rsum) -> str:
        return self._reduction(e, "sum")

    def _print_rmean(self, e: rmean) -> str:
        return self._reduction(e, "mean")

    def _reduction(self, e: sympy.Function, how: str) -> str:
        body, axes = e.args[0], {str(a) for a in e.args[1]}
        contraction = self._contraction(body, axes, how)
        if contraction is not None:
            return contraction
        slots = self.slots_of(body)
        inner = self.parenthesize(body, 100) if not body.is_Symbol else self._print(body)
        if all(s in axes or s == KEPT for s in slots):  # every axis: one number
            return f"{inner}.{how}()"
        where = numpy_axes(slots, axes, self._reference(body))
        kept = keeps_dims(slots, axes) and e is not self.top
        return f"{inner}.{how}(axis={where}{', keepdims=True' if kept else ''})"

    def _contraction(self, body: sympy.Expr, axes: set[str], how: str) -> str | None:
        """A sum of a product of two arrays with different slots, as ``@`` or ``np.einsum``."""
        if how != "sum":
            return None
        factors = list(sympy.Mul.make_args(body))
        arrays = [  # a tensor read along renamed axes is its array
            _Read(f.tensor.name) if isinstance(f, at) else f
            for f in factors
            if isinstance(f, at) or (f.is_Symbol and self.slots.get(f.name))
        ]
        if len(arrays) != 2 or len(factors) != 2:
            return None
        a, b = (self.slots_of(f) for f in factors)
        if a == b or KEPT in a + b:
            return None
        batched = self._batched_matmul(arrays, a, b, axes)
        if batched is not None or ELLIPSIS in a + b:
            return batched
        out = [s for s in (*a, *b) if s not in axes]
        out = list(dict.fromkeys(out))
        if self.target is not None and set(self.target) == set(out):
            out = list(self.target)
        shared = set(a) & set(b)
        if shared == axes and not (len(axes) == 1 and len(a) == 2 and len(b) == 2):
            return self._tensordot(arrays, a, b, axes, out)
        if shared != axes or len(axes) != 1 or len(a) != 2 or len(b) != 2 or len(out) != 2:
            return self._einsum(arrays, a, b, out)
        (k,) = axes
        if out[0] not in a:  # the operand holding the result's first axis goes left
            arrays, (a, b) = arrays[::-1], (b, a)
        left = arrays[0].name + ("" if a[1] == k else ".T")
        right = arrays[1].name + ("" if b[0] == k else ".T")
        return f"{left} @ {right}"

    def _batched_matmul(self, arrays: list, a: tuple, b: tuple, axes: set[str]) -> str | None:
        """``a @ b`` over a shared leading batch (attention's ``p @ v`` on ``(..., T, S)`` and
        ``(..., S, E)``): one summed axis among the last two of each, transposed by
        ``.swapaxes(-1, -2)`` where it is not the left one's last or the right one's first."""
        if len(a) < 3 or a[:-2] != b[:-2] or len(axes) != 1:
            return None
        if self.target is not None and tuple(self.target[:-2]) != a[:-2]:
            return None  # the result's leading axes are the operands'
        (k,) = axes
        ta, tb = a[-2:], b[-2:]
        if k not in ta or k not in tb or len({*ta, *tb}) != 3:
            return None
        out = [s for s in (*ta, *tb) if s != k]
        if self.target is not None and tuple(self.target[-2:]) == (out[1], out[0]):
            arrays, ta, tb = arrays[::-1], tb, ta
        swap = ".swapaxes(-1, -2)"
        left = arrays[0].name + ("" if ta[1] == k else swap)
        right = arrays[1].name + ("" if tb[0] == k else swap)
        return f"{left} @ {right}"

    def _tensordot(self, arrays: list, a: tuple, b: tuple, axes: set[str], out: list[str]) -> str:
        """``np.tensordot``: one matrix product (BLAS) over the summed axes, its result's axes
        those of the left operand, then the right one's; transposed where the target wants
        them in another order (a view, no copy)."""
        options = [(arrays, a, b), (arrays[::-1], b, a)]

        def free(x: tuple, y: tuple) -> list[str]:
            return [s for s in x if s not in axes] + [s for s in y if s not in axes]

        chosen = next((o for o in options if free(o[1], o[2]) == out), options[0])
        (left, right), x, y = chosen
        summed = [s for s in x if s in axes]
        ia = [x.index(s) for s in summed]
        ib = [y.index(s) for s in summed]
        spec = f"({ia[0]}, {ib[0]})" if len(summed) == 1 else f"({ia}, {ib})"
        code = f"np.tensordot({left.name}, {right.name}, axes={spec})"
        got = free(x, y)
        if got != out:
            code += f".transpose({', '.join(str(got.index(s)) for s in out)})"
        return code

    def _einsum(self, arrays: list, a: tuple, b: tuple, out: list[str]) -> str:
        letters = dict(zip(sorted(set(a) | set(b)), string.ascii_lowercase))
        spec = f"{''.join(letters[s] for s in a)},{''.join(letters[s] for s in b)}"
        spec += f"->{''.join(letters[s] for s in out)}"
        return f'np.einsum("{spec}", {arrays[0].name}, {arrays[1].name})'

    def _renamed(self, e: at) -> tuple[str, ...]:
        """The slots of an array read as it is along renamed axes (``dk`` stored along ``s``,
        read along ``t``); any other index map is no array expression."""
        slots = self.slots.get(e.tensor.name)
        axes = [index_axis(i) for i in e.indices]
        if slots is None or None in axes or len(slots) != len(axes) or ELLIPSIS in slots:
            raise ValueError(f"{e} is read at an index map, not as an array")
        return tuple(axes)

    def _print_at(self, e: at) -> str:
        self._renamed(e)
        return e.tensor.name

    def _position(self, e: sympy.Symbol) -> int | None:
        """For an index symbol (``s`` in a causal mask ``s > t``) along an axis of the result:
        how many of the result's axes follow that one, else None."""
        axis = index_axis(e)
        if axis is None or self.target is None or axis not in self.target:
            return None
        return len(self.target) - 1 - list(self.target).index(axis)

    def _print_Symbol(self, e: sympy.Symbol) -> str:
        size = _size_axis(e)
        if size is not None:
            return self._size_code(size)
        position = self._position(e)
        if position is not None:  # the positions along the axis, shaped to broadcast
            trailing = f"[:{', None' * position}]" if position else ""
            return f"np.arange({self._size_code(e.name)}){trailing}"
        return super()._print_Symbol(e)

    def _print_Mul(self, e: sympy.Mul) -> str:
        """``-(a + b - c)/s`` as ``(c - a - b)/s``: the same value without a pass that negates
        a whole array."""
        over = [
            f
            for f in sympy.Mul.make_args(e)
            if f.is_Pow and isinstance(f.base, (rsum, rmean)) and f.exp.is_negative
        ]
        if over:  # a sum is no commutative SymPy atom: divide by it here, ``w / w.sum(...)``
            top = sympy.Mul(*(f for f in sympy.Mul.make_args(e) if f not in over))
            bottom = sympy.Mul(*(sympy.Pow(f.base, -f.exp) for f in over))
            return f"{self.parenthesize(top, precedence(e))} / {self.parenthesize(bottom, 51)}"
        coeff, rest = e.as_coeff_Mul()
        factors = sympy.Mul.make_args(rest)
        sums = [f for f in factors if isinstance(f, sympy.Add)]
        if coeff == -1 and len(sums) == 1:
            flipped = sympy.Add(*(-t for t in sums[0].args))
            others = [f for f in factors if f is not sums[0]]
            return self._print(sympy.Mul(flipped, *others, evaluate=False))
        return super()._print_Mul(e)

    def _print_Pow(self, e: sympy.Pow, rational: bool = False) -> str:
        # A root of a number as Python arithmetic: ``2**0.5`` is a Python float, which keeps
        # float32 arrays float32; ``np.sqrt(2)`` is a float64 scalar and would promote them.
        size = e.base.is_Symbol and _size_axis(e.base) is not None  # sqrt(E): E**0.5 too
        if (e.is_number or size) and e.exp.is_Rational and not e.exp.is_Integer:
            base = self.parenthesize(e.base, precedence(e))
            return f"{base}**{float(e.exp)!r}"
        return super()._print_Pow(e, rational)

    def _size_code(self, axis: str) -> str:
        """An axis size as the dimension of an array that has it: ``x.shape[0]``; the
        ``...`` group as the number of elements it spans (``x.size // x.shape[-1]``)."""
        if axis in self.sizes:
            return self.sizes[axis]
        return size_code(axis, self.slots)


class _Read:
    """An array in a contraction, by name (a tensor read along renamed axes is its array)."""

    def __init__(self, name: str) -> None:
        self.name = name


def size_code(axis: str, slots: Mapping[str, tuple[str, ...]]) -> str:
    """The size of ``axis`` read off an array whose slots have it."""
    for name, where in sorted(slots.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if axis not in where:
            continue
        if axis == ELLIPSIS:
            others = [s for s in where if s not in (ELLIPSIS, KEPT)]
            if not others:
                return f"{name}.size"
            dims = " * ".join(size_code(s, {name: where}) for s in others)
            return f"{name}.size // {dims if len(others) == 1 else f'({dims})'}"
        if ELLIPSIS not in where[: where.index(axis)]:
            return f"{name}.shape[{where.index(axis)}]"
        return f"{name}.shape[{where.index(axis) - len(where)}]"
    return axis_size(axis).name


def _size_axis(e: sympy.Symbol) -> str | None:
    if e.is_integer and e.is_positive and e.name.isupper():
        return "..." if e.name == "B" else e.name.lower()
    return None


def numpy_tensor_code(
    expr: sympy.Expr,
    slots: Mapping[str, tuple[str, ...]],
    target: tuple[str, ...] | None = None,
    sizes: Mapping[str, str] | None = None,
    last: Iterable[str] = (),
    flat: bool = False,
) -> str:
    """``expr`` as one NumPy expression over the arrays ``slots`` describes; ``target`` is the
    order of the result's axes (it decides the operand order of a matrix product); ``sizes``
    names axis sizes already bound to variables (``{"n": "N"}``); names in ``last`` are added
    last in a sum; with ``flat`` a reduction that is the whole expression drops the axes it
    reduces (a parameter's gradient has the parameter's shape)."""
    printer = TensorNumPyPrinter(slots, target, sizes, last)
    expr = _as_means(_numbers_inside(expr))
    if flat and isinstance(expr, (rsum, rmean)):
        printer.top = expr
    return format_python(printer.doprint(expr))


# --- LaTeX and text ---------------------------------------------------------------------------


class TensorLatexPrinter(SymgradLatexPrinter):
    """``\\sum_{n}`` and ``\\frac{1}{N}\\sum_{n}`` for sums and means, tensors by name; the
    gradient ``d<v>`` of a value in ``grads`` as ``∂L/∂v``."""

    _default_settings = {**SymgradLatexPrinter._default_settings, "grads": ()}  # noqa: RUF012

    def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:
        if expr.name.startswith("d") and expr.name[1:] in self._settings["grads"]:
            inner = super()._print_Symbol(sympy.Symbol(expr.name[1:]), style)
            return rf"\frac{{\partial L}}{{\partial {inner}}}"
        return super()._print_Symbol(expr, style)

    def _print_rsum(self, e: rsum) -> str:
        below = ", ".join(r"\ldots" if str(a) == "..." else self._print(a) for a in e.args[1])
        return rf"\sum_{{{below}}} {self.parenthesize(e.args[0], PRECEDENCE['Mul'])}"

    def _print_rmean(self, e: rmean) -> str:
        below = ", ".join(r"\ldots" if str(a) == "..." else self._print(a) for a in e.args[1])
        body = self.parenthesize(e.args[0], PRECEDENCE["Mul"])
        return rf"\operatorname{{mean}}_{{{below}}} {body}"


def latex_tensor(expr: sympy.Basic, output: str = "y", grads: Iterable[str] = ()) -> str:
    """``expr`` in LaTeX with sums as ``\\sum`` and means as ``mean``; ``d<v>`` for ``v`` in
    ``grads`` as ``∂L/∂v``."""
    printer = TensorLatexPrinter({"output_name": output, "grads": tuple(grads)})
    return printer.doprint(_as_means(expr))


class TensorTextPrinter(SymgradTextPrinter):
    printmethod = "_symgrad_text"  # not rsum's own ``_sympystr``

    def _print_rmean(self, e: rmean) -> str:
        axes = ",".join(str(a) for a in e.args[1])
        return f"mean_{axes} {self.parenthesize(e.args[0], 50)}"

    def _print_rsum(self, e: rsum) -> str:
        axes = ",".join(str(a) for a in e.args[1])
        return f"Σ_{axes} {self.parenthesize(e.args[0], 50)}"

    def _print_floor(self, e: sympy.floor) -> str:  # a row-major index's digit: c // E
        numerator, denominator = sympy.fraction(e.args[0])
        if denominator == 1:
            return super()._print_Function(e)
        return f"{self.parenthesize(numerator, 50)} // {self.parenthesize(denominator, 50)}"

    def _print_Mod(self, e: sympy.Mod) -> str:
        a, b = e.args
        return f"{self.parenthesize(a, 50)} % {self.parenthesize(b, 50)}"


def text_tensor(expr: sympy.Basic) -> str:
    """``expr`` as one line of text, sums as ``Σ_n`` and means as ``mean_n``."""
    return TensorTextPrinter().doprint(_as_means(expr))
