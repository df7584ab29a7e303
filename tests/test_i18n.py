"""The message catalogues and the choice of language (symgrad.i18n).

The catalogues are checked as a reviewer would: fresh against the source (Babel extracts the
messages again here), every message translated in every language, every placeholder kept, no
English left in a translation, and the book's terms used as the glossary
(``symgrad/locale/glossary.csv``) lists them. A pseudo-translation (every message wrapped in
``[[...]]``) then shows that nothing symgrad prints escapes the catalogue.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad import i18n
from symgrad.errors import SymgradError

ROOT = Path(__file__).resolve().parents[1]
TRANSLATED = ("ja", "zh", "ko")
GLOSSARY = ROOT / "symgrad" / "locale" / "glossary.csv"


def _tools() -> object:
    spec = importlib.util.spec_from_file_location("symgrad_i18n_tools", ROOT / "tools" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOLS = _tools()


def _messages(lang: str) -> list[tuple[str | tuple[str, ...], str | tuple[str, ...]]]:
    """(msgid, msgstr) of every message of ``lang``'s catalogue, plural forms as tuples."""
    catalog = TOOLS.read(TOOLS.po_path(lang), lang)
    return [(m.id, m.string) for m in catalog if m.id]


def _forms(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


# --- the catalogues -------------------------------------------------------------------------------


def test_catalogues_are_fresh() -> None:
    """symgrad.pot holds exactly the marked messages; each .po has them; each .mo is its .po."""
    stale = [str(p.relative_to(ROOT)) for p in TOOLS.stale()]
    assert stale == [], f"stale catalogues {stale}: run python tools/i18n.py"


def test_catalogue_holds_the_step_labels() -> None:
    """The extraction found the sentences of the derivations, the CLI and argparse."""
    ids = {m.id for m in TOOLS.extract() if m.id}
    for message in (
        "forward",
        "local derivatives, multiplied from the back",
        "chosen form, proven equal",
        "usage: ",
        "list the catalog's layers",
    ):
        assert message in ids
    assert len(ids) > 300


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_translated(lang: str) -> None:
    catalog = TOOLS.read(TOOLS.po_path(lang), lang)
    missing = [m.id for m in catalog if m.id and not all(_forms(m.string))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [], f"{len(missing)} messages untranslated in {lang}: {missing[:5]}"
    assert fuzzy == [], f"fuzzy translations in {lang}: {fuzzy[:5]}"


def _fields(text: str) -> list[str]:
    """The ``{name}`` fields of a str.format template (with their specs) and its %-fields."""
    fields = sorted(
        f"{{{name}{':' + spec if spec else ''}}}"
        for _, name, spec, _ in string.Formatter().parse(text)
        if name is not None
    )
    return fields + sorted(re.findall(r"%(?:\([a-z_]+\))?[rsd]", text))


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_kept(lang: str) -> None:
    """Each translation has the fields of its message, no more, no fewer: a lost ``{path}``
    would print nothing where the path belongs, an extra one raise KeyError."""
    wrong = []
    for msgid, msgstr in _messages(lang):
        want = _fields(_forms(msgid)[-1])
        for form in _forms(msgstr):
            if _fields(form) != want and _fields(form) != _fields(_forms(msgid)[0]):
                wrong.append((msgid, form))
        if "%" not in _forms(msgid)[0] and any("%" in f for f in _forms(msgstr)):
            wrong.append((msgid, "a bare % (argparse %-formats help text)"))
    assert wrong == [], f"{lang}: placeholders changed: {wrong[:5]}"


def test_placeholder_check_catches_a_lost_field() -> None:
    assert _fields("cannot read {path}: {reason}") != _fields("{path} を読めません")
    assert _fields("%(prog)s: %s") == _fields("%s %(prog)s")


# Words a translation may keep in Latin letters: names, units of code, what the reader types.
_ALLOWED = """
    NumPy SymPy PyTorch JAX KaTeX LaTeX TikZ Markdown SVG GitHub CuPy Babel Jupyter mpmath
    latexify latexify-py numpy torch jax array-api array api_strict gradcheck pdflatex xelatex
    xeCJK Noto CJK UTF Python CPU GPU Heaviside ReLU sign exp log tanh sqrt erf erfc max min sum
    mean nan inf dout float32 float64 bfloat16 dtype autograd Function Functions Module Modules
    custom_vjp check_grads Piecewise FILE CLASS NAME VALUE EXPR DIR VAR NUMBER COMMAND stdout
    stderr SYMGRAD_LANG SYMGRAD_DEBUG symgrad lambda abs none True False None elif else def
"""
ALLOWED = {*_ALLOWED.split(), *symgrad.catalog}


def _latin_words(text: str) -> list[str]:
    """Latin-letter words of a translation outside placeholders, code spans, options
    (``--lang``), quoted code and formulas (words joined to digits, ``_``, ``.``, ``(``)."""
    text = re.sub(r"\{[^{}]*\}|`[^`]*`|%\([a-z_]+\)[rsd]|%[rsd]", " ", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"|--?[A-Za-z][\w-]*", " ", text)
    words = re.findall(r"(?<![\w.=\[/\\-])[A-Za-z]{3,}(?![\w.(\[=/-])", text)
    return [w for w in words if w not in ALLOWED and w.lower() not in ALLOWED]


def _code_words(msgid: str) -> set[str]:
    """Words of the English message that are code there: in a code span or a formula."""
    spans = re.findall(r"`[^`]*`|'[^']*'|\"[^\"]*\"|\S*[=()\[\]_*/^.]\S*|\w+ =", msgid)
    return {w for span in spans for w in re.findall(r"[A-Za-z]+", span)}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_english_left(lang: str) -> None:
    """A translation holds no English word, except names and code the message itself holds."""
    left = []
    for msgid, msgstr in _messages(lang):
        code = _code_words(" ".join(_forms(msgid)))
        for form in _forms(msgstr):
            words = [w for w in _latin_words(form) if w not in code]
            if words:
                left.append((msgid, words))
    assert left == [], f"{lang}: English left in {len(left)} translations: {left[:8]}"


def test_english_left_is_found() -> None:
    assert _latin_words("順伝播 (forward), {path}: `np.exp` --lang NumPy") == ["forward"]


# --- the glossary ---------------------------------------------------------------------------------


def _glossary() -> list[dict[str, str]]:
    with open(GLOSSARY, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_glossary_is_complete() -> None:
    rows = _glossary()
    assert {"backpropagation", "computational graph", "chain rule", "local computation"} <= {
        r["en"] for r in rows
    }
    for row in rows:
        for lang in TRANSLATED:
            assert row[lang].strip(), f"glossary: {row['en']} has no {lang} term"
    by_term = {r["en"]: r for r in rows}
    assert by_term["forward"]["ja"].split("|")[0] == "順伝播"
    assert by_term["backward"]["zh"].split("|")[0] == "反向传播"
    assert by_term["chain rule"]["ko"] == "연쇄법칙"


def _uses(msgid: str, term: str) -> bool:
    """``term`` (or its plural) is a word of the English prose of ``msgid``: not in a
    placeholder, a code span, an option (``--output``) or an identifier (``backward(dout)``)."""
    prose = re.sub(r"\{[^{}]*\}|`[^`]*`|'[^']*'|--?[\w-]+|\w+\(", " ", msgid)
    return re.search(rf"(?<![\w.-]){re.escape(term)}(?:s|es)?(?![\w(=-])", prose, re.I) is not None


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_use_the_glossary(lang: str) -> None:
    """Where a message uses a term of the book, its translation uses the book's word for it."""
    wrong, checked = [], 0
    rows = _glossary()
    for msgid, msgstr in _messages(lang):
        english = _forms(msgid)[0]
        for row in rows:
            if not _uses(english, row["en"]):
                continue
            checked += 1
            variants = row[lang].split("|")
            for form in _forms(msgstr):
                if not any(v in form for v in variants):
                    wrong.append((english, row["en"], form))
    assert checked > 200, f"only {checked} uses of a glossary term found: the check is idle"
    assert wrong == [], f"{lang}: {len(wrong)} translations miss the glossary's term: {wrong[:6]}"


def test_glossary_check_reads_prose_only() -> None:
    assert _uses("the output is named twice", "output")
    assert not _uses("--output-name is given twice", "output")
    assert not _uses("`forward` saves", "forward")
    assert _uses("two layers", "layer")


# --- choosing the language ------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (i18n.ENV, "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    i18n.set_language(None)
    yield monkeypatch
    i18n.set_language(None)


def test_default_is_english(clean_env: pytest.MonkeyPatch) -> None:
    assert i18n.current() == "en"
    assert i18n.tr("forward") == "forward"


@pytest.mark.parametrize(
    ("value", "lang"),
    [
        ("ja_JP.UTF-8", "ja"),
        ("zh_CN.UTF-8", "zh"),
        ("zh_TW", "zh"),
        ("ko_KR.UTF-8", "ko"),
        ("C.UTF-8", "en"),
        ("POSIX", "en"),
        ("fr_FR.UTF-8", "en"),
        ("de_DE@euro", "en"),
    ],
)
def test_locale(clean_env: pytest.MonkeyPatch, value: str, lang: str) -> None:
    clean_env.setenv("LANG", value)
    assert i18n.current() == lang


def test_locale_order_is_gettexts(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LANG", "ko_KR.UTF-8")
    clean_env.setenv("LC_ALL", "ja_JP.UTF-8")
    assert i18n.current() == "ja"
    clean_env.setenv("LANGUAGE", "fr:zh_CN:en")
    assert i18n.current() == "zh"


def test_precedence(clean_env: pytest.MonkeyPatch) -> None:
    """lang= over set_language over SYMGRAD_LANG over the locale."""
    clean_env.setenv("LANG", "ko_KR.UTF-8")
    clean_env.setenv(i18n.ENV, "zh")
    assert i18n.current() == "zh"
    i18n.set_language("ja")
    assert i18n.current() == "ja"
    with i18n.language("ko"):
        assert i18n.tr("forward") == "순전파"
    assert i18n.tr("forward", lang="zh") == "正向传播"
    assert i18n.tr("forward") == "順伝播"


@pytest.mark.parametrize("bad", ["fr", "jp", "", "english"])
def test_unknown_language_is_refused(clean_env: pytest.MonkeyPatch, bad: str) -> None:
    with pytest.raises(SymgradError, match="unknown language"):
        i18n.resolve(bad)
    with pytest.raises(SymgradError, match="unknown language"):
        symgrad.derive("Sigmoid").latex(lang=bad)


def test_bad_environment_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(i18n.ENV, "fr")
    with pytest.raises(SymgradError, match="SYMGRAD_LANG='fr' is not a language"):
        i18n.current()


@pytest.mark.parametrize("lang", TRANSLATED)
def test_derivation_in_each_language(clean_env: pytest.MonkeyPatch, lang: str) -> None:
    d = symgrad.derive("Sigmoid")
    words = {
        "ja": ("順伝播", "局所的な微分"),
        "zh": ("正向传播", "局部导数"),
        "ko": ("순전파", "국소적 미분"),
    }[lang]
    for rendered in (d.latex(lang=lang), d.markdown(lang=lang), d.text(lang=lang)):
        assert any(w in rendered for w in words)
        assert "local derivatives" not in rendered
        assert "forward" not in rendered.replace("`forward`", "")
    assert d.latex() == d.latex(lang="en")  # lang= changed nothing for later calls
    assert "forward" in d.latex()


def test_set_language_drives_jupyter_display(clean_env: pytest.MonkeyPatch) -> None:
    d = symgrad.derive("Sigmoid")
    symgrad.set_language("ko")
    assert "순전파" in d._repr_latex_() and "순전파" in d._repr_markdown_()
    symgrad.set_language(None)
    assert "forward" in d._repr_latex_()


# --- the command line -----------------------------------------------------------------------------


def _symgrad(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    full = {k: v for k, v in os.environ.items() if k not in (i18n.ENV, "LANGUAGE", "LC_ALL")}
    full |= {"LANG": "C.UTF-8", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "symgrad", *args], capture_output=True, text=True, env=full
    )


def test_cli_derive_in_japanese() -> None:
    run = _symgrad("derive", "Sigmoid", "--lang", "ja")
    assert run.returncode == 0, run.stderr
    assert "順伝播" in run.stdout and "forward:" not in run.stdout
    assert run.stdout == _symgrad("--lang=ja", "derive", "Sigmoid").stdout
    assert run.stdout == _symgrad("derive", "Sigmoid", env={"SYMGRAD_LANG": "ja"}).stdout
    assert run.stdout == _symgrad("derive", "Sigmoid", env={"LANG": "ja_JP.UTF-8"}).stdout


@pytest.mark.parametrize("command", ["list", "derive", "codegen", "check", "graph", "doc"])
def test_every_command_takes_lang(command: str) -> None:
    run = _symgrad(command, "--help", "--lang", "zh")
    assert run.returncode == 0, run.stderr
    assert "用法" in run.stdout and "--lang" in run.stdout
    assert "show this help message" not in run.stdout


def test_cli_errors_in_the_language() -> None:
    run = _symgrad("derive", "NoSuchLayer", "--lang", "ko")
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and "NoSuchLayer" in run.stderr
    assert not re.search(r"\bunknown\b|\blayer\b", run.stderr)
    run = _symgrad("derive", "--no-such-option", "--lang", "ja")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "unrecognized arguments" not in run.stderr


@pytest.mark.parametrize(
    ("args", "env"), [(("--lang", "fr", "list"), {}), (("list",), {"SYMGRAD_LANG": "klingon"})]
)
def test_cli_unknown_language(args: tuple[str, ...], env: dict[str, str]) -> None:
    run = _symgrad(*args, env=env)
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert "en, ja, zh, ko" in run.stderr and "Traceback" not in run.stderr


# --- nothing printed escapes the catalogue --------------------------------------------------------

OPEN, CLOSE = "XQX", "XJX"  # letters: they survive LaTeX and Markdown escaping unchanged
_MATH_WORDS = """aligned cases underbrace operatorname mathsf mathbb text frac partial left
    right cdot exp log sqrt tanh erf erfc sigmoid softplus argmax mean piecewise KroneckerDelta
    Abs sign max min sum dout"""
MATH_WORDS = set(_MATH_WORDS.split())


class _Pseudo:
    """A catalogue that marks every message it is asked for: what is printed unmarked was
    never looked up, so a reader of another language would see it in English."""

    def gettext(self, message: str) -> str:
        return OPEN + message + CLOSE

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return OPEN + (singular if n == 1 else plural) + CLOSE


@pytest.fixture
def pseudo(monkeypatch: pytest.MonkeyPatch) -> None:
    real = i18n._catalogue
    monkeypatch.setattr(i18n, "_catalogue", lambda lang: _Pseudo() if lang == "ja" else real(lang))
    i18n.set_language("ja")
    yield
    i18n.set_language(None)


def _unmarked(text: str, allowed: set[str]) -> list[str]:
    """English words outside the marks, outside code blocks, LaTeX commands and ``allowed``."""
    previous = None
    while previous != text:  # innermost first: a message formatted into another
        previous = text
        text = re.sub(rf"{OPEN}(?:(?!{OPEN}).)*?{CLOSE}", " ", text, flags=re.S)
    text = re.sub(r"```.*?```|\\begin\{verbatim\}.*?\\end\{verbatim\}", " ", text, flags=re.S)
    text = re.sub(r"\\[A-Za-z]+|<[^>]*>|`[^`]*`|--[\w-]+", " ", text)
    words = re.findall(r"(?<![\\\w])[A-Za-z]{4,}\b", text)
    return sorted({w for w in words if w not in allowed and w.lower() not in allowed})


def _names(spec: object) -> set[str]:
    names = set(re.findall(r"[A-Za-z_]\w*", repr(spec)))
    names |= {part for n in names for part in n.split("_")}
    return names | {f"d{n}" for n in names} | set(symgrad.catalog) | MATH_WORDS


@pytest.mark.parametrize("name", list(symgrad.catalog))
def test_every_derivation_sentence_is_looked_up(pseudo: None, name: str) -> None:
    d = symgrad.derive(name)
    for fmt in ("text", "markdown", "latex"):
        left = _unmarked(getattr(d, fmt)(), _names(d.spec))
        assert left == [], f"{name}.{fmt}() prints untranslated: {left}"


def test_reports_and_tables_are_looked_up(pseudo: None) -> None:
    from symgrad import textbook
    from symgrad.check import run
    from symgrad.evaluation import evaluate_graph
    from symgrad.figures import graph_svg
    from symgrad.verify import GradcheckError, InPlaceWarning

    text, _ = run(["Sigmoid", "Affine"])
    assert _unmarked(text, _names(symgrad.catalog["Affine"])) == []
    with pytest.warns(InPlaceWarning) as warned:  # the book's Relu writes into dout
        report = symgrad.gradcheck(textbook.Relu(), np.array([[1.0, -2.0], [3.0, -4.0]]))
    assert _unmarked(str(report.message()), MATH_WORDS) == []
    assert _unmarked(str(warned[0].message), {"Relu", "dout"}) == []

    class Wrong(textbook.Relu):
        def backward(self, dout):  # a factor 2 too large
            return 2 * super().backward(dout)

    with pytest.raises(GradcheckError) as err, pytest.warns(InPlaceWarning):
        symgrad.gradcheck(Wrong(), np.array([[1.0, -2.0], [3.0, -4.0]]))
    assert _unmarked(str(err.value), MATH_WORDS | {"Wrong", "Relu"}) == []
    graph = evaluate_graph("y = 1/(1 + exp(-x))", ["x=0"])
    assert _unmarked(graph.text(), MATH_WORDS) == []
    assert _unmarked(graph_svg(graph), MATH_WORDS | {"http", "www", "svg"}) == []


@pytest.mark.parametrize(
    "command", [[], ["list"], ["derive"], ["codegen"], ["check"], ["graph"], ["doc"]]
)
def test_help_is_looked_up(pseudo: None, command: list[str], capsys: pytest.CaptureFixture) -> None:
    from symgrad.cli import main

    with pytest.raises(SystemExit):
        main([*command, "--help"])
    shown = capsys.readouterr().out
    allowed = {"symgrad", "COMMAND", "NAME", "FILE", "EXPR", "DIR", "VALUE", "VAR", "list"}
    allowed |= {"derive", "codegen", "check", "graph", "doc", "text", "latex", "markdown"}
    allowed |= {"numpy", "torch", "array", "help", "lang", "shape", "fast", "output", "name"}
    assert _unmarked(shown, allowed) == []


def test_errors_are_looked_up(pseudo: None) -> None:
    for bad in ("x +* 1", "import os", "x ** "):
        with pytest.raises(SymgradError) as err:
            symgrad.parse_expr(bad)
        assert _unmarked(str(err.value), {"import"}) == [], bad
    with pytest.raises(SymgradError) as err:
        symgrad.derive("Sigmoidd")
    assert _unmarked(str(err.value), {"Sigmoidd"} | set(symgrad.catalog)) == []


def test_documents_are_looked_up(pseudo: None) -> None:
    from symgrad import docs

    specs = [symgrad.catalog[n] for n in ("Sigmoid", "Affine", "Pooling")]
    for path, text in docs.render(specs, lang="ja").items():
        if path.endswith(".tex"):  # the text of the document, not its preamble or TikZ code
            text = text.partition("\\begin{document}")[2]
            for env in ("tikzpicture", "verbatim"):
                text = re.sub(rf"\\begin\{{{env}\}}.*?\\end\{{{env}\}}", " ", text, flags=re.S)
            text = re.sub(r"\\(begin|end)\{\w+\}(\{[^}]*\})?", " ", text)
        allowed = {n for s in specs for n in _names(s)} | {"svg", "index", "http", "www"}
        allowed |= {"symgrad", "latexify", "tikz", "arrows", "meta", "positioning", "margin"}
        left = _unmarked(text, allowed)
        assert left == [], f"{path}: {left}"


def test_every_marked_literal_is_extracted() -> None:
    """Babel reads no call inside an f-string's braces: a ``tr("...")`` there would print in
    English whatever the language. Every literal passed to tr, tr_n, N_ or Nn_ is in the
    template."""
    import ast

    ids = {m.id for m in TOOLS.extract() if m.id}
    flat = {i for i in ids if isinstance(i, str)} | {
        x for i in ids if isinstance(i, tuple) for x in i
    }
    missing = []
    for path in sorted((ROOT / "symgrad").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ("tr", "tr_n", "N_", "Nn_") or not node.args:
                continue
            for arg in node.args[: 2 if node.func.id in ("tr_n", "Nn_") else 1]:
                if isinstance(arg, ast.Constant) and arg.value not in flat:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {arg.value!r}")
    assert missing == []


def test_cli_doc_in_korean(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``doc --lang ko`` in-process (the derivations cached by the other tests are reused)."""
    from symgrad.cli import main

    book = str(tmp_path / "book")
    assert main(["doc", "--lang", "ko", "-o", book]) == 0
    assert "순전파" in (tmp_path / "book" / "Sigmoid.md").read_text(encoding="utf-8")
    assert "파일" in capsys.readouterr().out  # "wrote N files to ..." in Korean
    assert main(["doc", "--check", "--lang", "ko", "-o", book]) == 0
    assert main(["doc", "--check", "-o", book]) == 1  # the English book is not this one
    assert "stale" in capsys.readouterr().err


# --- CJK in a browser -----------------------------------------------------------------------------

PAIRS = {"ja": ("順伝播", "逆伝播"), "zh": ("正向传播", "反向传播"), "ko": ("순전파", "역전파")}


def _chromium() -> str:
    import os
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "headless Chromium is not installed (.ci/run installs it with apt-get)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _shot(chromium: str, svg: str, path: Path) -> bytes:
    path.with_suffix(".svg").write_text(svg, encoding="utf-8")
    run = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={path}",
            "--window-size=240,60",
            path.with_suffix(".svg").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and path.exists(), run.stderr[-2000:]
    return path.read_bytes()


@pytest.mark.parametrize("lang", TRANSLATED)
def test_figure_fonts_render_cjk_in_a_browser(lang: str, tmp_path: Path) -> None:
    """A figure's ``<svg>`` (its font stack and ``xml:lang``) drawn by headless Chromium: the
    glossary's forward and backward words come out as different pictures. Where no font has
    the characters, both are rows of the same empty boxes (tofu), and the pictures are equal."""
    from symgrad.figures import Box, svg_root

    chromium = _chromium()
    with i18n.language(lang):
        root = svg_root(Box(0, 0, 240, 60))
    assert f'xml:lang="{lang}"' in root

    def figure(words: str) -> str:
        text = f'<text x="10" y="40" font-size="28">{words}</text>' if words else ""
        return f'{root}<rect x="0" y="0" width="240" height="60" fill="white"/>{text}</svg>'

    first, second = PAIRS[lang]
    shots = [_shot(chromium, figure(w), tmp_path / f"{k}.png") for k, w in enumerate(PAIRS[lang])]
    blank = _shot(chromium, figure(""), tmp_path / "blank.png")
    assert shots[0] != blank and shots[1] != blank, "nothing drawn"
    assert shots[0] != shots[1], f"{first} and {second} look the same: tofu, no CJK font"


def test_readme_shows_the_japanese_derivation() -> None:
    """The README's ``symgrad derive Sigmoid --lang ja`` block is what the command prints."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ symgrad derive Sigmoid --lang ja\n", 1)[1].split("```", 1)[0]
    run = _symgrad("derive", "Sigmoid", "--lang", "ja")
    assert run.returncode == 0 and block == run.stdout
