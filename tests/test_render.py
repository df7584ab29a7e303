"""Step-by-step derivations: the textbook's story, in LaTeX, Markdown and text."""

from __future__ import annotations

import re

import pytest

import symgrad

CATALOG = list(symgrad.catalog)


def test_sigmoid_reproduces_the_textbook_nodes_and_product() -> None:
    d = symgrad.derive("Sigmoid")
    assert [n.op for n in d.graph.nodes] == ["×(-1)", "exp", "+1", "1/x"]
    tex = d.latex()
    dldy = r"\frac{\partial L}{\partial y}"
    # ∂L/∂y·(−y²)·1·exp(−x)·(−1) = ∂L/∂y·y²·exp(−x) = ∂L/∂y·y(1−y)
    product = rf"{dldy} \cdot \left(- y^{{2}}\right) \cdot 1 \cdot e^{{- x}} \cdot \left(-1\right)"
    assert product in tex
    assert rf"&= {dldy} y^{{2}} e^{{- x}}" in tex
    assert rf"&= {dldy} y \left(1 - y\right)" in tex
    rows = tex.split(r"\\")
    order = [
        i
        for i, r in enumerate(rows)
        for key in ("e^{- x}} \\cdot", "y^{2} e^{- x}", "y \\left(1 - y")
        if key in r
    ]
    assert order == sorted(order)


@pytest.mark.parametrize("name", CATALOG)
def test_latex_is_one_balanced_aligned_block(name: str) -> None:
    tex = symgrad.derive(name).latex()
    assert tex.startswith(r"\begin{aligned}") and tex.endswith(r"\end{aligned}")
    assert tex.count("{") == tex.count("}")
    assert tex.count(r"\left") == tex.count(r"\right")
    assert "dout" not in tex and "logistic" not in tex
    assert tex.count(r"\begin{") == tex.count(r"\end{")


def test_relu_derivation_states_the_kink_convention() -> None:
    d = symgrad.derive("Relu")
    assert "kink taken as } 0" in d.latex()
    assert "ReLU′(0) = 0" in d.text()
    assert "Convention" in d.markdown()


def test_binary_layers_show_each_input() -> None:
    tex = symgrad.derive("MulLayer").latex()
    assert (
        r"\frac{\partial L}{\partial x} &= \frac{\partial L}{\partial \mathrm{out}} \cdot y" in tex
    )
    assert (
        r"\frac{\partial L}{\partial y} &= \frac{\partial L}{\partial \mathrm{out}} \cdot x" in tex
    )


def test_markdown_renders_on_github() -> None:
    md = symgrad.derive("Sigmoid").markdown()
    assert md.startswith("## Sigmoid")
    blocks = re.findall(r"^\$\$$", md, flags=re.M)
    assert len(blocks) % 2 == 0 and blocks
    assert "| `x` |" in md  # the forms the engine considered, with cost and proof


def test_text_uses_the_pretty_printer() -> None:
    text = symgrad.derive("Sigmoid").text()
    assert "dx = dout⋅y⋅(1 - y)" in text
    assert "[×(-1)]" in text and "[1/x]" in text


def test_notebook_display_has_no_memory_address() -> None:
    d = symgrad.derive("Tanh")
    assert "0x" not in repr(d)
    assert d._repr_latex_().startswith("$\\displaystyle")
    assert d._repr_markdown_() == d.markdown()


@pytest.mark.parametrize("name", list(symgrad.catalog))
def test_text_reads_like_the_textbook_not_like_sympy(name: str) -> None:
    text = symgrad.derive(name).text()
    for noise in ("Piecewise(", "Sum(", "logistic(", ".T*", "*1", " 1 forms"):
        assert noise not in text, (name, noise, text)


def test_matrix_products_and_bias_sums_in_text() -> None:
    text = symgrad.derive("Affine").text()
    assert "= dout @ Wᵀ" in text and "= xᵀ @ dout" in text
    assert "db  = Σ_n dout      (M,)" in text
    tex = symgrad.derive("Affine").latex()
    assert r"\underbrace{W^{\mathsf{T}}}_{M \times D}" in tex
    assert "so its gradient sums over it" in tex


def test_node_rows_are_aligned() -> None:
    lines = symgrad.derive("Sigmoid").text().splitlines()
    start = lines.index("nodes (local derivatives):") + 1
    rows = lines[start : lines.index("", start)]
    assert len({row.index("[") for row in rows}) == 1
    assert len({row.index("∂") for row in rows}) == 1


def test_the_user_s_names_in_text() -> None:
    spec = symgrad.elementwise("Swish", "x*sigmoid(x)", "x")
    assert "sigmoid(x)" in symgrad.derive(spec).text()


@pytest.mark.parametrize("name", list(symgrad.catalog))
def test_latex_transposes_a_fraction_whole_and_puts_positive_terms_first(name: str) -> None:
    import re

    tex = symgrad.derive(name).latex()
    assert not re.search(r"\\frac\{\\partial L\}\{\\partial [A-Za-z]+\}\^", tex), tex
    assert r"- {t}_{i} + {y}_{i}" not in tex


def test_loss_gradient_prints_y_minus_t() -> None:
    assert r"\left(y - t\right)}{N}" in symgrad.derive("SoftmaxWithLoss").latex()
