"""The check a torch, JAX or array-API module passes before it is returned.

For each layer, with the inputs and parameters the NumPy target's numerical check uses (float64):

1. the NumPy class (itself checked against a numerical gradient) gives the reference forward
   output and every gradient, for one random ``dout``;
2. the target computes the same forward and gradients: through autograd (``backward``) for torch,
   ``jax.vjp`` of the jitted function for JAX, the class's own ``backward`` for the array API,
   run on ``array_api_strict`` arrays (which refuse anything outside the standard); each must
   agree with the reference to 1e-9 relative;
3. the framework's own checker: ``torch.autograd.gradcheck`` on the Function, JAX's
   ``check_grads`` (reverse mode) on the custom_vjp function.

A layer that draws random numbers (Dropout) in torch or JAX cannot draw NumPy's mask, so step 2
is replaced by the checker with the generator fixed. A disagreement is a :class:`SymgradError`
naming the layer and what differs; the module is not returned.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from symgrad.engine import Derivation
from symgrad.errors import SymgradError
from symgrad.i18n import tr, tr_n
from symgrad.layer_code import LayerCode
from symgrad.sampling import sample, structural_values
from symgrad.target_common import draws, function_args, snake_case

_RTOL = 1e-9


class Reference:
    """The NumPy class's forward and gradients at one point."""

    def __init__(self, numpy_module: types.ModuleType, d: Derivation, code: LayerCode) -> None:
        rng = np.random.default_rng(0)
        self.params, self.inputs = sample(d, rng)
        required = {c for c, v in d.spec.constants if v is None}
        self.kwargs = {c: v for c, v in structural_values(d.spec).items() if c in required}
        layer = getattr(numpy_module, d.name)(
            *(self.params[p].copy() for p in code.params), **self.kwargs
        )
        np.random.seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.y = np.asarray(layer.forward(*(a.copy() for a in self.inputs)))
            self.dout = 1.0 if code.returns_loss else rng.standard_normal(self.y.shape)
            returned = layer.backward(np.copy(self.dout) if not code.returns_loss else 1.0)
        self.grads = input_gradients(code, returned)
        self.grads.update({p: getattr(layer, f"d{p}") for p in code.params})


def input_gradients(code: LayerCode, returned: Any) -> dict[str, Any]:
    """What ``backward`` returned, by input: one gradient per differentiable input, exactly
    (a backward that returns more or fewer is an error, not a shorter comparison)."""
    got = () if returned is None else returned if isinstance(returned, tuple) else (returned,)
    names = [a.name for a in code.inputs if a.name in code.gradients]
    if len(got) != len(names):
        raise SymgradError(
            tr("{layer}: backward returns {n} gradients for {names}").format(
                layer=code.name, n=len(got), names=names
            )
        )
    return dict(zip(names, got, strict=True))


def check_target(
    dialect: str,
    text: str,
    numpy_source: str,
    derivations: list[Derivation],
    codes: list[LayerCode],
) -> None:
    """Run the checks of the module docstring on every layer of ``text``."""
    from symgrad.codegen import load

    require(dialect)
    numpy_module = load(numpy_source)
    module = types.ModuleType(f"symgrad_{dialect.replace('-', '_')}_generated")
    exec(compile(text, f"<symgrad {dialect}>", "exec"), module.__dict__)
    check = {"torch": _torch, "jax": _jax, "array-api": _array_api}[dialect]
    for d, code in zip(derivations, codes, strict=True):
        check(module, Reference(numpy_module, d, code), code)


_NEEDS = {
    "torch": (["torch"], "torch"),
    "jax": (["jax"], "jax"),
    "array-api": (["array_api_compat", "array_api_strict"], "array-api"),
}


def require(dialect: str) -> None:
    """The libraries the target's check runs on, or one line saying how to install them."""
    import importlib.util

    modules, extra = _NEEDS[dialect]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise SymgradError(
            tr_n(
                "the {target} target checks its code with {modules}, which is not installed: "
                'pip install "symgrad[{extra}]"',
                "the {target} target checks its code with {modules}, which are not installed: "
                'pip install "symgrad[{extra}]"',
                len(missing),
            ).format(target=dialect, modules=_and(missing), extra=extra)
        )


def _and(names: list[str]) -> str:
    """``a and b`` (in the current language)."""
    out = names[0]
    for name in names[1:]:
        out = tr("{first} and {second}").format(first=out, second=name)
    return out


def _agree(name: str, what: str, got: Any, expected: Any) -> None:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise SymgradError(
            tr("{layer}: {what} has shape {shape}, the NumPy class's {expected}").format(
                layer=name, what=what, shape=got.shape, expected=expected.shape
            )
        )
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    if not np.allclose(got, expected, rtol=_RTOL, atol=_RTOL * scale):
        error = float(np.max(np.abs(got - expected)))
        raise SymgradError(
            tr("{layer}: {what} differs from the NumPy class's by {error:.1e}").format(
                layer=name, what=what, error=error
            )
        )


def _floating(a: np.ndarray) -> bool:
    return np.issubdtype(np.asarray(a).dtype, np.floating)


# --- torch ---------------------------------------------------------------------------------------


def _torch(module: types.ModuleType, ref: Reference, code: LayerCode) -> None:
    import torch

    name = code.name
    inputs = [
        torch.tensor(a, dtype=torch.float64, requires_grad=a_name in code.gradients)
        if _floating(a)
        else torch.as_tensor(a)
        for a_name, a in zip((a.name for a in code.inputs), ref.inputs, strict=True)
    ]
    params = [torch.tensor(ref.params[p], dtype=torch.float64) for p in code.params]
    layer = getattr(module, name)(*params, **ref.kwargs)
    random = draws(code)
    if not random:
        y = layer(*inputs)
        _agree(name, tr("the torch forward"), y.detach(), ref.y)
        y.backward(torch.as_tensor(ref.dout, dtype=torch.float64))
        for a, t in zip(code.inputs, inputs, strict=True):
            if a.name in code.gradients:
                what = tr("the torch {gradient}").format(gradient=f"d{a.name}")
                _agree(name, what, t.grad, ref.grads[a.name])
        for p in code.params:
            what = tr("the torch {gradient}").format(gradient=f"d{p}")
            _agree(name, what, getattr(layer, p).grad, ref.grads[p])
    function = getattr(module, f"{name}Function")
    args = function_args(code)
    values: dict[str, Any] = {a.name: t for a, t in zip(code.inputs, inputs, strict=True)}
    values.update({p: getattr(layer, p).detach().clone() for p in code.params})
    values.update({s: None for s in code.state})
    values.update({o.name: getattr(layer, o.name, True) for o in code.options})
    if code.mode is not None:
        values[code.mode.name] = True
    diff = [n for n in args if n in code.gradients]
    leaves = [values[n].detach().clone().requires_grad_() for n in diff]

    def apply(*xs: Any) -> Any:
        if random:
            torch.manual_seed(0)
        out = function.apply(*(dict(zip(diff, xs, strict=True)).get(n, values[n]) for n in args))
        return out[0] if isinstance(out, tuple) else out

    if not torch.autograd.gradcheck(apply, tuple(leaves), raise_exception=False):
        raise SymgradError(
            tr("{layer}: the generated torch Function fails torch.autograd.gradcheck").format(
                layer=name
            )
        )


# --- JAX -----------------------------------------------------------------------------------------


def _jax(module: types.ModuleType, ref: Reference, code: LayerCode) -> None:
    import jax
    from jax.test_util import check_grads

    name = code.name
    function = getattr(module, snake_case(name))
    extra = ("key",) if draws(code) else ()
    args = function_args(code, extra)
    with jax.enable_x64(True):
        values: dict[str, Any] = {
            a.name: jax.numpy.asarray(v) for a, v in zip(code.inputs, ref.inputs, strict=True)
        }
        values.update({p: jax.numpy.asarray(ref.params[p]) for p in code.params})
        values.update({s: None for s in code.state})
        values.update({o.name: _option(o, ref) for o in code.options})
        if extra:
            values["key"] = jax.random.key(0)
        diff = [n for n in args if n in code.gradients]

        def f(*xs: Any) -> Any:
            out = function(*(dict(zip(diff, xs, strict=True)).get(n, values[n]) for n in args))
            return out[0] if code.state else out

        jitted = jax.jit(f)
        primals = [values[n] for n in diff]
        if not extra:
            y, pull = jax.vjp(jitted, *primals)
            _agree(name, tr("the JAX forward"), y, ref.y)
            grads = pull(jax.numpy.asarray(ref.dout, dtype=y.dtype))
            for n, g in zip(diff, grads, strict=True):
                _agree(name, tr("the JAX {gradient}").format(gradient=f"d{n}"), g, ref.grads[n])
        try:
            check_grads(jitted, tuple(primals), order=1, modes=["rev"])
        except AssertionError as err:
            first = str(err).strip().splitlines()[0]
            raise SymgradError(
                tr("{layer}: the generated JAX function fails check_grads ({reason})").format(
                    layer=name, reason=first
                )
            ) from err


def _option(o: Any, ref: Reference) -> Any:
    if o.name in ref.kwargs:
        return ref.kwargs[o.name]
    if o.name == "train_flg":
        return True
    return eval(o.default, {}) if o.default is not None else None


# --- array API -----------------------------------------------------------------------------------


def _array_api(module: types.ModuleType, ref: Reference, code: LayerCode) -> None:
    import array_api_strict

    _array_api_run(module, ref, code, array_api_strict.asarray, "array_api_strict")
    try:
        import torch
    except ImportError:
        return
    _array_api_run(module, ref, code, lambda a: torch.as_tensor(np.asarray(a)), tr("torch tensors"))


def _array_api_run(
    module: types.ModuleType,
    ref: Reference,
    code: LayerCode,
    convert: Callable[[np.ndarray], Any],
    where: str,
) -> None:
    name = code.name
    layer = getattr(module, name)(*(convert(ref.params[p]) for p in code.params), **ref.kwargs)
    np.random.seed(0)
    y = layer.forward(*(convert(a) for a in ref.inputs))
    _agree(name, tr("the array-API forward on {arrays}").format(arrays=where), _numpy(y), ref.y)
    returned = layer.backward(1.0 if code.returns_loss else convert(ref.dout))
    for n, g in input_gradients(code, returned).items():
        what = tr("the array-API {gradient} on {arrays}").format(gradient=f"d{n}", arrays=where)
        _agree(name, what, _numpy(g), ref.grads[n])
    for p in code.params:
        what = tr("the array-API {gradient} on {arrays}").format(gradient=f"d{p}", arrays=where)
        _agree(name, what, _numpy(getattr(layer, f"d{p}")), ref.grads[p])


def _numpy(a: Any) -> np.ndarray:
    if isinstance(a, float | int):
        return np.asarray(a)
    if hasattr(a, "detach"):
        return a.detach().numpy()
    return np.from_dlpack(a)
