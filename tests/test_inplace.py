"""The in-place printing of sums and products (symgrad.inplace), and the torch target's 0/1 masks.

Oracles: the expression evaluated directly by NumPy (a different evaluation of the same tree),
and PyTorch's native ops for Relu and LeakyReLU.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.printing.numpy import NumPyPrinter

import symgrad
from symgrad.inplace import chain
from symgrad.parse import _FUNCTION_NAMES, parse_expr
from symgrad.spec import elementwise

A, B, C = sympy.symbols("a b c")
NUMBERS = [sympy.Integer(2), sympy.Rational(1, 3), sympy.Integer(-1), sympy.Float(0.25)]


def _code(e: sympy.Expr) -> str:
    return NumPyPrinter({"fully_qualified_modules": True}).doprint(e)


expressions = st.recursive(
    st.sampled_from([A, B, C, *NUMBERS]),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
        st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
        st.tuples(inner, inner).map(lambda t: t[0] - t[1]),
        st.tuples(inner, inner).map(lambda t: t[0] / (2 + t[1] ** 2)),
        inner.map(sympy.exp),
        inner.map(lambda e: e**2),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(expressions)
def test_chain_computes_the_expression_and_writes_only_its_own_array(expr) -> None:
    rng = np.random.default_rng(0)
    values = {s: rng.uniform(-1, 1, size=7) for s in ("a", "b", "c")}
    kept = {s: v.copy() for s, v in values.items()}
    lines = chain("out", expr, _code)
    assert lines[0].startswith("out = ")
    assert all(line.split()[1] in {"*=", "/=", "+=", "-="} for line in lines[1:]), lines
    scope = {"numpy": np, **values}
    with np.errstate(all="ignore"):  # exp(exp(exp(a))) may overflow: both sides are inf
        exec("\n".join(lines), scope)
        direct = eval(_code(expr), {"numpy": np, **kept})
    np.testing.assert_allclose(np.broadcast_to(scope["out"], (7,)), direct, rtol=1e-12, atol=1e-12)
    for s, v in values.items():  # an input is read, never written
        np.testing.assert_array_equal(v, kept[s], err_msg=f"{s} was updated in place: {lines}")


def test_chain_makes_one_array_for_a_product_of_several() -> None:
    dout, y = sympy.symbols("dout y")
    assert chain("dx", dout * (1 - y) * y, str) == ["dx = 1 - y", "dx *= dout", "dx *= y"]
    assert chain("dx", dout * y, str) == ["dx = dout*y"]  # one operation: nothing to update


def test_chain_never_updates_what_prints_as_a_name() -> None:
    # a printer may print an expression as the array it equals (a 0/1 mask's choice of 1 and 0)
    dout, mask = sympy.symbols("dout mask")
    choice = sympy.Piecewise((1, mask), (0, True))

    def code(e: sympy.Expr) -> str:
        return "mask" if e == choice else str(e)

    lines = chain("dx", dout * choice, code)
    assert not lines[0].startswith("dx = mask"), lines


torch = pytest.importorskip("torch")


def _module(names: list[str]) -> types.ModuleType:
    module = types.ModuleType("torch_layers")
    exec(symgrad.generate(names, target="torch"), module.__dict__)
    return module


@pytest.mark.parametrize("name", ["Relu", "LeakyReLU"])
def test_a_mask_that_chooses_numbers_is_a_0_1_tensor_and_exact(name) -> None:
    code = symgrad.generate([name], target="torch")
    assert "torch.where" not in code and "out=torch.empty_like(x)" in code
    native = {"Relu": torch.relu, "LeakyReLU": lambda t: torch.nn.functional.leaky_relu(t, 0.01)}
    function = getattr(_module([name]), f"{name}Function")
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        g = torch.Generator().manual_seed(3)
        x = torch.randn(64, 33, generator=g).to(dtype)
        x[0, :3] = torch.tensor([0.0, -0.0, 1e-30])
        dout = torch.randn(64, 33, generator=g).to(dtype)
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        mine, want = function.apply(a), native[name](b)
        mine.backward(dout)
        want.backward(dout)
        assert a.grad.dtype == dtype
        if dtype == torch.bfloat16 and name == "LeakyReLU":
            # the slope is a 0/1 mask clamped at 0.01, so 0.01 is rounded to bfloat16 before
            # the product: within one rounding of bfloat16 (2**-8 relative), not bit-equal
            torch.testing.assert_close(mine, want, rtol=2**-7, atol=0)
            torch.testing.assert_close(a.grad, b.grad, rtol=2**-7, atol=0)
            continue
        assert torch.equal(mine, want), f"{name} {dtype}: forward"
        assert torch.equal(a.grad, b.grad), f"{name} {dtype}: backward"


def test_a_0_1_mask_passes_nan_from_dout_on_where_the_native_op_gives_0() -> None:
    # the documented difference (torch_target.float_masks): the product dout * 0 of an infinite
    # or nan dout is nan, where torch.where (and the native op) would give 0
    function = _module(["Relu"]).ReluFunction
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    function.apply(x).backward(torch.tensor([float("inf"), 1.0]))
    assert torch.isnan(x.grad[0]) and x.grad[1] == 1.0


@pytest.mark.parametrize("function", sorted(_FUNCTION_NAMES))
def test_every_function_a_user_may_write_generates_for_torch(function) -> None:
    # each name `symgrad codegen --expr` accepts has a torch form: generate runs gradcheck and
    # compares the forward with mpmath before it returns (atan, sinh, cosh, tan and abs's
    # sign had none)
    body = {
        "max": "max(x, 0.5)",
        "min": "min(x, 0.5)",
        "where": "where(x > 0, x, x / 4)",
        "log": "log(x)",
        "sqrt": "sqrt(x)",
    }.get(function, f"{function}(x)")
    spec = elementwise("Probe", parse_expr(body), "x")
    code = symgrad.generate([spec], target="torch")
    assert "class ProbeFunction(torch.autograd.Function)" in code
    if function in ("max", "min", "where"):  # a 0/1 mask chooses: no bool where, no clamp at 0
        assert "torch.where" not in code and "min=0)" not in code
