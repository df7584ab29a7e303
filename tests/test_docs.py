"""The rendered book: committed, up to date, compiled by a real LaTeX engine, written atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import symgrad
from symgrad import docs
from symgrad.errors import SymgradError
from symgrad.writing import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
DERIVATIONS = ROOT / "derivations"
CATALOG = list(symgrad.catalog)


def _engine(name: str) -> str:
    """The path of a required binary; a skip locally, a failure under CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs TeX Live with apt-get)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return docs.render(list(symgrad.catalog.values()))


def test_derivations_are_committed_and_up_to_date(files: dict[str, str]) -> None:
    assert docs.stale(DERIVATIONS, files) == [], "run `symgrad doc` and commit derivations/"
    assert sorted(p.name for p in DERIVATIONS.iterdir()) == sorted([*files, MANIFEST])


def test_doc_check_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "symgrad", "doc", "--check", "-o", str(DERIVATIONS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_layer_page_has_every_part(files: dict[str, str]) -> None:
    for name in CATALOG:
        page = files[f"{name}.md"]
        for part in ("$$", "## Backward", "## Generated code", "```python", "## Verification"):
            assert part in page, (name, part)
        assert "| verdict | pass |" in page
        assert f"[{name}]({name}.md)" in files["README.md"]


def test_code_and_math_side_by_side(files: dict[str, str]) -> None:
    sigmoid = files["Sigmoid.md"]
    assert "## The code as math" in sigmoid
    assert r"\mathrm{dx}(\mathrm{dout}, y) = \mathrm{dout}" in sigmoid  # latexify-py's rendering
    assert r"y(x) = \frac{1}{1 + \exp" in sigmoid  # the forward line too
    assert "not rendered" in files["Affine.md"]  # latexify misprints `@` and .sum: no wrong math


def test_tex_is_ascii_with_a_section_per_layer_and_figures(files: dict[str, str]) -> None:
    tex = files["symgrad.tex"]
    assert tex.isascii()
    assert "\\tableofcontents" in tex
    assert all(f"\\section{{{name}}}" in tex for name in CATALOG)
    assert tex.count("\\begin{tikzpicture}") == 2  # the shopping example and sigmoid


def _compile(engine: str, folder: Path) -> str:
    """Compile ``folder/symgrad.tex`` twice (the second run writes the table of contents), check
    the log, and return the PDF's text (a skip when pdftotext is missing: compiled, not read)."""
    for _ in range(2):
        result = subprocess.run(
            [engine, "-interaction=nonstopmode", "-halt-on-error", "symgrad.tex"],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:]
    log = (folder / "symgrad.log").read_text(errors="replace")
    assert "! " not in log and "Undefined control sequence" not in log
    assert "Overfull \\vbox" not in log  # a block taller than the page: its end is cut off
    assert "Missing character" not in log, "a character no font has: it is left out of the PDF"
    assert (folder / "symgrad.pdf").stat().st_size > 10_000
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: compiled, not read back")
    return subprocess.run(
        ["pdftotext", "symgrad.pdf", "-"], capture_output=True, text=True, cwd=folder
    ).stdout


def test_pdflatex_compiles_the_document(tmp_path: Path) -> None:
    pdflatex = _engine("pdflatex")
    shutil.copy(DERIVATIONS / "symgrad.tex", tmp_path)
    shown = _compile(pdflatex, tmp_path)
    assert not set("¡¿") & set(shown), "a raw < or > in running text (OT1 prints ¡ ¿)"
    assert "mask x <= 0" in shown and "where |x - t| < δ" in shown


def test_unwritable_output_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, "-m", "symgrad", "doc", "-o", str(blocker / "sub")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot write" in result.stderr


def test_a_failed_write_leaves_the_old_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "book"
    docs.write(target, {"old.md": "old"})
    before = {p.name: p.read_text() for p in target.iterdir()}
    real_fsync = os.fsync
    calls = []

    def flaky(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky)
    with pytest.raises(SymgradError, match="cannot write"):
        docs.write(target, {"a.md": "1", "b.md": "2", "c.md": "3", "d.md": "4"})
    assert {p.name: p.read_text() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["book"]


def test_a_layer_that_fails_to_derive_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    code = (
        "import sys, symgrad.docs as d\n"
        "def boom(specs):\n"
        "    raise ZeroDivisionError('division by zero in Softmax')\n"
        "d.render = boom\n"
        "from symgrad.cli import main\n"
        "sys.exit(main(['doc', '-o', sys.argv[1]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "/tmp/never-written"], capture_output=True, text=True
    )
    assert result.returncode == 2
    message = "cannot render the derivations: ZeroDivisionError: division by zero in Softmax"
    assert result.stderr.strip().splitlines() == [f"symgrad: error: {message}"]
    assert not Path("/tmp/never-written").exists()


# --- the book in Japanese, Chinese and Korean -----------------------------------------------------

SIGMOID_WORDS = {"ja": "順伝播", "zh": "正向传播", "ko": "순전파"}
REGION = {"ja": "JP", "zh": "SC", "ko": "KR"}


def _cjk_engine(lang: str) -> str:
    """xelatex with xeCJK and the Noto CJK font of ``lang``; a skip locally, a failure under CI."""
    xelatex = _engine("xelatex")
    missing = []
    if (
        not shutil.which("kpsewhich")
        or subprocess.run(["kpsewhich", "xeCJK.sty"], capture_output=True, text=True).stdout.strip()
        == ""
    ):
        missing.append("xeCJK (texlive-lang-cjk, texlive-lang-chinese)")
    fonts = subprocess.run(["fc-list"], capture_output=True, text=True).stdout
    if f"Noto Serif CJK {REGION[lang]}" not in fonts:
        missing.append("Noto CJK fonts (fonts-noto-cjk)")
    if missing:
        message = f"{', '.join(missing)} not installed (.ci/run installs them with apt-get)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return xelatex


@pytest.mark.parametrize("lang", ["ja", "zh", "ko"])
def test_translated_book_compiles_with_xelatex(lang: str, tmp_path: Path) -> None:
    """The book in that language (``symgrad doc --lang``): its LaTeX compiles with xeCJK,
    every CJK character found in a font, and the Sigmoid page reads in that language."""
    xelatex = _cjk_engine(lang)
    docs.write(tmp_path, docs.render(list(symgrad.catalog.values()), lang=lang))  # in-process:
    # the derivations and checks of the English book are reused (doc --lang is test_i18n's)
    tex = (tmp_path / "symgrad.tex").read_text(encoding="utf-8")
    assert tex.startswith("% !TEX program = xelatex") and f"Noto Serif CJK {REGION[lang]}" in tex
    assert SIGMOID_WORDS[lang] in (tmp_path / "Sigmoid.md").read_text(encoding="utf-8")
    assert SIGMOID_WORDS[lang] in _compile(xelatex, tmp_path)


def test_translated_book_check_and_the_committed_one_stays_english(tmp_path: Path) -> None:
    ja = docs.render([symgrad.catalog["Sigmoid"]], lang="ja")
    en = docs.render([symgrad.catalog["Sigmoid"]], lang="en")
    assert "順伝播" in ja["Sigmoid.md"] and "順伝播" not in en["Sigmoid.md"]
    assert (DERIVATIONS / "Sigmoid.md").read_text(encoding="utf-8").count("forward") > 0
    docs.write(tmp_path, ja)
    assert docs.stale(tmp_path, ja) == [] and docs.stale(tmp_path, en) != []
