"""Text in LaTeX: one escaping function, checked on every special character, by the engines.

:func:`symgrad.latex_printer.escape_text` writes running text (pdflatex's OT1 encoding prints a
raw ``<`` as ``¡``); :func:`symgrad.latex_printer.text` writes labels inside formulas, which
KaTeX (strict), GitHub's MathJax and pdflatex must all show alike. pdflatex and KaTeX are
required under ``CI=true`` and skipped locally without them, as in ``test_docs``/``test_katex``;
the check of what the PDF shows also needs ``pdftotext`` (poppler-utils) and skips without it.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad
from symgrad import katex
from symgrad.latex_printer import SPECIALS, escape_text, text

ROOT = Path(__file__).resolve().parents[1]
ASCII_SPECIALS = "<>&_%#^~\\{}$|"
UNICODE = [c for c in SPECIALS if not c.isascii()]
EVERY = list(ASCII_SPECIALS) + UNICODE
#: What pdftotext reads back where the glyph is the character itself (``_`` is a rule, ``^``
#: and ``~`` are accents, ``½`` a fraction, ``ᵀ`` a raised T: they look right but read otherwise).
READ_BACK = {c: c for c in "<>&%#\\{}$|·×⊙−±σΣ∂≤≥→⟨⟩′"} | {"^": "ˆ", "~": "˜"}
READ_BACK_IN_MATH = READ_BACK | {"~": "∼"}  # the math tilde
#: Inside ``\text{...}`` only what every engine prints as itself.
PLAIN = re.compile(r"[A-Za-z0-9 ,.;:()\[\]'!?=+\-/*@`\"\n\t]*")
TEXT_GROUP = re.compile(r"\\text\{([^{}]*)\}")


def _required(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _text_groups_are_plain(tex: str) -> None:
    for content in TEXT_GROUP.findall(tex):
        assert PLAIN.fullmatch(content), (content, tex)
    assert tex.count(r"\text{") == len(TEXT_GROUP.findall(tex)), tex  # no nested braces


# --- the function itself ------------------------------------------------------------------------


@pytest.mark.parametrize("char", EVERY)
def test_every_special_is_escaped_in_running_text(char: str) -> None:
    tex = escape_text(f"a {char} b{char}{char}c")
    assert tex.isascii()
    assert "$" not in tex.replace(r"\$", "")  # math is \(...\): two pieces never make $$
    assert tex.count("{") - tex.count(r"\{") == tex.count("}") - tex.count(r"\}")
    outside_math = re.sub(r"\\\(.*?\\\)", "", tex)
    for raw in "<>|^~#%&_":  # OT1 prints these wrongly or they are TeX syntax
        assert not re.search(rf"(?<!\\){re.escape(raw)}", outside_math), tex


@pytest.mark.parametrize("char", EVERY)
def test_every_special_is_outside_text_groups_inside_math(char: str) -> None:
    tex = text(f"a {char} b{char}{char}c")
    assert tex.isascii() and "$" not in tex.replace(r"\$", "")
    _text_groups_are_plain(tex)


@given(st.text(alphabet=st.sampled_from([*EVERY, *string.ascii_letters, " ", "(", "="])))
def test_any_mixture_stays_well_formed(s: str) -> None:
    for tex in (escape_text(s), text(s)):
        assert tex.isascii()
        assert "^{2}^" not in tex and "}^{" not in tex.replace("{}^{", "")  # no double ^
    _text_groups_are_plain(text(s))


def test_plain_text_is_unchanged() -> None:
    s = "Softmax over the last axis, (N, D) = 2*x + 1."
    assert escape_text(s) == s and text(s) == rf"\text{{{s}}}"


def test_an_unknown_character_is_refused_not_mangled() -> None:
    with pytest.raises(ValueError, match=r"U\+0416"):
        escape_text("Ж")
    with pytest.raises(ValueError, match=r"U\+0416"):
        text("Ж")
    with pytest.raises(ValueError, match=r"U\+3400"):  # CJK beyond the blocks KaTeX typesets
        text("㐀")


def test_cjk_text_is_itself() -> None:
    """Japanese, Chinese and Korean words (symgrad.i18n) print as themselves: in running text
    for xeCJK, inside \\text{} in a formula for KaTeX; the specials around them are escaped."""
    assert escape_text("順伝播、形状 (N, D)") == "順伝播、形状 (N, D)"
    assert text("正向传播：x < 0") == r"\text{正向传播：x }{<}\text{ 0}"
    assert text("순전파") == r"\text{순전파}"


# --- what symgrad emits -------------------------------------------------------------------------


def test_every_text_group_symgrad_emits_is_plain() -> None:
    """Every derivation's LaTeX, its Markdown and the committed document: no special character
    inside any ``\\text{...}``."""
    sources = [(ROOT / "derivations" / "symgrad.tex").read_text(encoding="utf-8")]
    for name in symgrad.catalog:
        d = symgrad.derive(name)
        sources += [d.latex(), d.markdown()]
    for tex in sources:
        _text_groups_are_plain(tex)


def test_render_and_docs_leave_text_to_the_one_function() -> None:
    """No ``\\text{`` filled in by an f-string outside latex_printer, and no second table."""
    for module in ("render.py", "docs.py"):
        source = (ROOT / "symgrad" / module).read_text(encoding="utf-8")
        assert not re.search(r"\\text\{\{\{", source), module
        assert "textbackslash" not in source and "_SPECIALS" not in source, module


# --- the engines --------------------------------------------------------------------------------


def _document() -> str:
    rows = [rf"P{escape_text(c)}Q\\" for c in EVERY]
    rows += [rf"$M{text(c)}N$\\" for c in EVERY]
    rows.append(rf"\[ x \quad {text(''.join(EVERY))} \]")
    rows.append(r"\begin{tabular}{ll}" + escape_text("".join(EVERY)) + r" & x \\ \end{tabular}")
    body = "\n".join(rows)
    return (
        "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
        f"\\noindent\n{body}\n\\end{{document}}\n"
    )


def test_pdflatex_prints_every_special_as_itself(tmp_path: Path) -> None:
    pdflatex = _required("pdflatex")
    (tmp_path / "t.tex").write_text(_document())
    result = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert "Missing character" not in log and "mktexpk" not in log  # no bitmap fallback font
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: compiled, not read back")
    shown = subprocess.run(
        ["pdftotext", "-layout", "t.pdf", "-"], capture_output=True, text=True, cwd=tmp_path
    ).stdout
    assert not set("¡¿—") & set(shown), shown
    lines = [line.strip() for line in shown.splitlines()]
    squeezed = {line.replace(" ", "") for line in lines}
    for char, read in READ_BACK.items():
        assert f"P{read}Q" in squeezed, char
        assert f"M{READ_BACK_IN_MATH[char]}N" in squeezed, char


def test_katex_strict_accepts_every_special_in_a_label() -> None:
    try:
        available = katex.ensure_katex(install=True, timeout=180)
    except RuntimeError as exc:
        available, reason = None, str(exc)
    else:
        reason = "KaTeX checker unavailable (node/npm)"
    if available is None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    fragments = [(f"c{i}", rf"x = 1 \quad {text(f'a {c} b')}", False) for i, c in enumerate(EVERY)]
    fragments.append(
        ("all", rf"\begin{{aligned}} x &= 1 && {text(''.join(EVERY))} \end{{aligned}}", True)
    )
    failures = [r for r in katex.validate(fragments) if not r.ok]
    assert not failures, failures
