"""Writing files: atomic, with the user's umask, and never touching a file symgrad did not write."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from symgrad.errors import SymgradError
from symgrad.writing import MANIFEST, folder_problem, read_manifest, write_atomic, write_folder

COMMAND = "symgrad doc"
UMASKS = [0o022, 0o077, 0o002, 0o027]


@pytest.fixture(params=UMASKS, ids=[f"umask{u:03o}" for u in UMASKS])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def manifest_names(folder: Path) -> list[str]:
    names = read_manifest(folder)
    assert names is not None
    return names


# --- one file -----------------------------------------------------------------------------------


def test_a_new_file_gets_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "layers.py"
    write_atomic(path, "x = 1\n")
    assert path.read_text() == "x = 1\n"
    assert mode(path) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["layers.py"]


@pytest.mark.parametrize("old_mode", [0o600, 0o644, 0o755, 0o640])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, old_mode: int) -> None:
    path = tmp_path / "layers.py"
    path.write_text("old")
    path.chmod(old_mode)
    write_atomic(path, "new")
    assert path.read_text() == "new" and mode(path) == old_mode


def test_text_is_written_as_is(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    text = "a\r\nb\nσ ≤ ∂\n"  # no newline translation, UTF-8
    write_atomic(path, text)
    assert path.read_bytes() == text.encode()


# --- a folder with a manifest -------------------------------------------------------------------


def test_a_new_folder_and_its_files_get_the_umask(tmp_path: Path, umask: int) -> None:
    book = tmp_path / "deep" / "book"
    write_folder(book, {"a.md": "1", "b.md": "2"}, COMMAND)
    assert listing(book) == {MANIFEST: listing(book)[MANIFEST], "a.md": "1", "b.md": "2"}
    assert manifest_names(book) == ["a.md", "b.md"]
    for d in (book, book.parent):
        assert mode(d) == 0o777 & ~umask, d
    for p in book.iterdir():
        assert mode(p) == 0o666 & ~umask, p


def test_an_existing_folder_and_files_keep_their_modes(tmp_path: Path) -> None:
    book = tmp_path / "book"
    write_folder(book, {"a.md": "1", "b.md": "2"}, COMMAND)
    book.chmod(0o750)
    (book / "a.md").chmod(0o600)
    write_folder(book, {"a.md": "one", "b.md": "two", "c.md": "3"}, COMMAND)
    assert mode(book) == 0o750 and mode(book / "a.md") == 0o600
    assert (book / "a.md").read_text() == "one"


def test_the_users_files_are_never_touched(tmp_path: Path) -> None:
    """A folder symgrad wrote once may gain files of the user's; they survive every rewrite,
    and only files that symgrad wrote and no longer produces are removed."""
    book = tmp_path / "book"
    write_folder(book, {"a.md": "1", "old.md": "x"}, COMMAND)
    (book / "notes.txt").write_text("mine")
    (book / "sub").mkdir()
    (book / "sub" / "train.py").write_text("mine too")
    write_folder(book, {"a.md": "2", "new.md": "y"}, COMMAND)
    assert sorted(p.name for p in book.iterdir()) == sorted(
        [MANIFEST, "a.md", "new.md", "notes.txt", "sub"]
    )
    assert (book / "notes.txt").read_text() == "mine"
    assert (book / "sub" / "train.py").read_text() == "mine too"
    assert manifest_names(book) == ["a.md", "new.md"]


@pytest.mark.parametrize(
    "foreign", [{"train.py": "print(1)"}, {".hidden": ""}, {"README.md": "mine"}]
)
def test_a_folder_with_other_files_and_no_manifest_is_refused(
    tmp_path: Path, foreign: dict[str, str]
) -> None:
    for name, text in foreign.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SymgradError, match=r"did not write .*choose a new or empty folder"):
        write_folder(tmp_path, {"README.md": "book", "a.md": "1"}, COMMAND)
    assert listing(tmp_path) == foreign


def test_an_empty_folder_is_fine(tmp_path: Path) -> None:
    write_folder(tmp_path, {"a.md": "1"}, COMMAND)
    assert manifest_names(tmp_path) == ["a.md"]


def test_a_produced_name_the_manifest_does_not_list_is_refused(tmp_path: Path) -> None:
    write_folder(tmp_path, {"a.md": "1"}, COMMAND)
    (tmp_path / "b.md").write_text("the user's")
    with pytest.raises(SymgradError, match=r"b\.md was not written by"):
        write_folder(tmp_path, {"a.md": "2", "b.md": "2"}, COMMAND)
    assert (tmp_path / "a.md").read_text() == "1" and (
        tmp_path / "b.md"
    ).read_text() == "the user's"


@pytest.mark.parametrize("entry", ["../victim.txt", "/tmp/victim.txt", "sub/x", "..", "."])
def test_a_manifest_pointing_outside_the_folder_is_refused(tmp_path: Path, entry: str) -> None:
    book = tmp_path / "book"
    write_folder(book, {"a.md": "1"}, COMMAND)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (book / MANIFEST).write_text(f"a.md\n{entry}\n")
    with pytest.raises(SymgradError, match="is not a symgrad manifest"):
        write_folder(book, {"a.md": "2"}, COMMAND)
    assert victim.read_text() == "keep me" and (book / "a.md").read_text() == "1"


def test_the_target_must_be_a_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for target in (blocker, blocker / "sub"):
        with pytest.raises(SymgradError, match="cannot write"):
            write_folder(target, {"a.md": "1"}, COMMAND)
    assert listing(tmp_path) == {"file": "not a folder"}


def test_folder_problem_agrees_with_write_folder(tmp_path: Path) -> None:
    assert folder_problem(tmp_path / "missing", ["a.md"], COMMAND) is None
    (tmp_path / "train.py").write_text("")
    assert "did not write" in (folder_problem(tmp_path, ["a.md"], COMMAND) or "")


# --- failures midway ----------------------------------------------------------------------------


def _fail_on_call(monkeypatch: pytest.MonkeyPatch, name: str, n: int) -> None:
    real = getattr(os, name)
    calls = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == n:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, flaky)


OLD = {"a.md": "old a", "b.md": "old b", "c.md": "old c", "gone.md": "old gone"}
NEW = {"a.md": "new a", "b.md": "new b", "c.md": "new c", "d.md": "new d"}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_a_failure_while_staging_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    book = tmp_path / "book"
    write_folder(book, OLD, COMMAND)
    before = listing(book)
    _fail_on_call(monkeypatch, "fsync", n)
    with pytest.raises(SymgradError, match=r"cannot write .*No space left"):
        write_folder(book, NEW, COMMAND)
    assert listing(book) == before


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_a_failure_while_replacing_leaves_only_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    book = tmp_path / "book"
    write_folder(book, OLD, COMMAND)
    _fail_on_call(monkeypatch, "replace", n)
    with pytest.raises(SymgradError, match="cannot write"):
        write_folder(book, NEW, COMMAND)
    now = listing(book)
    assert not [name for name in now if name.endswith(".symgrad-tmp")]
    for name, text in now.items():
        if name != MANIFEST:
            assert text in (OLD.get(name), NEW.get(name)), (name, text)
    # whatever happened, the manifest still names every file symgrad put there
    assert set(now) - {MANIFEST} <= set(manifest_names(book))
    monkeypatch.undo()
    write_folder(book, NEW, COMMAND)  # and the next run completes the job
    assert listing(book) == {**NEW, MANIFEST: listing(book)[MANIFEST]}


def test_a_failed_write_into_a_new_folder_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_on_call(monkeypatch, "fsync", 2)
    with pytest.raises(SymgradError, match="cannot write"):
        write_folder(tmp_path / "new" / "book", NEW, COMMAND)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_single_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "layers.py"
    path.write_text("old")
    for name in ("fsync", "replace"):
        _fail_on_call(monkeypatch, name, 1)
        with pytest.raises(SymgradError, match="cannot write"):
            write_atomic(path, "new")
        monkeypatch.undo()
        assert listing(tmp_path) == {"layers.py": "old"}


@pytest.mark.parametrize("name", [".", "..", "sub", "sub/"])
def test_a_folder_is_not_a_file(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SymgradError, match="it is a folder"):
        write_atomic(name, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]
