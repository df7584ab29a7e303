"""The command line, run as a user runs it: a subprocess, its stdout, stderr and exit status."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import symgrad

CATALOG = list(symgrad.catalog)
SHOPPING = "(apple*apple_num + orange*orange_num)*tax"
SHOPPING_AT = ["apple=100", "apple_num=2", "orange=150", "orange_num=3", "tax=1.1"]


def run(
    *args: str, cwd: Path | None = None, umask: int | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symgrad", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        preexec_fn=None if umask is None else lambda: os.umask(umask),
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_shopping_example() -> None:
    result = run("graph", SHOPPING, "--at", *SHOPPING_AT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "out = 715" in lines
    expected = {
        "apple": "2.2",
        "apple_num": "110",
        "orange": "3.3",
        "orange_num": "165",
        "tax": "650",
    }
    for name, grad in expected.items():
        assert any(line.split() == [name, grad] for line in lines), (name, result.stdout)


def test_graph_output_can_be_named() -> None:
    result = run("graph", f"price = {SHOPPING}", "--at", *SHOPPING_AT)
    assert "price = 715" in result.stdout.splitlines()


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_derive_prints_every_format(fmt: str) -> None:
    result = run("derive", "Sigmoid", "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert {"text": "dout⋅y⋅(1 - y)", "latex": r"\begin{aligned}", "markdown": "$$"}[fmt] in (
        result.stdout
    )


def test_derive_an_expression_from_the_command_line() -> None:
    result = run("derive", "--expr", "x*tanh(log(1+exp(x)))", "--name", "Mish")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Mish")


def test_codegen_writes_and_checks_a_file(tmp_path: Path) -> None:
    path = tmp_path / "layers.py"
    assert run("codegen", "-o", str(path)).returncode == 0
    assert path.read_text() == symgrad.generate(CATALOG)
    assert run("codegen", "--check", str(path)).returncode == 0
    path.write_text(path.read_text().replace("dout * (1 - y) * y", "dout * y"))
    stale = run("codegen", "--check", str(path))
    assert stale.returncode == 1
    assert "+        dx = dout * (1 - y) * y" in stale.stdout
    assert "stale" in stale.stderr


def test_codegen_selected_layers_and_expr() -> None:
    result = run("codegen", "Relu", "--expr", "x*tanh(log(1+exp(x)))", "--name", "Mish")
    assert result.returncode == 0, result.stderr
    assert "class Relu:" in result.stdout and "class Mish:" in result.stdout
    assert "class Sigmoid" not in result.stdout


def test_check_passes_for_the_catalog() -> None:
    result = run("check")
    assert result.returncode == 0, result.stdout
    for name in CATALOG:
        assert any(
            line.startswith(name + " ") and line.endswith("ok")
            for line in result.stdout.splitlines()
        )


def test_check_fails_when_a_layer_is_wrong(tmp_path: Path) -> None:
    # A user layer whose forward SymPy differentiates fine is still checked numerically; make the
    # textbook reference disagree by monkeypatching in a subprocess.
    code = (
        "import sys, symgrad.textbook as t\n"
        "f = t.formulas\n"
        "t.formulas = lambda: {**f(), 'Tanh': {'x': 'dout'}}\n"
        "from symgrad.cli import main\n"
        "sys.exit(main(['check', 'Tanh']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "differs" in result.stdout and "FAIL" in result.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["derive", "Sigmod"], ["unknown layer 'Sigmod'", "did you mean 'Sigmoid'"]),
        (["codegen", "Reluu"], ["did you mean 'Relu'"]),
        (["derive", "--expr", "x*(", "--name", "Bad"], ["cannot parse"]),
        (["derive", "--expr", "__import__('os').system('true')"], ["not allowed"]),
        (["derive", "--expr", "x.real"], ["attribute access"]),
        (["derive", "--expr", "(lambda: 1)()"], ["lambda"]),
        (["derive", "--expr", "foo(x)"], ["unknown function 'foo'"]),
        (["derive", "--expr", "x**2", "--var", "z"], ["'z' does not occur"]),
        (["graph", SHOPPING, "--at", "apple=1"], ["no value for"]),
        (["graph", SHOPPING, "--at", *SHOPPING_AT, "banana=3"], ["'banana' does not occur"]),
        (["graph", "x*", "--at", "x=1"], ["cannot parse"]),
        (["codegen", "--expr", "x**2", "--name", "not valid"], ["not a valid Python class name"]),
        (["derive"], ["name a layer (symgrad list shows them) or give --expr"]),
    ],
)
def test_bad_input_gets_one_line_and_status_2(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(run(*args), *needles)


def test_unwritable_output_path_leaves_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "layers.py"
    assert_one_line_error(run("codegen", "-o", str(missing)), "cannot write")
    assert not missing.exists()


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from symgrad import cli

    path = tmp_path / "layers.py"
    path.write_text("old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(symgrad.SymgradError, match="cannot write"):
        cli.write_atomic(str(path), "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["layers.py"]


def test_console_script_and_module_agree() -> None:
    result = subprocess.run(["symgrad", "list"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == run("list").stdout


USER_LAYERS = """
import numpy as np

class Good:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dout):
        return dout * (1 - self.y**2)

class Bad(Good):
    def backward(self, dout):
        return dout * (1 - self.y)

class Boom(Good):
    def forward(self, x):
        raise RuntimeError("kaboom")

class NeedsArgs:
    def __init__(self, W):
        self.W = W
"""


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_layers.py"
    path.write_text(USER_LAYERS)
    return path


@pytest.mark.parametrize("fast", [[], ["--fast"]])
def test_check_a_users_layer_from_a_file(user_file: Path, fast: list[str]) -> None:
    good = run("check", f"{user_file}:Good", "--shape", "3,4", *fast)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "input x" in good.stdout and "PASSED" in good.stdout
    bad = run("check", f"{user_file}:Bad", *fast)
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "wrong: > 1e-2" in bad.stdout


@pytest.mark.parametrize(
    ("target", "extra", "needle"),
    [
        ("missing.py:Good", [], "no such file"),
        ("{file}:Nope", [], "has no class 'Nope'"),
        ("{file}:Boom", [], "Boom raised RuntimeError: kaboom"),
        ("{file}:NeedsArgs", [], "cannot construct NeedsArgs()"),
        ("{file}:Good", ["--shape", "0,2"], "--shape takes positive integers"),
    ],
)
def test_check_file_bad_input(user_file: Path, target: str, extra: list[str], needle: str) -> None:
    assert_one_line_error(run("check", target.format(file=user_file), *extra), needle)


def test_graph_writes_a_textbook_figure(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    svg = tmp_path / "shop.svg"
    result = run("graph", SHOPPING, "--at", *SHOPPING_AT, "--svg", str(svg))
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(svg.read_text())
    texts = [t.text for t in root.iter() if t.tag.endswith("text")]
    assert {"715", "2.2", "650"} <= set(texts)


@pytest.mark.parametrize(
    ("expr", "at", "needle"),
    [("x/y", ["x=1", "y=0"], "not finite"), ("sqrt(x)", ["x=0"], "not finite")],
)
def test_graph_at_a_pole_is_one_line(expr: str, at: list[str], needle: str) -> None:
    assert_one_line_error(run("graph", expr, "--at", *at), needle)


# --- every output path: the user's files are safe, modes follow the umask -----------------------

USERS_FILE = ("train.py", "print('the user wrote this')\n")
OUTPUTS = {
    "codegen -o": (["codegen", "Relu", "-o", "layers.py"], "layers.py"),
    "graph --svg": (["graph", "x*y", "--at", "x=1", "y=2", "--svg", "g.svg"], "g.svg"),
    "doc -o": (["doc", "-o", "book"], "book"),
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _written(path: Path) -> list[Path]:
    return [path, *path.iterdir()] if path.is_dir() else [path]


@pytest.mark.parametrize(
    ("command", "umask"),
    [("codegen -o", 0o027), ("codegen -o", 0o002), ("graph --svg", 0o077), ("doc -o", 0o027)],
)
def test_every_output_leaves_the_users_files_and_follows_the_umask(
    tmp_path: Path, command: str, umask: int
) -> None:
    args, output = OUTPUTS[command]
    users = tmp_path / USERS_FILE[0]
    users.write_text(USERS_FILE[1])
    users.chmod(0o640)
    first = run(*args, cwd=tmp_path, umask=umask)
    assert first.returncode == 0, first.stderr
    assert users.read_text() == USERS_FILE[1] and _mode(users) == 0o640
    written = tmp_path / output
    for path in _written(written):
        assert _mode(path) == (0o777 if path.is_dir() else 0o666) & ~umask, path
    for path in _written(written):  # a second run replaces its files and keeps their modes
        path.chmod(0o751 if path.is_dir() else 0o604)
    again = run(*args, cwd=tmp_path, umask=umask)
    assert again.returncode == 0, again.stderr
    for path in _written(written):
        assert _mode(path) == (0o751 if path.is_dir() else 0o604), path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([USERS_FILE[0], output])
    assert users.read_text() == USERS_FILE[1]


@pytest.mark.parametrize("target", [".", "{tmp}"])
def test_doc_refuses_a_folder_it_did_not_write(tmp_path: Path, target: str) -> None:
    users = tmp_path / USERS_FILE[0]
    users.write_text(USERS_FILE[1])
    result = run("doc", "-o", target.format(tmp=tmp_path), cwd=tmp_path)
    assert_one_line_error(result, "did not write", "choose a new or empty folder")
    assert [p.name for p in tmp_path.iterdir()] == [USERS_FILE[0]]
    assert users.read_text() == USERS_FILE[1]


def test_dash_means_stdout(tmp_path: Path) -> None:
    codegen = run("codegen", "Relu", "-o", "-", cwd=tmp_path)
    assert codegen.returncode == 0 and "class Relu:" in codegen.stdout
    import xml.etree.ElementTree as ET

    graph = run("graph", SHOPPING, "--at", *SHOPPING_AT, "--svg", "-", cwd=tmp_path)
    assert graph.returncode == 0, graph.stderr
    ET.fromstring(graph.stdout)  # stdout is the SVG and nothing else
    assert_one_line_error(run("doc", "-o", "-", cwd=tmp_path), "cannot go to stdout")
    assert list(tmp_path.iterdir()) == []


# --- a reader that stops early: quiet exit ------------------------------------------------------

EVERY_COMMAND = {
    "list": ["list"],
    "derive": ["derive", "Sigmoid", "Relu", "--format", "markdown"],
    "codegen": ["codegen"],
    "codegen --check": ["codegen", "Relu", "--check", "{stale}"],
    "check": ["check", "Relu", "Tanh"],
    "check FILE:CLASS": ["check", "{user}:Good"],
    "graph": ["graph", SHOPPING, "--at", *SHOPPING_AT],
    "graph --svg -": ["graph", SHOPPING, "--at", *SHOPPING_AT, "--svg", "-"],
    "doc": ["doc", "-o", "{book}"],
    "--help": ["--help"],
    "derive --help": ["derive", "--help"],
    "--version": ["--version"],
}


def _command(tmp_path: Path, name: str) -> list[str]:
    (tmp_path / "stale.py").write_text("old\n")
    (tmp_path / "user.py").write_text(USER_LAYERS)
    where = {"stale": tmp_path / "stale.py", "user": tmp_path / "user.py", "book": tmp_path / "b"}
    return [a.format(**where) for a in EVERY_COMMAND[name]]


def assert_quiet(name: str, stderr: str) -> None:
    """Nothing on stderr but what the command says anyway: the one stale line of --check."""
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    if "--check" in name:  # printed after the diff: there, unless the pipe broke before
        assert stderr == "" or (len(stderr.splitlines()) == 1 and "is stale" in stderr), stderr
    else:
        assert stderr == "", stderr


@pytest.mark.parametrize("name", list(EVERY_COMMAND))
def test_a_reader_gone_before_the_first_byte_is_a_quiet_exit(tmp_path: Path, name: str) -> None:
    """stdout is a pipe whose read end is closed before symgrad starts: every write fails, as
    the last ones do under ``| head -1``, deterministically."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "symgrad", *_command(tmp_path, name)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write_end)
    assert_quiet(name, result.stderr)
    assert result.returncode == 141


@pytest.mark.parametrize("name", [n for n in EVERY_COMMAND if n not in ("codegen", "doc")])
def test_piped_into_head_is_quiet(tmp_path: Path, name: str) -> None:
    """The real pipeline; racy by nature (a short output may be written before head exits),
    so the slow commands are left to the deterministic test above."""
    command = shlex.join([sys.executable, "-m", "symgrad", *_command(tmp_path, name)])
    result = subprocess.run(f"{command} | head -1", shell=True, capture_output=True, text=True)
    assert result.returncode == 0  # head's status: no pipefail
    assert result.stdout.count("\n") == 1, result.stdout
    assert_quiet(name, result.stderr)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["derive", "Sigmoid", "--format", "pdf"], "invalid choice: 'pdf'"),
        (["graph"], "required: EXPR"),
        (["check", "--shape"], "expected one argument"),
        (["list", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_are_one_line_with_a_working_hint(args: list[str], needle: str) -> None:
    result = run(*args)
    assert_one_line_error(result, needle)
    hint = result.stderr.strip().rsplit("(see ", 1)[1].rstrip(")")
    helped = run(*shlex.split(hint)[1:])
    assert helped.returncode == 0 and helped.stdout.startswith("usage: "), hint


# --- options that would be ignored are refused --------------------------------------------------

MISH = ["--expr", "x*tanh(log(1+exp(x)))"]
COMMANDS = {"list", "derive", "codegen", "check", "graph", "doc"}


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["derive", "Sigmoid", *MISH], ["not both", "Sigmoid"]),
        (["derive", "Sigmoid", "Relu", *MISH, "--name", "Mish"], ["not both", "Sigmoid Relu"]),
        (["derive", "--name", "Mish"], ["--name", "give --expr"]),
        (["derive", "Sigmoid", "--name", "Mish"], ["--name", "give --expr"]),
        (["derive", "Sigmoid", "--var", "x"], ["--var", "give --expr"]),
        (["codegen", "--var", "x"], ["--var", "give --expr"]),
        (["codegen", "Sigmoid", "--name", "Relu"], ["--name Relu", "ignored next to Sigmoid"]),
        (["check", "Sigmoid", "--name", "Relu"], ["--name Relu", "ignored next to Sigmoid"]),
        (["check", "{file}:Good", "--var", "x"], ["--var", "give --expr"]),
        (["check", "Relu", "--shape", "3,3"], ["--shape applies only to FILE.py:CLASS"]),
        (["check", "--shape", "3,3"], ["--shape applies only to FILE.py:CLASS"]),
        (["check", "Relu", "--fast"], ["--fast applies only to FILE.py:CLASS"]),
        (["check", *MISH, "--fast"], ["--fast applies only to FILE.py:CLASS"]),
        (["codegen", "Relu", "-o", "a.py", "--check", "b.py"], ["-o FILE or --check FILE"]),
        (["codegen", "Relu", "--check", "-"], ["--check compares with a file"]),
        (["graph", "x*y", "--at", "x=1", "y=2", "x=3"], ["--at gives x twice", "x=1", "x=3"]),
        (["graph", "x*y", "--at", "x=1", "y=2", "--at", " x =1"], ["--at gives x twice"]),
        (["graph", "p = x*y", "--at", "x=1", "y=2", "--output-name", "q"], ["named twice"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0] in COMMANDS else "",
)
def test_an_option_that_would_be_ignored_is_an_error(
    tmp_path: Path, user_file: Path, args: list[str], needles: list[str]
) -> None:
    result = run(*[a.format(file=user_file) for a in args], cwd=tmp_path)
    assert_one_line_error(result, *needles)
    assert [p.name for p in tmp_path.iterdir()] == [user_file.name]  # nothing written


@pytest.mark.parametrize(
    "args",
    [
        ["codegen", "--name", "Relu"],  # --name alone selects a catalog layer, as it always did
        ["codegen", "Relu", *MISH, "--name", "Mish"],  # a catalog layer and an --expr layer
        ["check", "Relu", *MISH, "--name", "Mish"],
        ["graph", "p = x*y", "--at", "x=1", "--at", "y=2", "--output-name", "p"],
    ],
)
def test_combinations_that_mean_something_still_work(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0, result.stderr


def test_check_a_file_and_an_expr_checks_both(user_file: Path) -> None:
    result = run("check", f"{user_file}:Good", *MISH, "--name", "Mish")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout and any(
        line.startswith("Mish ") for line in result.stdout.splitlines()
    )


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown"])
def test_derive_several_layers(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    from symgrad.cli import main

    names = ["Sigmoid", "Softmax", "Affine"]  # one of each engine
    singles = []
    for name in names:
        assert main(["derive", name, "--format", fmt]) == 0
        singles.append(capsys.readouterr().out)
    assert main(["derive", *names, "--format", fmt]) == 0
    together = capsys.readouterr().out
    assert together == "\n".join(singles)  # each one, a blank line between
    assert together.count("\n\n" + {"text": "", "latex": "\\begin", "markdown": "## "}[fmt]) >= 2


# --- every hint is a command that works ---------------------------------------------------------


def run_hint(command: str, cwd: Path) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    assert words[0] == "symgrad", command
    return run(*words[1:], cwd=cwd)


TRICKY = "my dir/-layers $(x).py"  # a space, a leading dash, shell syntax


@pytest.mark.parametrize(
    ("selection", "filename"),
    [
        ([], "layers.py"),
        (["Relu", "Softmax"], TRICKY),
        (["relu"], "layers.py"),  # catalog names are found case-insensitively
        (["--name", "Tanh"], TRICKY),
        (["Relu", *MISH, "--name", "Mish"], "layers.py"),
        (["--expr=-x*tanh(y)", "--var", "y", "--var", "x", "--name", "Neg"], TRICKY),
        (["--expr", "a*b + c"], "-layers.py"),
    ],
    ids=lambda v: " ".join(v) or "all" if isinstance(v, list) else v,
)
def test_the_stale_hint_of_codegen_check_makes_the_file_fresh(
    tmp_path: Path, selection: list[str], filename: str
) -> None:
    path = tmp_path / filename
    path.parent.mkdir(exist_ok=True)
    path.write_text("# stale\n")
    stale = run("codegen", *selection, f"--check={filename}", cwd=tmp_path)
    assert stale.returncode == 1, stale.stderr
    [line] = stale.stderr.splitlines()
    assert line.startswith(f"{filename} is stale: run ")
    assert run_hint(line.split(" is stale: run ", 1)[1], tmp_path).returncode == 0
    fresh = run("codegen", *selection, f"--check={filename}", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    if not selection:
        return  # the whole catalog is slow; the other selections check the missing file
    path.unlink()
    missing = run("codegen", *selection, f"--check={filename}", cwd=tmp_path)
    assert_one_line_error(missing, "no such file")
    command = missing.stderr.strip().split("(write it: ", 1)[1].removesuffix(")")
    assert run_hint(command, tmp_path).returncode == 0
    assert run("codegen", *selection, f"--check={filename}", cwd=tmp_path).returncode == 0


def test_the_stale_hint_of_doc_check_makes_the_folder_fresh(tmp_path: Path) -> None:
    option = "--output=-book"  # the hint must say it the same way: -o -book means -o, -b...
    stale = run("doc", "--check", option, cwd=tmp_path)
    assert stale.returncode == 1
    [line] = stale.stderr.splitlines()
    assert run_hint(line.split(" is stale: run ", 1)[1], tmp_path).returncode == 0
    fresh = run("doc", "--check", option, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_doc_check_of_a_folder_doc_will_not_write_says_so(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("mine")
    result = run("doc", "--check", "-o", ".", cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "symgrad doc will not write it" in line and "did not write" in line
    assert "run symgrad" not in line


def test_list_columns_fit_the_longest_name() -> None:
    result = run("list")
    width = max(map(len, CATALOG))
    lines = result.stdout.splitlines()
    assert [line[:width].rstrip() for line in lines] == CATALOG
    for line, name in zip(lines, CATALOG):
        assert line[width : width + 2] == "  " and line[width + 2] != " "
        assert line[width + 2 :] == symgrad.catalog[name].doc


@pytest.mark.parametrize("names", [["A", "LongerThanTwelveLetters"], ["X" * 40, "Y"], ["Z"]])
def test_list_columns_fit_any_names(
    names: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import types

    from symgrad import registry
    from symgrad.cli import main

    fake = {n: types.SimpleNamespace(doc=f"doc of {n}") for n in names}
    monkeypatch.setattr(registry, "catalog", fake)
    assert main(["list"]) == 0
    starts = {line.index("doc of") for line in capsys.readouterr().out.splitlines()}
    assert starts == {max(map(len, names)) + 2}
