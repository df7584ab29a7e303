"""A NumPy method body as the body of a function: ``self.<name>`` read and written as the
function's own names, then rewritten in a dialect (:mod:`symgrad.dialects`).

``names`` maps each attribute to what stands for it (``"W"``, ``"ctx.x_shape"``); an attribute
outside it is an error, so nothing the class reads is dropped unseen. A local that rebinds a
name that also stands for an attribute (PReLU's ``alpha = np.reshape(alpha, ...)`` beside a
later ``np.ndim(self.alpha)``) is renamed ``alpha_`` from there on, so that ``self.alpha`` still
means the argument.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable

from symgrad.dialects import Rewriter
from symgrad.errors import SymgradError
from symgrad.i18n import tr


def lower(
    body: list[ast.stmt],
    names: dict[str, str],
    rewriter: Rewriter,
    on_return: Callable[[ast.Return, bool], list[ast.stmt]] | None = None,
    drop: Callable[[ast.stmt], bool] | None = None,
    fixed: frozenset[str] = frozenset(),
) -> list[ast.stmt]:
    """``body`` with ``self.`` replaced by ``names``, trivial ``x = x`` dropped, each ``return``
    given to ``on_return(node, is_last)`` and statements ``drop`` says so removed; a local
    rebinding a name in ``fixed`` (a parameter, saved as it came in) is always renamed."""
    body = [copy.deepcopy(s) for s in body]
    body = _rename_rebound(body, set(names.values()), fixed)
    out = _Self(names).run(body)
    out = [rewriter.visit(s) for s in out]
    out = _flatten(out)
    return _returns(out, on_return, drop, top=True)


class _Self(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def run(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out = []
        for s in body:
            s = self.visit(s)
            if s is not None:
                out.append(s)
        return out

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            if node.attr not in self.names:
                raise SymgradError(
                    tr("the generated class reads self.{name}, which has no form").format(
                        name=node.attr
                    )
                )
            target = ast.parse(self.names[node.attr], mode="eval").body
            if isinstance(target, ast.Name | ast.Attribute):
                target.ctx = node.ctx
            return target
        return self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST | None:
        node = self.generic_visit(node)  # type: ignore[assignment]
        (target,) = node.targets
        if _same(target, node.value):
            return None
        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
            pairs = [
                (t, v) for t, v in zip(target.elts, node.value.elts, strict=True) if not _same(t, v)
            ]
            if not pairs:
                return None
            if len(pairs) == 1:
                return ast.Assign([pairs[0][0]], pairs[0][1])
            node.targets = [ast.Tuple([t for t, _ in pairs], ast.Store())]
            node.value = ast.Tuple([v for _, v in pairs], ast.Load())
        return node


def _same(a: ast.AST, b: ast.AST) -> bool:
    return isinstance(a, ast.Name | ast.Attribute) and ast.unparse(a) == ast.unparse(b)


def _rename_rebound(
    body: list[ast.stmt], taken: set[str], fixed: frozenset[str] = frozenset()
) -> list[ast.stmt]:
    """Locals that rebind an argument's name (other than ``P = self.P``) while a later
    statement still reads ``self.P``, renamed ``P_`` from there on."""
    renamed: dict[str, str] = {}
    out = []
    for i, s in enumerate(body):
        s = _Loads(renamed).visit(s)
        if isinstance(s, ast.Assign) and len(s.targets) == 1:
            (t,) = s.targets
            if (
                isinstance(t, ast.Name)
                and t.id in taken
                and not _reads_self(s.value, t.id)
                and (t.id in fixed or any(_loads_self(later, t.id) for later in body[i + 1 :]))
            ):
                renamed[t.id] = f"{t.id}_"
                t.id = renamed[t.id]
        out.append(s)
    return out


def _loads_self(s: ast.stmt, name: str) -> bool:
    return any(
        isinstance(n, ast.Attribute)
        and isinstance(n.ctx, ast.Load)
        and isinstance(n.value, ast.Name)
        and n.value.id == "self"
        and n.attr == name
        for n in ast.walk(s)
    )


def _reads_self(value: ast.expr, name: str) -> bool:
    return (
        isinstance(value, ast.Attribute)
        and isinstance(value.value, ast.Name)
        and value.value.id == "self"
        and value.attr == name
    )


class _Loads(ast.NodeTransformer):
    def __init__(self, renamed: dict[str, str]) -> None:
        self.renamed = renamed

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.renamed:
            return ast.Name(self.renamed[node.id], node.ctx)
        return node


def _flatten(body: list) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for s in body:
        if isinstance(s, list):
            out += _flatten(s)
        elif s is not None:
            out.append(s)
    return out


def _returns(
    body: list[ast.stmt],
    on_return: Callable[[ast.Return, bool], list[ast.stmt]] | None,
    drop: Callable[[ast.stmt], bool] | None,
    top: bool,
) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for i, s in enumerate(body):
        if drop is not None and drop(s):
            continue
        if isinstance(s, ast.Return) and on_return is not None:
            out += on_return(s, top and i == len(body) - 1)
            continue
        for name in ("body", "orelse"):
            if hasattr(s, name) and isinstance(getattr(s, name), list):
                inner = _returns(getattr(s, name), on_return, drop, top=False)
                setattr(s, name, inner or ([ast.Pass()] if name == "body" else []))
        out.append(s)
    return out


def early_returns(body: list[ast.stmt]) -> bool:
    """Does ``body`` return anywhere but at its end?"""
    last = body[-1] if body else None
    return any(isinstance(n, ast.Return) and n is not last for s in body for n in ast.walk(s))


def text(body: list[ast.stmt], indent: int = 8) -> list[str]:
    """The statements as source lines at ``indent`` spaces (formatted later)."""
    module = ast.Module(body=body, type_ignores=[])
    ast.fix_missing_locations(module)
    return [(" " * indent + line) if line else "" for line in ast.unparse(module).splitlines()]


def _bare_tuples(source: str) -> str:
    """``W, b = self.W, self.b`` and ``return dx, dW``, not ``ast.unparse``'s
    ``W, b = (self.W, self.b)``: the parentheses around a one-line tuple value dropped.

    >>> _bare_tuples("W, b = (self.W, self.b)\\nreturn (dx, dW)\\nreturn (y,)\\n")
    'W, b = self.W, self.b\\nreturn dx, dW\\nreturn (y,)\\n'
    """
    lines = source.split("\n")
    for node in ast.walk(ast.parse(source)):
        value = getattr(node, "value", None)
        if not isinstance(node, ast.Assign | ast.Return) or not isinstance(value, ast.Tuple):
            continue
        if len(value.elts) < 2 or value.lineno != value.end_lineno:
            continue
        row = lines[value.lineno - 1]
        start, end = value.col_offset, value.end_col_offset
        if row[start] == "(" and row[end - 1] == ")" and row[end:].strip() == "":
            lines[value.lineno - 1] = row[:start] + row[start + 1 : end - 1] + row[end:]
    return "\n".join(lines)


def format_module(source: str) -> str:
    """``source`` laid out by ``ruff format`` (line length 100, no user configuration read):
    the rewritten targets are printed by ``ast.unparse``, which does not wrap long lines."""
    import subprocess

    try:
        from ruff import find_ruff_bin
    except ImportError as err:  # pragma: no cover - ruff is a dependency
        raise SymgradError(
            tr("the framework targets need ruff to lay out code: pip install ruff")
        ) from err
    done = subprocess.run(
        [find_ruff_bin(), "format", "--isolated", "--line-length", "100", "-"],
        input=_bare_tuples(source),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SymgradError(
            tr("the generated module does not parse: {reason}").format(reason=done.stderr.strip())
        )
    return done.stdout
