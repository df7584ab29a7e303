"""Validate LaTeX math with KaTeX in strict mode, many fragments in one ``node`` process.

The checker lives in the repository, not in the package: ``tools/katex`` holds a pinned KaTeX
(``package.json`` and its lockfile) and ``check.js``, which reads a JSON array of fragments on
stdin and writes one result per fragment. It needs ``node`` on ``PATH`` and, once,
``npm ci`` in ``tools/katex`` (:func:`ensure_katex` can run it). Standard library only.

Usage, from a checkout (not a doctest: it needs ``node``)::

    from symgrad import katex

    if katex.ensure_katex(install=True) is not None:
        [result] = katex.validate([("half", r"\\frac{1}{2}", False)])
        assert result.ok, result.error
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from symgrad.i18n import tr

__all__ = ["KatexResult", "ensure_katex", "find_katex", "tool_dir", "validate", "version"]

#: Seconds allowed for ``npm ci`` by :func:`ensure_katex`.
INSTALL_TIMEOUT = 180.0
#: Seconds allowed for one batched run of ``check.js``.
CHECK_TIMEOUT = 120.0


@dataclass(frozen=True)
class KatexResult:
    """KaTeX's verdict on one fragment: ``error`` is KaTeX's message when ``ok`` is false."""

    id: str
    ok: bool
    error: str | None


def tool_dir() -> Path:
    """``tools/katex`` of the repository this module lives in (it may not exist)."""
    return Path(__file__).resolve().parent.parent / "tools" / "katex"


def find_katex() -> Path | None:
    """The ``tools/katex`` directory when the checker can run there, else ``None``.

    It can run when ``check.js`` and ``node_modules/katex`` are there and ``node`` is on ``PATH``.
    """
    tools = tool_dir()
    if shutil.which("node") is None:
        return None
    if not (tools / "check.js").is_file():
        return None
    if not (tools / "node_modules" / "katex" / "package.json").is_file():
        return None
    return tools


def ensure_katex(install: bool = False, timeout: float = INSTALL_TIMEOUT) -> Path | None:
    """Like :func:`find_katex`, but with ``install`` run ``npm ci`` first when KaTeX is missing.

    Returns ``None`` when ``node`` or ``npm`` is missing, when ``tools/katex`` (with its lockfile)
    is not there, or when KaTeX is missing and ``install`` is false. Raises :class:`RuntimeError`
    (one line) when ``npm ci`` fails or runs past ``timeout`` seconds. The install is quiet: its
    output is captured and only the last line of an error is reported.
    """
    found = find_katex()
    if found is not None or not install:
        return found
    tools = tool_dir()
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    if not (tools / "package-lock.json").is_file() or not (tools / "check.js").is_file():
        return None
    command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    _run(command, tools, None, timeout, f"`npm ci` in {tools}")
    found = find_katex()
    if found is None:
        raise RuntimeError(
            tr("`npm ci` in {folder} succeeded but node_modules/katex is missing").format(
                folder=tools
            )
        )
    return found


def version() -> str:
    """The version of the KaTeX that :func:`validate` uses."""
    tools = _require_katex()
    return _run_node(tools, ["--version"], "").strip()


def validate(
    fragments: list[tuple[str, str, bool]], timeout: float = CHECK_TIMEOUT
) -> list[KatexResult]:
    """Render each ``(id, tex, display)`` with KaTeX in strict mode, all in one ``node`` run.

    Returns one :class:`KatexResult` per fragment, in order. Raises :class:`RuntimeError` (one
    line) when the checker is not installed or ``node`` fails to run it.
    """
    items = [{"id": str(i), "tex": str(tex), "display": bool(disp)} for i, tex, disp in fragments]
    if not items:
        return []
    tools = _require_katex()
    out = _run_node(tools, [], json.dumps(items), timeout)
    try:
        raw = json.loads(out)
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            tr("check.js wrote something that is not JSON: {reason}").format(reason=exc)
        ) from None
    if not isinstance(raw, list) or [r.get("id") for r in raw] != [i["id"] for i in items]:
        raise RuntimeError(tr("check.js did not answer one result per fragment, in order"))
    return [KatexResult(id=r["id"], ok=bool(r["ok"]), error=r.get("error")) for r in raw]


def _require_katex() -> Path:
    tools = find_katex()
    if tools is None:
        raise RuntimeError(
            tr("KaTeX is not available: needs `node` on PATH and `npm ci` in {folder}").format(
                folder=tool_dir()
            )
        )
    return tools


def _run_node(tools: Path, args: list[str], stdin: str, timeout: float = CHECK_TIMEOUT) -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(tr("`node` is not on PATH"))
    return _run([node, str(tools / "check.js"), *args], tools, stdin, timeout, "check.js")


def _run(command: list[str], cwd: Path, stdin: str | None, timeout: float, what: str) -> str:
    """Run ``command``; its stdout, or a one-line ``RuntimeError`` saying what went wrong.

    ``what`` names the command, as code (``check.js``, or ``npm ci`` in a folder): it is not
    translated."""
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            tr("{command} ran past {seconds:g} s").format(command=what, seconds=timeout)
        ) from None
    except OSError as exc:
        raise RuntimeError(
            tr("cannot run {command}: {reason}").format(command=what, reason=exc)
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(
            tr("{command} exited {status}: {reason}").format(
                command=what,
                status=proc.returncode,
                reason=_error_line(proc.stderr, proc.stdout),
            )
        )
    return proc.stdout


def _error_line(*texts: str) -> str:
    """One line that says what went wrong, from a failed command's stderr and stdout.

    The first line that names an error (npm's ``npm error ...``, node's ``Error: ...``,
    ``check.js: ...``), else the last non-blank line; whitespace collapsed.
    """
    lines = [" ".join(line.split()) for text in texts for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if "complete log" in line or line.startswith(("at ", "Node.js v")):
            continue
        if line.startswith("check.js:") or re.search(r"\b(error|ERR!)\b|Error\b", line):
            return line
    return lines[-1] if lines else tr("no output")
