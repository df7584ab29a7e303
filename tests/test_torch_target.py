"""The torch target (symgrad.torch_target): generated autograd.Functions against PyTorch's own
checker (``gradcheck``) and its native ops, forward and backward, tails included.

PyTorch is a dev dependency; without it these tests skip with the reason, except under CI
(``CI`` set), where a missing torch is an error.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import types

import pytest

import symgrad
from symgrad.errors import SymgradError

if os.environ.get("CI"):
    import torch
else:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")

F = torch.nn.functional
COVERED = ["ELU", "Exp", "GELU", "GELUTanh", "LeakyReLU", "Relu", "Sigmoid", "SiLU", "Softplus"]
COVERED += ["Tanh"]
NATIVE = {
    "ELU": F.elu,
    "Exp": torch.exp,
    "GELU": F.gelu,
    "GELUTanh": lambda x: F.gelu(x, approximate="tanh"),
    "LeakyReLU": lambda x: F.leaky_relu(x, 0.01),
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "SiLU": F.silu,
    "Softplus": lambda x: F.softplus(x, threshold=1e9),  # no switch to x: the exact function
    "Tanh": torch.tanh,
}


@pytest.fixture(scope="module")
def module() -> types.ModuleType:
    code = symgrad.generate(COVERED, target="torch")
    m = types.ModuleType("torch_layers")
    exec(compile(code, "<torch layers>", "exec"), m.__dict__)
    return m


def _inputs(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Away from the kink at 0, over [-30, 30] and the far tails."""
    middle = torch.linspace(-30, 30, 601, dtype=dtype)
    middle = middle[middle.abs() > 1e-3]
    tails = torch.tensor([-700.0, -100.0, -40.0, 40.0, 100.0], dtype=dtype)
    return torch.cat([middle, tails])


def test_the_torch_target_covers_the_elementwise_catalog() -> None:
    from symgrad.torch_target import supported

    assert sorted(n for n in symgrad.catalog if supported(symgrad.derive(n))) == sorted(COVERED)


@pytest.mark.parametrize("name", COVERED)
def test_gradcheck_passes(module: types.ModuleType, name: str) -> None:
    x = (torch.rand(40, dtype=torch.float64) * 8 - 4).requires_grad_()
    x = torch.where(x.abs() < 0.05, x + 0.2, x).detach().requires_grad_()
    assert torch.autograd.gradcheck(getattr(module, name)(), (x,))


@pytest.mark.parametrize("name", COVERED)
def test_forward_and_backward_equal_the_native_op(module: types.ModuleType, name: str) -> None:
    x = _inputs()
    if name == "Exp":
        x = x[x < 700]
    ours = x.clone().requires_grad_()
    theirs = x.clone().requires_grad_()
    y, want = getattr(module, name)()(ours), NATIVE[name](theirs)
    # atol: the native ops' own rounding near 0 (F.gelu(-30) is 0, the exact value -1.5e-196;
    # GELUTanh's gradient at -7 is 0 natively, 1.2e-15 here); the tails against mpmath below
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-14)
    dout = torch.linspace(-2, 2, x.numel(), dtype=x.dtype)
    y.backward(dout)
    want.backward(dout)
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-12, atol=1e-14)


def test_gelu_is_relatively_accurate_in_its_left_tail(module: types.ModuleType) -> None:
    import mpmath

    x = torch.tensor([-30.0, -20.0, -10.0, -5.0], dtype=torch.float64, requires_grad=True)
    y = module.GELU()(x)
    y.backward(torch.ones_like(y))
    for xi, yi, gi in zip(x.tolist(), y.tolist(), x.grad.tolist()):
        with mpmath.workdps(50):
            u = mpmath.mpf(xi)
            cdf = mpmath.erfc(-u / mpmath.sqrt(2)) / 2
            exact_y = u * cdf
            exact_g = cdf + u * mpmath.exp(-(u**2) / 2) / mpmath.sqrt(2 * mpmath.pi)
            assert abs((yi - exact_y) / exact_y) < 1e-13, xi
            assert abs((gi - exact_g) / exact_g) < 1e-12, xi


@pytest.mark.parametrize("name", COVERED)
def test_float32_runs_in_float32(module: types.ModuleType, name: str) -> None:
    x = _inputs(torch.float32)[:600].clone().requires_grad_()
    y = getattr(module, name)()(x)
    y.backward(torch.ones_like(y))
    assert y.dtype == torch.float32 and x.grad.dtype == torch.float32
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", COVERED)
def test_it_saves_no_more_bytes_than_the_native_op(module: types.ModuleType, name: str) -> None:
    # the derivation's saved tensors, or x alone where that is fewer bytes (GELU, SiLU, ELU)
    def saved_bytes(f: object) -> int:
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        x = torch.randn(4096, dtype=torch.float32).requires_grad_()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            f(x)  # type: ignore[operator]
        return sum(seen.values())

    ours, theirs = saved_bytes(getattr(module, name)()), saved_bytes(NATIVE[name])
    assert ours <= theirs, f"{name}: {ours} bytes saved, the native op {theirs}"
    derived = symgrad.derive(name).saved
    assert ours in (4096 * 4, sum(4096 * (1 if t.name == "mask" else 4) for t in derived))


def test_a_user_expression_becomes_a_torch_function() -> None:
    spec = symgrad.elementwise("Mish", "x*tanh(log(1+exp(x)))", "x")
    code = symgrad.generate([spec], target="torch")
    m = types.ModuleType("mish")
    exec(compile(code, "<mish>", "exec"), m.__dict__)
    x = (torch.linspace(-20, 20, 81, dtype=torch.float64) + 0.01).requires_grad_()
    y = m.Mish()(x)
    y.sum().backward()
    reference = x.detach().clone().requires_grad_()
    F.mish(reference).sum().backward()
    torch.testing.assert_close(y, F.mish(reference), rtol=1e-13, atol=1e-300)
    torch.testing.assert_close(x.grad, reference.grad, rtol=1e-12, atol=1e-300)


def test_generated_torch_code_is_standalone_and_ruff_clean(tmp_path) -> None:
    code = symgrad.generate(COVERED, target="torch")
    assert code == symgrad.generate(COVERED, target="torch")  # deterministic
    imported = {
        a.name.split(".")[0]
        for node in ast.walk(ast.parse(code))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for a in node.names
    }
    assert imported == {"torch"}
    path = tmp_path / "layers.py"
    path.write_text(code)
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_codegen_writes_torch_layers_and_checks(tmp_path) -> None:
    path = tmp_path / "torch_layers.py"
    run = [sys.executable, "-m", "symgrad", "codegen", "Sigmoid", "Tanh", "--target", "torch"]
    written = subprocess.run([*run, "-o", str(path)], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert "class SigmoidFunction(torch.autograd.Function):" in path.read_text()
    fresh = subprocess.run([*run, "--check", str(path)], capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    path.write_text(path.read_text().replace("dout * (1 - y) * y", "dout * y"))
    stale = subprocess.run([*run, "--check", str(path)], capture_output=True, text=True)
    assert stale.returncode == 1 and "--target torch" in stale.stderr + stale.stdout


def test_a_wrongly_printed_forward_is_refused(monkeypatch) -> None:
    # tanh printed as sin in forward and backward alike: consistent, so gradcheck alone
    # passes; the forward is compared with the declared map
    import symgrad.torch_target as target

    printed = target.torch_code
    monkeypatch.setattr(target, "torch_code", lambda *a: printed(*a).replace("tanh", "sin"))
    with pytest.raises(SymgradError, match="Tanh: the generated torch forward differs"):
        symgrad.generate(["Tanh"], target="torch")
