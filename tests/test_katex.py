"""Every LaTeX fragment symgrad emits must render in KaTeX's strict mode.

All fragments (each catalog layer's ``latex()`` and every ``$...$`` / ``$$...$$`` of its
``markdown()``) and a few broken controls go to KaTeX in one ``node`` run. KaTeX lives in
``tools/katex``; a fresh checkout installs it here with ``npm ci``. Without ``node``/``npm``
the tests are skipped, except under ``CI=true``, where a missing engine fails them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import symgrad
from symgrad import katex

CATALOG = list(symgrad.catalog)
TRANSLATED = ("ja", "zh", "ko")

# Broken input KaTeX must reject: proves the checker really checks (and is in strict mode).
NEGATIVE_CONTROLS = {
    "unbalanced brace": (r"\frac{1}{2", False),
    "unknown macro": (r"\foo", False),
    "mismatched environment": (r"\begin{aligned} x \end{cases}", True),
    "unicode in math (strict)": ("ReLU′(0)", False),
}
POSITIVE_CONTROL = (r"\frac{\partial L}{\partial x} = \left(1 - y\right) y", False)


# --- Markdown math extraction ---------------------------------------------------------------------


@dataclass(frozen=True)
class Math:
    tex: str
    display: bool
    line: int  # 1-based line of the Markdown where the fragment starts


def _code_span_end(text: str, i: int) -> int:
    """Index after the code span opening at ``text[i]`` (a backtick run), or after the run."""
    n = len(text) - len(text[i:].lstrip("`"))
    ticks = text[i : i + n]
    j = i + n
    while True:
        k = text.find(ticks, j)
        if k < 0:
            return i + n  # no closing run: the backticks are literal
        m = k + len(text[k:]) - len(text[k:].lstrip("`"))
        if m - k == n:
            return m
        j = m


def inline_math(text: str, line: int, problems: list[str]) -> list[Math]:
    """``$...$`` (and same-line ``$$...$$``) spans of one line or table cell, outside code spans."""
    found: list[Math] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2  # an escaped character (``\$`` is a literal dollar)
        elif c == "`":
            i = _code_span_end(text, i)
        elif c == "$":
            delim = "$$" if text.startswith("$$", i) else "$"
            j = i + len(delim)
            while j < len(text) and not text.startswith(delim, j):
                j += 2 if text[j] == "\\" else 1  # skip escaped pairs such as \$ and \\
            if j >= len(text):
                problems.append(f"line {line}: unterminated {delim} in {text.strip()!r}")
                return found
            found.append(Math(text[i + len(delim) : j], delim == "$$", line))
            i = j + len(delim)
        else:
            i += 1
    return found


def table_cells(row: str) -> list[str]:
    """The cells of a GFM table row: split at unescaped ``|``, then ``\\|`` becomes ``|``.

    GFM splits cells before it looks at inline code or math, so a raw ``|`` inside ``$...$``
    ends the cell (and breaks the math) exactly as it does here.
    """
    cells, cell, i = [], [], 0
    body = row.strip()
    while i < len(body):
        if body.startswith("\\|", i):
            cell.append("|")
            i += 2
        elif body[i] == "|":
            cells.append("".join(cell))
            cell = []
            i += 1
        else:
            cell.append(body[i])
            i += 1
    cells.append("".join(cell))
    if body.startswith("|"):
        cells = cells[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        cells = cells[:-1]
    return cells


def markdown_math(md: str, problems: list[str]) -> list[Math]:
    """Every math fragment of a Markdown document, in order.

    Display math is a ``$$`` line, the lines of LaTeX, and a closing ``$$`` line (or
    ``$$...$$`` on one line); inline math is ``$...$``. Fenced code blocks and code spans are
    skipped; table rows are split into cells first. Malformed math goes to ``problems``.
    """
    found: list[Math] = []
    block: list[str] | None = None
    block_start = 0
    fence: str | None = None
    for n, raw in enumerate(md.splitlines(), start=1):
        stripped = raw.strip()
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        if block is not None:
            if stripped == "$$":
                found.append(Math("\n".join(block), True, block_start))
                block = None
            else:
                block.append(raw)
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif stripped == "$$":
            block, block_start = [], n
        elif stripped.startswith("|"):
            for cell in table_cells(stripped):
                found += inline_math(cell, n, problems)
        else:
            found += inline_math(raw, n, problems)
    if block is not None:
        problems.append(f"line {block_start}: $$ block never closed")
    return found


def test_markdown_math_extraction() -> None:
    md = "\n".join(
        [
            "# T",
            "Costs \\$5, `$not math$` and $a + b$ and $$c$$.",
            "$$",
            r"\begin{aligned} x &= 1 \\ y &= 2 \end{aligned}",
            "$$",
            "```",
            "$code$",
            "```",
            "| `x` | $\\left\\| x \\right\\|$ | 1 | yes |",
            r"- $\text{a \$ sign}$",
        ]
    )
    problems: list[str] = []
    got = [(m.tex, m.display, m.line) for m in markdown_math(md, problems)]
    assert got == [
        ("a + b", False, 2),
        ("c", True, 2),
        (r"\begin{aligned} x &= 1 \\ y &= 2 \end{aligned}", True, 3),
        (r"\left| x \right|", False, 9),
        (r"\text{a \$ sign}", False, 10),
    ]
    assert problems == []
    markdown_math("| $a | b$ |\n$$\nx", problems)  # a raw | splits the cell, as on GitHub
    assert len(problems) == 3


# --- KaTeX ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fragment:
    id: str
    layer: str
    where: str
    tex: str
    display: bool


DERIVATIONS = Path(__file__).resolve().parents[1] / "derivations"


def collect_fragments() -> tuple[list[Fragment], list[str]]:
    fragments: list[Fragment] = []
    problems: list[str] = []
    for name in CATALOG:
        d = symgrad.derive(name)
        latex = d.latex()
        fragments.append(Fragment(f"{name}/latex", name, "latex()", latex, True))
        layer_problems: list[str] = []
        maths = markdown_math(d.markdown(), layer_problems)
        problems += [f"{name}: markdown() {p}" for p in layer_problems]
        if not any(m.display and m.tex == latex for m in maths):
            problems.append(f"{name}: markdown() has no $$ block holding latex()")
        if not any(not m.display for m in maths):
            problems.append(f"{name}: markdown() has no inline $...$ math")
        for k, m in enumerate(maths):
            kind = "$$" if m.display else "$"
            where = f"markdown() line {m.line} {kind}"
            fragments.append(Fragment(f"{name}/md/{k}", name, where, m.tex, m.display))
    for lang in TRANSLATED:  # the words in \text{}, the math as in English
        for name in CATALOG:
            d = symgrad.derive(name)
            fragments.append(
                Fragment(f"{name}/latex/{lang}", name, f"latex({lang})", d.latex(lang=lang), True)
            )
            for k, m in enumerate(markdown_math(d.markdown(lang=lang), problems)):
                where = f"markdown({lang}) line {m.line}"
                fragments.append(Fragment(f"{name}/md/{lang}/{k}", name, where, m.tex, m.display))
    for page in sorted(DERIVATIONS.glob("*.md")):
        page_problems: list[str] = []
        for k, m in enumerate(markdown_math(page.read_text(encoding="utf-8"), page_problems)):
            where = f"line {m.line} {'$$' if m.display else '$'}"
            fragments.append(Fragment(f"{page.name}/{k}", page.name, where, m.tex, m.display))
        problems += [f"{page.name}: {p}" for p in page_problems]
    return fragments, problems


def _engine_reason() -> str | None:
    """Install KaTeX when needed (quietly, at most 180 s); why it is unavailable, or ``None``."""
    try:
        if katex.ensure_katex(install=True, timeout=180) is None:
            return (
                "KaTeX checker unavailable: needs `node` and `npm` on PATH "
                f"(then `npm ci` in {katex.tool_dir()})"
            )
    except RuntimeError as exc:
        return f"KaTeX checker could not be installed: {exc}"
    return None


@dataclass(frozen=True)
class Batch:
    unavailable: str | None  # why KaTeX could not run; then nothing was checked
    problems: tuple[str, ...] = ()  # malformed Markdown math
    checked: tuple[tuple[Fragment, katex.KatexResult], ...] = ()

    def require(self) -> None:
        """Skip without KaTeX, but fail under CI=true."""
        if self.unavailable is None:
            return
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the KaTeX checker. {self.unavailable}", pytrace=False)
        pytest.skip(self.unavailable)

    def result(self, fragment_id: str) -> tuple[Fragment, katex.KatexResult]:
        return next((f, r) for f, r in self.checked if f.id == fragment_id)


@pytest.fixture(scope="module")
def batch() -> Batch:
    """Every fragment and every control, validated in one batched KaTeX run."""
    reason = _engine_reason()
    if reason is not None:
        return Batch(reason)
    fragments, problems = collect_fragments()
    controls = [
        Fragment(f"control/{k}", "control", k, t, d) for k, (t, d) in NEGATIVE_CONTROLS.items()
    ]
    controls.append(Fragment("control/valid", "control", "valid", *POSITIVE_CONTROL))
    todo = fragments + controls
    start = time.perf_counter()
    results = katex.validate([(f.id, f.tex, f.display) for f in todo])
    elapsed = time.perf_counter() - start
    print(f"\nKaTeX {katex.version()}: {len(todo)} fragments in {elapsed * 1000:.0f} ms")
    assert [r.id for r in results] == [f.id for f in todo]
    return Batch(None, tuple(problems), tuple(zip(todo, results)))


def test_katex_rejects_broken_input(batch: Batch) -> None:
    batch.require()
    for label in NEGATIVE_CONTROLS:
        fragment, result = batch.result(f"control/{label}")
        assert not result.ok, f"KaTeX accepted the {label} control {fragment.tex!r}"
        assert result.error
    fragment, result = batch.result("control/valid")
    assert result.ok, f"KaTeX rejected the valid control {fragment.tex!r}: {result.error}"


def test_every_emitted_fragment_renders_in_katex_strict_mode(batch: Batch) -> None:
    batch.require()
    assert not batch.problems, "malformed Markdown math:\n" + "\n".join(batch.problems)
    emitted = [(f, r) for f, r in batch.checked if f.layer != "control"]
    pages = {f"{name}.md" for name in CATALOG}
    assert {f.layer for f, _ in emitted} == set(CATALOG) | pages
    failures = [
        f"{f.layer} [{f.where}]: {r.error}\n    tex: {f.tex!r}" for f, r in emitted if not r.ok
    ]
    assert not failures, (
        f"{len(failures)} of {len(emitted)} fragments fail KaTeX strict mode:\n"
        + "\n".join(failures)
    )
