"""The derivation engine: derived formulas against independent, hand-written expected values."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from sympy import Piecewise, Rational, Symbol, exp, log, tanh

import symgrad
from symgrad.conventions import TIES_SPLIT_EVENLY
from symgrad.engine import prove_equal
from symgrad.errors import DerivationError, SymgradError
from symgrad.textbook import formulas

CATALOG = list(symgrad.catalog)
ELEMENTWISE = [n for n in CATALOG if symgrad.catalog[n].is_elementwise]

x, y, out, dout, mask = (Symbol(n) for n in ("x", "y", "out", "dout", "mask"))

# Expected backward formulas, typed in by hand from the textbook (ch. 5) and PyTorch's docs.
EXPECTED = {
    "Sigmoid": {"x": dout * y * (1 - y)},
    "Tanh": {"x": dout * (1 - y**2)},
    "Exp": {"x": dout * y},
    "MulLayer": {"x": dout * y, "y": dout * x},
    "AddLayer": {"x": dout, "y": dout},
    "Relu": {"x": Piecewise((dout, mask), (0, True))},
    "LeakyReLU": {"x": Piecewise((dout, mask), (Rational(1, 100) * dout, True))},
}
EXPECTED_SAVED = {
    "Sigmoid": ["y"],
    "Tanh": ["y"],
    "Exp": ["y"],
    "MulLayer": ["x", "y"],
    "AddLayer": [],
    "Relu": ["mask"],
    "LeakyReLU": ["mask"],
    "Softplus": ["y"],
    "SiLU": ["sig", "y"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_textbook_forms_are_derived_exactly(name: str) -> None:
    got = {k: sympy.piecewise_fold(v) for k, v in symgrad.derive(name).grads.items()}
    assert got == {k: sympy.piecewise_fold(v) for k, v in EXPECTED[name].items()}


@pytest.mark.parametrize("name", sorted(EXPECTED_SAVED))
def test_forward_saves_exactly_what_backward_needs(name: str) -> None:
    assert [s.name for s in symgrad.derive(name).saved] == EXPECTED_SAVED[name]


@pytest.mark.parametrize("name", CATALOG)
def test_every_catalog_gradient_equals_the_textbook_formula(name: str) -> None:
    from symgrad.check import _symbolic

    # Huber's sign(t - x) against a comparison: equal in 40 digits, SymPy cannot finish
    expected = "agree in 40 digits" if name == "HuberLoss" else "proven"
    assert _symbolic(symgrad.derive(name), formulas()[name]) == expected


def test_every_catalog_layer_has_a_hand_written_reference() -> None:
    from symgrad.textbook import LAYERS

    # symgrad check compares forward and backward with it: no layer goes unchecked ("-")
    assert sorted(set(CATALOG) - set(LAYERS)) == []


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_chosen_form_is_proven_accurate_and_cheapest(name: str) -> None:
    for g in symgrad.derive(name).gradients:
        chosen = next(c for c in g.considered if c.expr == g.local.local)
        assert chosen.proven is True and chosen.accurate
        cheaper = [c for c in g.considered if c.accurate and c.cost < chosen.cost]
        assert all(c.proven is False for c in cheaper), cheaper
        assert all(c.proven is not True or c.cost >= chosen.cost for c in g.considered)


def test_relu_states_its_kink_convention() -> None:
    d = symgrad.derive("Relu")
    assert any("ReLU′(0) = 0" in c for c in d.conventions)
    assert [(s.target.name, s.body) for s in d.masks] == [("mask", x > 0)]  # the book's
    assert d.gradients[0].local.local.subs(x, 0) == 0


def test_leaky_relu_uses_the_negative_slope_at_zero_like_pytorch() -> None:
    local = symgrad.derive("LeakyReLU").gradients[0].local.local
    assert local.subs(x, 0) == Rational(1, 100)


def test_users_declare_their_own_layer_in_one_call() -> None:
    mish = symgrad.elementwise("Mish", x * tanh(log(1 + exp(x))), x)
    d = symgrad.derive(mish)
    assert prove_equal(d.gradients[0].local.plain, sympy.diff(x * tanh(log(1 + exp(x))), x))
    assert d.grads["x"].has(dout)
    assert "class Mish" in symgrad.generate([mish])


def test_binary_layers_name_their_output_out() -> None:
    assert symgrad.catalog["MulLayer"].output.name == "out"
    assert symgrad.catalog["Sigmoid"].output.name == "y"


def test_proof_rejects_unequal_forms() -> None:
    assert not prove_equal(y * (1 + y), y * (1 - y))
    assert not prove_equal(x, x + Rational(1, 10**30) * 0 + 1e-20 * 0 + 1)


def test_exponentials_whose_arguments_are_rational_multiples_share_one_name() -> None:
    from symgrad.proofs import is_zero_by_algebra

    a, b = sympy.symbols("a b", real=True)
    half = exp(sympy.sqrt(2) * a * b / 2)  # exp(√2·ab) is its square: T**2 against T
    assert is_zero_by_algebra(exp(sympy.sqrt(2) * a * b) - half**2)
    assert is_zero_by_algebra(exp(a / 3) * exp(a / 2) - exp(5 * a / 6))
    assert not is_zero_by_algebra(exp(sympy.sqrt(2) * a) - exp(a) ** 2)


def test_a_symbolic_zero_that_numbers_contradict_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SymPy is wrong in corners; an algebraic 0 must be confirmed numerically.
    monkeypatch.setattr(sympy, "cancel", lambda e, *a, **k: sympy.S.Zero)
    with pytest.raises(DerivationError, match="not 0 numerically"):
        prove_equal(x**2, x)


def test_a_wrong_simplify_cannot_prove_what_the_numbers_refute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # simplify is asked only once the numbers agree: a simplify that always says 0 proves
    # nothing false.
    monkeypatch.setattr(sympy, "simplify", lambda e, *a, **k: sympy.S.Zero)
    assert not prove_equal(x**2, x)
    assert not prove_equal(sympy.log(x**2), sympy.log(x))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Bad", x**2, "z"), "'z' does not occur"),
        (("Bad", x * Symbol("w"), x), "uses w, which is not an input"),
        (("bad name", x, x), "not a valid Python class name"),
        (("Bad", x * Symbol("dout"), x, "dout"), "cannot be used as an input name"),
    ],
)
def test_bad_declarations_get_one_line_errors(args: tuple, message: str) -> None:
    with pytest.raises(SymgradError, match=message) as err:
        symgrad.elementwise(*args)
    assert "\n" not in str(err.value)


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(SymgradError, match="did you mean 'Sigmoid'"):
        symgrad.derive("sigmod")


def test_catalog_covers_matrix_layers_and_losses() -> None:
    kinds = {s.kind for n in CATALOG for s in symgrad.catalog[n].statements}
    assert kinds == {"map", "contract", "reduce", "gather"}
    assert {n for n in CATALOG if symgrad.catalog[n].is_loss} >= {
        "SoftmaxWithLoss",
        "MeanSquaredError",
        "SigmoidWithLoss",
        "HuberLoss",
        "CrossEntropyLoss",
    }


def test_catalog_is_a_mapping_of_specs() -> None:
    assert set(CATALOG) >= {
        "MulLayer",
        "AddLayer",
        "Relu",
        "Sigmoid",
        "Tanh",
        "Exp",
        "LeakyReLU",
        "Softplus",
        "SiLU",
    }
    assert all(isinstance(s, symgrad.Layer) and s.name in CATALOG for s in symgrad.catalog.values())


def test_catalog_names_follow_the_book_then_pytorch() -> None:
    # The book's class names (ch. 5 and common/layers.py), then PyTorch's where it has none.
    book = {"MulLayer", "AddLayer", "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss"}
    book |= {"BatchNormalization", "Dropout"}
    pytorch = {"LeakyReLU", "Tanh", "Softplus", "SiLU", "Softmax", "LayerNorm", "GELU"}
    assert book | pytorch <= set(symgrad.catalog)
    assert not {"Mul", "Add", "LeakyRelu"} & set(symgrad.catalog)
    for name in ("mullayer", "LEAKYRELU", "leakyrelu", "relu"):
        assert symgrad.catalog[name].name.lower() == name.lower()


@pytest.mark.parametrize("text", ["max(x, y)", "min(x, y)", "max(x, y) + 2*min(x, y)"])
def test_a_tie_splits_dout_evenly_and_loses_none_of_it(text: str) -> None:
    # PyTorch's torch.maximum convention: tied inputs get half of dout each.
    from symgrad.codegen import generate, load

    spec = symgrad.elementwise("Tied", text, "x", "y")
    layer = load(generate([spec])).Tied()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    y = np.where(rng.random(50) < 0.5, x, rng.standard_normal(50))  # half of them tied
    dout = rng.standard_normal(50)
    out = layer.forward(x, y)
    dx, dy = layer.backward(dout)
    # d/dt f(x + t, y + t) = dx + dy, and at a tie of max/min f(x + t, x + t) moves like x.
    slope = {"max(x, y)": 1.0, "min(x, y)": 1.0, "max(x, y) + 2*min(x, y)": 3.0}[text]
    tied = x == y
    np.testing.assert_allclose((dx + dy)[tied], slope * dout[tied], rtol=1e-15)
    np.testing.assert_allclose(dx[tied], dy[tied], rtol=1e-15)
    assert np.isfinite(out).all()
    assert TIES_SPLIT_EVENLY in symgrad.derive(spec).conventions


def test_relu_keeps_its_kink_convention_not_the_tie_one() -> None:
    d = symgrad.derive("Relu")
    assert d.gradients[0].local.local.subs(x, 0) == 0
    assert TIES_SPLIT_EVENLY not in d.conventions


def test_graph_at_a_tie_gives_each_input_half() -> None:
    g = symgrad.evaluate_graph("max(x, y)", ["x=1", "y=1"])
    assert [str(v) for v in g.gradients.values()] == ["1/2", "1/2"]


@pytest.mark.parametrize(
    "assumptions", [{}, {"real": True}, {"positive": True}, {"finite": True, "real": True}]
)
def test_symbols_with_assumptions_work_as_plain_names(assumptions: dict) -> None:
    t = Symbol("t", **assumptions)
    mish = symgrad.elementwise("Mish", t * tanh(log(1 + exp(t))), t)
    assert str(mish.inputs[0]) == "t"
    d = symgrad.derive(mish)
    assert set(d.grads) == {"t"}
    assert "class Mish" in symgrad.generate([mish])


def test_sympy_floats_are_readable_constants() -> None:
    # SymPy folds a Float into a sum before symgrad sees it (write the text form to keep
    # 0.7978845608*(x + 0.044715*x**3) as written); what reaches symgrad prints as written.
    spec = symgrad.elementwise("Cubic", 0.044715 * x**3 + x**0.5, x)
    assert str(spec.statements[0].body) == "sqrt(x) + 0.044715*x**3"
    code = symgrad.generate([spec])
    # x**3 prints as a square times x: NumPy raises to a third power with pow, 250x slower
    assert "0.044715 * (x**2 * x)" in code and "000000" not in code


def test_two_symbols_with_one_name_are_refused() -> None:
    with pytest.raises(SymgradError, match="two different symbols are called 'x'"):
        symgrad.elementwise("Bad", x + Symbol("x", positive=True), x)


def test_a_failure_deep_inside_sympy_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import io

    from symgrad import engine
    from symgrad.cli import main

    def boom(spec: object) -> None:
        raise ZeroDivisionError("mpf division")

    monkeypatch.setattr(engine, "_derive", boom)
    monkeypatch.delenv("SYMGRAD_DEBUG", raising=False)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["derive", "--expr", "x**3 + 1", "--name", "Cubic"])
    assert status == 2
    (line,) = err.getvalue().strip().splitlines()
    assert "Cubic: cannot derive the backward: ZeroDivisionError: mpf division" in line
    monkeypatch.setenv("SYMGRAD_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        symgrad.derive(symgrad.elementwise("Cubic", "x**3 + 1", "x"))
