"""The ``symgrad`` command line. SymPy is imported only inside the subcommands that need it.

Exit status: 0 success, 1 a check failed or a file is stale, 2 bad input (one line on stderr),
130 interrupted, 141 (128 + SIGPIPE, as a shell reports ``cat`` killed by a closed pipe) when
the reader of stdout went away, as ``symgrad check | head -1`` does: then symgrad stops
quietly, with nothing on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from symgrad.errors import SymgradError
from symgrad.i18n import LANGUAGES, language, tr, tr_n

TARGETS = ("numpy", "torch", "jax", "array-api")
STDOUT = "-"  # as a file name: standard output
BROKEN_PIPE = 141
SHAPE = (4, 5)  # check FILE.py:CLASS without --shape


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
    except BrokenPipeError:
        _stdout_to_devnull()
        return BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        lang = _lang_option(argv)
        with language(lang), translated_argparse():
            args = _parser().parse_args(argv)
            with language(args.lang or lang):  # an abbreviation, --lan ja, is read here
                return int(args.func(args))
    except SymgradError as err:
        print(_error_line(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _error_line(err: SymgradError) -> str:
    """``symgrad: error: ...`` in the current language, or in English where the error is that
    the language asked for (``SYMGRAD_LANG=fr``) is not one symgrad speaks."""
    try:
        line = tr("symgrad: error: {message}")
    except SymgradError:
        line = "symgrad: error: {message}"
    return line.format(message=err)


def _lang_option(argv: list[str]) -> str | None:
    """The value of ``--lang``, read before the parser is built so that its help is in that
    language too; the last one given wins, as argparse's would (``--lang=ja`` or ``--lang ja``;
    nothing after ``--``)."""
    lang = None
    for i, word in enumerate(argv):
        if word == "--":
            break
        if word.startswith("--lang="):
            lang = word.partition("=")[2]
        elif word == "--lang" and i + 1 < len(argv):
            lang = argv[i + 1]
    return lang


@contextlib.contextmanager
def translated_argparse() -> Iterator[None]:
    """argparse's own words (``usage:``, ``options``, its errors) from symgrad's catalogue
    (:mod:`symgrad.argparse_messages`): argparse looks up ``_`` and ``ngettext`` in its module
    each time it prints, and this sets them for the command's run."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._ = tr  # type: ignore[attr-defined]
    argparse.ngettext = tr_n  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def _stdout_to_devnull() -> None:
    """The reader is gone: send what is still buffered for stdout nowhere, so that Python's
    final flush does not report the broken pipe on stderr (the recipe of the signal docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr, like every other error."""

    def error(self, message: str) -> NoReturn:
        line = tr("{prog}: error: {message} (see {prog} --help)")
        self.exit(2, line.format(prog=self.prog, message=message) + "\n")

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse swallows OSError here; let a closed pipe after --help reach main like any other
        if message:
            (file or sys.stderr).write(message)


def _parser() -> argparse.ArgumentParser:
    from symgrad import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--lang",
        choices=LANGUAGES,
        help=tr("the language of what symgrad prints (default: $SYMGRAD_LANG, else the locale)"),
    )
    parser = _Parser(
        prog="symgrad",
        description=tr("Derive backpropagation symbolically, show it, generate it, verify it."),
        parents=[common],
    )
    version = tr("show program's version number and exit")
    parser.add_argument(
        "--version", action="version", version=f"symgrad {__version__}", help=version
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    p = command("list", tr("list the catalog's layers"))
    p.set_defaults(func=_cmd_list)

    p = command("derive", tr("print layers' step-by-step derivations"))
    p.add_argument("names", nargs="*", metavar="NAME", help=tr("catalog layers"))
    _expr_options(p)
    p.add_argument(
        "--format",
        choices=("text", "latex", "markdown"),
        default="text",
        help=tr("how to print the derivation (default: text)"),
    )
    p.set_defaults(func=_cmd_derive)

    p = command("codegen", tr("generate a module with one layer class (or Function) per layer"))
    p.add_argument("names", nargs="*", metavar="NAME", help=tr("catalog layers (default: all)"))
    _expr_options(p)
    p.add_argument(
        "--target",
        choices=TARGETS,
        default="numpy",
        help=tr(
            "numpy classes (default), torch autograd.Functions and Modules, jax custom_vjp "
            "functions, or array-api classes (NumPy, CuPy, PyTorch arrays)"
        ),
    )
    p.add_argument("-o", "--output", metavar="FILE", help=tr("write here (- or none: stdout)"))
    p.add_argument(
        "--check", metavar="FILE", help=tr("exit 1 with a diff when FILE is not up to date")
    )
    p.set_defaults(func=_cmd_codegen)

    p = command(
        "check", tr("verify layers symbolically, against hand-written code and numerically")
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=tr("catalog layers (default: all) or FILE.py:CLASS"),
    )
    _expr_options(p)
    shape = ",".join(map(str, SHAPE))
    p.add_argument(
        "--shape", help=tr("input shape for FILE.py:CLASS (default {shape})").format(shape=shape)
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help=tr("FILE.py:CLASS: random directions, not every element"),
    )
    p.set_defaults(func=_cmd_check)

    p = command("graph", tr("evaluate an expression's computational graph forward and backward"))
    p.add_argument(
        "expr",
        metavar="EXPR",
        help=tr('e.g. "{example}"').format(example="(apple*apple_num + orange*orange_num)*tax"),
    )
    p.add_argument(
        "--at",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME=VALUE",
        help=tr("input values"),
    )
    p.add_argument("--output-name", default=None, help=tr("name of the output (default: out)"))
    p.add_argument(
        "--svg",
        metavar="FILE",
        help=tr("also draw the graph, textbook style, as SVG (-: stdout only)"),
    )
    p.set_defaults(func=_cmd_graph)

    p = command("doc", tr("render every derivation as Markdown and one LaTeX document"))
    p.add_argument(
        "-o",
        "--output",
        default="derivations",
        metavar="DIR",
        help=tr("(default: {folder})").format(folder="derivations"),
    )
    p.add_argument("--check", action="store_true", help=tr("exit 1 when DIR is not up to date"))
    p.set_defaults(func=_cmd_doc)
    return parser


def _expr_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--expr",
        metavar="EXPR",
        help=tr(
            'declare a layer: an elementwise expression, e.g. "x*tanh(log(1+exp(x)))", or '
            'statements over named axes separated by ";", e.g. '
            '"ms[n] = mean_d(x[n, d]**2); y[n, d] = g[d] * x[n, d] / sqrt(ms[n] + eps)"'
        ),
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME",
        help=tr("a parameter of the --expr statements (gets a gradient, stored as dNAME)"),
    )
    p.add_argument(
        "--label",
        action="append",
        metavar="NAME",
        dest="labels",
        help=tr("a target tensor (labels) of the --expr statements: read, never differentiated"),
    )
    p.add_argument(
        "--const",
        action="append",
        metavar="NAME=VALUE",
        help=tr("a constant of the --expr statements with its default, e.g. eps=1e-5"),
    )
    p.add_argument(
        "--name", metavar="NAME", help=tr("class name of the --expr layer (default: Custom)")
    )
    p.add_argument(
        "--var", action="append", metavar="VAR", help=tr("input variable(s) of --expr, in order")
    )


def _expr_spec(args: argparse.Namespace) -> Any:
    from symgrad.parse import parse_expr
    from symgrad.spec import elementwise

    name = "Custom" if args.name is None else args.name
    if is_statements(args.expr):
        if args.var:
            raise SymgradError(
                tr("--var is for an elementwise --expr; statements name their tensors")
            )
        from symgrad.language import declare

        return declare(
            name,
            args.expr,
            params=tuple(args.param or ()),
            targets=tuple(args.labels or ()),
            constants=_constants(args.const or []),
        )
    for flag, dest in (("param", "param"), ("label", "labels"), ("const", "const")):
        if getattr(args, dest, None):
            message = tr(
                "--{flag} is for --expr statements (y[n, d] = ...); an elementwise expression "
                "has only inputs"
            )
            raise SymgradError(message.format(flag=flag))
    expr = parse_expr(args.expr)
    variables = args.var or sorted(s.name for s in expr.free_symbols)
    if not variables:
        raise SymgradError(tr("the expression {expr} has no variable").format(expr=repr(args.expr)))
    return elementwise("Custom" if args.name is None else args.name, expr, *variables)


def is_statements(text: str) -> bool:
    """Statements (``y[n] = ...``) rather than one elementwise expression: an ``=`` that is
    not part of a comparison, or an index."""
    return bool(re.search(r"(?<![<>=!])=(?!=)", text)) or "[" in text


def _constants(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip().isidentifier():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            message = tr("--const takes NAME=NUMBER, got {item}").format(item=repr(item))
            raise SymgradError(message) from None
    return out


def _specs(args: argparse.Namespace, names: list[str]) -> list[Any]:
    """The catalog layers ``names`` and the ``--expr`` layer; ``--name X`` alone (no --expr,
    no names) selects the catalog layer X; nothing at all, the whole catalog."""
    from symgrad.registry import catalog

    _refuse_ignored_expr_options(args, names, name_selects=True)
    specs = [catalog[n] for n in names]
    if args.expr is not None:
        specs.append(_expr_spec(args))
    elif args.name is not None:
        specs.append(catalog[args.name])
    return specs or [catalog[n] for n in catalog]


def _refuse_ignored_expr_options(
    args: argparse.Namespace, names: list[str], name_selects: bool
) -> None:
    """``--name`` and ``--var`` describe the ``--expr`` layer: without it they would be
    ignored, except ``--name X`` on its own where ``name_selects`` (codegen, check)."""
    if args.expr is not None:
        return
    if args.var:
        raise SymgradError(
            tr("--var names the input variables of an --expr layer: give --expr too")
        )
    if args.name is None:
        return
    if not name_selects:
        raise SymgradError(tr("--name is the class name of an --expr layer: give --expr too"))
    if names:
        message = tr(
            "--name {name} without --expr selects a catalog layer, and would be ignored "
            "next to {names}: list {name} with them instead"
        )
        raise SymgradError(message.format(name=args.name, names=" ".join(names)))


def _cmd_list(args: argparse.Namespace) -> int:
    from symgrad.registry import catalog

    width = max(map(len, catalog), default=0)
    for name, spec in catalog.items():
        print(f"{name:<{width}}  {tr(spec.doc) if spec.doc else ''}".rstrip())
    return 0


def _cmd_derive(args: argparse.Namespace) -> int:
    from symgrad.engine import derive
    from symgrad.registry import catalog

    _refuse_ignored_expr_options(args, args.names, name_selects=False)
    if args.expr is not None and args.names:
        message = tr("derive takes catalog layers or --expr, not both (got {names} and --expr)")
        raise SymgradError(message.format(names=" ".join(args.names)))
    if args.expr is not None:
        specs = [_expr_spec(args)]
    elif args.names:
        specs = [catalog[n] for n in args.names]
    else:
        raise SymgradError(tr("name a layer (symgrad list shows them) or give --expr"))
    texts = []
    for spec in specs:
        d = derive(spec)
        texts.append({"text": d.text, "latex": d.latex, "markdown": d.markdown}[args.format]())
    print("\n\n".join(t.rstrip("\n") for t in texts))
    return 0


def _cmd_codegen(args: argparse.Namespace) -> int:
    from symgrad.codegen import generate

    if args.check is not None and args.output is not None:
        raise SymgradError(tr("give -o FILE or --check FILE, not both"))
    if args.check == STDOUT:
        raise SymgradError(tr("--check compares with a file: name one (- is not a file)"))
    specs = _specs(args, args.names)
    source = generate(specs, target=args.target)
    if args.check is not None:
        return _check_file(args.check, source, _codegen_command(args, args.check))
    if args.output and args.output != STDOUT:
        write_atomic(args.output, source)
    else:
        sys.stdout.write(source)
    return 0


def _codegen_command(args: argparse.Namespace, path: str) -> str:
    """The command that writes exactly what ``codegen ... --check path`` compares with."""
    words = ["symgrad", "codegen", *args.names]
    if args.target != "numpy":
        words += ["--target", args.target]
    if args.expr is not None:
        words += _option("--expr", args.expr)
    if args.name is not None:
        words += _option("--name", args.name)
    for var in args.var or []:
        words += _option("--var", var)
    return shlex.join([*words, *_option("-o", path, "--output")])


def _option(flag: str, value: str, long: str | None = None) -> list[str]:
    """``flag value`` as words argparse reads back as such: ``--long=value`` when the value
    starts with ``-`` (argparse would take ``--expr -x`` for two options)."""
    if value.startswith("-"):
        return [f"{long or flag}={value}"]
    return [flag, value]


def _check_file(path: str, source: str, command: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except FileNotFoundError:
        message = tr("cannot read {path}: no such file (write it: {command})")
        raise SymgradError(message.format(path=path, command=command)) from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or tr("not UTF-8 text")
        message = tr("cannot read {path}: {reason}").format(path=path, reason=reason)
        raise SymgradError(message) from None
    if current == source:
        print(tr("{path} is up to date").format(path=path))
        return 0
    diff = difflib.unified_diff(
        current.splitlines(True), source.splitlines(True), path, "generated"
    )
    sys.stdout.writelines(diff)
    print(tr("{path} is stale: run {command}").format(path=path, command=command), file=sys.stderr)
    return 1


def _cmd_check(args: argparse.Namespace) -> int:
    from symgrad.check import check_user_layer, is_user_target, run

    users = [n for n in args.names if is_user_target(n)]
    names = [n for n in args.names if not is_user_target(n)]
    _refuse_ignored_expr_options(args, names, name_selects=True)
    if not users and args.shape is not None:
        raise SymgradError(
            tr(
                "--shape applies only to FILE.py:CLASS targets, and none is given "
                "(catalog layers are checked at shapes that suit them)"
            )
        )
    if not users and args.fast:
        raise SymgradError(
            tr(
                "--fast applies only to FILE.py:CLASS targets, and none is given "
                "(catalog layers are always checked at every element)"
            )
        )
    texts, ok = [], True
    shape = _shape(args.shape) if args.shape is not None else SHAPE
    for target in users:
        text, passed = check_user_layer(target, shape, fast=args.fast)
        texts.append(text)
        ok = ok and passed
    if names or args.expr is not None or args.name is not None or not users:
        text, passed = run(_specs(args, names))
        texts.append(text)
        ok = ok and passed
    print("\n\n".join(texts))
    return 0 if ok else 1


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        message = tr("--shape takes positive integers separated by commas, got {text}")
        raise SymgradError(message.format(text=repr(text)))
    return shape


def _cmd_graph(args: argparse.Namespace) -> int:
    from symgrad.evaluation import evaluate_graph

    _refuse_duplicate_values(args.at)
    _refuse_two_output_names(args.expr, args.output_name)
    evaluation = evaluate_graph(args.expr, args.at, args.output_name)
    if args.svg:
        from symgrad.figures import graph_svg

        svg = graph_svg(evaluation)
        if args.svg == STDOUT:  # stdout carries one document: the SVG instead of the text
            sys.stdout.write(svg)
            return 0
        write_atomic(args.svg, svg)
    print(evaluation.text())
    return 0


def _refuse_duplicate_values(at: list[str]) -> None:
    """``--at x=1 x=2`` would keep the last value: say so instead (keys as _bind reads them)."""
    seen: dict[str, str] = {}
    for item in at:
        key, sep, _ = item.partition("=")
        key = key.strip()
        if sep and key in seen:
            message = tr("--at gives {name} twice ({first}, {second})")
            raise SymgradError(message.format(name=key, first=seen[key], second=item.strip()))
        seen.setdefault(key, item.strip())


def _refuse_two_output_names(text: str, option: str | None) -> None:
    from symgrad.evaluation import _is_assignment

    if option is None or not _is_assignment(text):
        return
    named = text.rpartition("=")[0].strip()
    if named != option.strip():
        message = tr(
            "the output is named twice: {named} in the expression, {option} by --output-name"
        )
        raise SymgradError(message.format(named=repr(named), option=repr(option)))


def _cmd_doc(args: argparse.Namespace) -> int:
    from symgrad import docs
    from symgrad.registry import catalog
    from symgrad.writing import folder_problem

    if args.output == STDOUT:
        raise SymgradError(tr("doc writes a folder of files, which cannot go to stdout (-o -)"))
    if not args.check:  # refuse a folder it must not write into before rendering for seconds
        problem = folder_problem(args.output, [], docs.COMMAND)
        if problem is not None:
            raise SymgradError(problem)
    try:
        files = docs.render(list(catalog.values()))
    except SymgradError:
        raise
    except Exception as err:  # a layer that fails to derive or render: say which, in one line
        message = tr("cannot render the derivations: {error}")
        raise SymgradError(message.format(error=f"{type(err).__name__}: {err}")) from None
    if args.check:
        stale = docs.stale(args.output, files)
        for path in stale:
            print(tr("stale: {path}").format(path=path))
        if stale:
            problem = folder_problem(args.output, files, docs.COMMAND)
            if problem is None:
                command = shlex.join(["symgrad", "doc", *_option("-o", args.output, "--output")])
                line = tr("{path} is stale: run {command}").format(
                    path=args.output, command=command
                )
            else:
                line = tr("{path} is stale, and symgrad doc will not write it: {problem}")
                line = line.format(path=args.output, problem=problem)
            print(line, file=sys.stderr)
            return 1
        line = tr_n(
            "{path} is up to date ({n} file)", "{path} is up to date ({n} files)", len(files)
        )
        print(line.format(path=args.output, n=len(files)))
        return 0
    docs.write(args.output, files)
    line = tr_n("wrote {n} file to {path}", "wrote {n} files to {path}", len(files))
    print(line.format(n=len(files), path=args.output))
    return 0


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically, with the user's umask (:mod:`symgrad.writing`)."""
    from symgrad.writing import write_atomic as write

    write(path, text)


if __name__ == "__main__":
    raise SystemExit(main())
