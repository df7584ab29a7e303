"""Writing files without losing any: the one place where symgrad creates or replaces files.

Every file is written to a temporary file in its own folder, flushed to disk and moved over the
target with :func:`os.replace`, so a reader (or a crash) sees the old file or the new one, never
half of either. A new file gets the user's umask (``0o666 & ~umask``, as ``open`` gives it) and a
new folder ``0o777 & ~umask``; a replaced file keeps its mode.

:func:`write_folder` writes a folder of generated files (``symgrad doc``) next to whatever else
the folder holds: a manifest, ``.symgrad-manifest``, lists the files symgrad wrote there, and a
later run replaces exactly those and removes only those of them it no longer produces. A folder
that holds files but no manifest is refused rather than mixed with.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from symgrad.errors import SymgradError
from symgrad.i18n import tr

MANIFEST = ".symgrad-manifest"
_TMP_SUFFIX = ".symgrad-tmp"


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) in one step; :class:`SymgradError` if it cannot."""
    if os.path.isdir(path):
        raise SymgradError(tr("cannot write {path}: it is a folder").format(path=path))
    try:
        tmp = _stage(Path(path), text)
    except OSError as err:
        raise SymgradError(_cannot_write(path, err)) from None
    try:
        os.replace(tmp, path)
    except OSError as err:
        _discard([tmp])
        raise SymgradError(_cannot_write(path, err)) from None


def _cannot_write(path: str | os.PathLike, err: OSError) -> str:
    """``cannot write PATH: REASON``, the reason as the system gives it."""
    return tr("cannot write {path}: {reason}").format(path=path, reason=err.strerror)


def _stage(path: Path, text: str) -> Path:
    """A complete, flushed temporary copy of ``text`` next to ``path``, with the mode ``path``
    should end up with: its current mode if it is a file, else what the umask allows."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(17, "cannot create a temporary file", str(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            mode = _existing_mode(path)
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _discard([tmp])
        raise
    return tmp


def _existing_mode(path: Path) -> int | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def _discard(paths: Iterable[Path]) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            os.unlink(p)


# --- a folder of generated files, with a manifest -------------------------------------------------


def manifest_text(names: Iterable[str], command: str) -> str:
    """The manifest listing ``names``: a comment saying what it is, then one name a line.

    The comment stays English in every language: the manifest is a generated file, compared
    with what is on disk (``symgrad doc --check``), so it must not change with the language."""
    head = (
        f"# Files written here by `{command}`, one a line. It replaces exactly these and removes\n"
        "# those it no longer produces; it never touches any other file in this folder.\n"
    )
    return head + "".join(f"{n}\n" for n in sorted(names))


def with_manifest(files: dict[str, str], command: str) -> dict[str, str]:
    """``files`` plus the manifest that lists them: what the folder holds once written."""
    return {**files, MANIFEST: manifest_text(files, command)}


def read_manifest(folder: Path) -> list[str] | None:
    """The names a manifest in ``folder`` lists, or ``None`` where there is none.

    A manifest naming anything but a plain file name of this folder (``../x``, ``/etc/x``) is
    refused: symgrad deletes the files it lists, so it must never point outside the folder.
    """
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise SymgradError(
            tr("cannot read {path}: {reason}").format(
                path=path, reason=getattr(err, "strerror", err)
            )
        ) from None
    names = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for n, name in enumerate(names, start=1):
        if not _plain_name(name):
            raise SymgradError(
                tr("{path} is not a symgrad manifest: entry {number} is {entry}").format(
                    path=path, number=n, entry=repr(name)
                )
            )
    return names


def _plain_name(name: str) -> bool:
    return (
        name not in ("", ".", "..", MANIFEST)
        and "/" not in name
        and os.sep not in name
        and "\0" not in name
        and name == name.strip()
    )


def folder_problem(folder: str | os.PathLike, names: Iterable[str], command: str) -> str | None:
    """Why :func:`write_folder` would refuse to write ``names`` into ``folder``, or ``None``."""
    try:
        return _folder_problem(Path(folder), folder, names, command)
    except OSError as err:
        return _cannot_write(folder, err)


def _folder_problem(
    root: Path, folder: str | os.PathLike, names: Iterable[str], command: str
) -> str | None:
    if not root.exists():
        return _ancestor_problem(root, folder)
    if not root.is_dir():
        return tr("cannot write {path}: it is not a folder").format(path=folder)
    listed = read_manifest(root)
    if listed is None:
        if any(root.iterdir()):
            return tr(
                "{folder} holds files that `{command}` did not write (it has no {manifest}); "
                "writing there would mix them with its output: choose a new or empty folder"
            ).format(folder=folder, command=command, manifest=MANIFEST)
        return None
    for name in sorted(names):
        path = root / name
        if os.path.lexists(path) and name not in listed:
            return tr(
                "{path} was not written by `{command}` (it is not in {manifest}); "
                "move it away or choose another folder"
            ).format(path=path, command=command, manifest=root / MANIFEST)
        if os.path.lexists(path) and not path.is_file():
            return tr("cannot write {path}: it is not a file").format(path=path)
    return None


def _ancestor_problem(root: Path, folder: str | os.PathLike) -> str | None:
    """Why a folder that does not exist yet cannot be made: its nearest existing ancestor is
    a file. Said before anything is rendered, not after (``doc`` renders for a minute)."""
    parent = root.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if os.path.lexists(parent) and not parent.is_dir():
        message = tr("cannot write {path}: {parent} is not a folder")
        return message.format(path=folder, parent=parent)
    return None


def write_folder(folder: str | os.PathLike, files: dict[str, str], command: str) -> None:
    """Write ``files`` (plain name → text) into ``folder``, touching no other file there.

    All contents are staged first; only when every one is on disk are they moved into place,
    and a failure before that leaves the folder exactly as it was. The manifest is replaced
    first by one listing the old and the new names, so that even a crash halfway leaves a
    manifest covering every file symgrad wrote; files of the old manifest that are no longer
    produced are removed last.
    """
    bad = [n for n in files if not _plain_name(n)]
    if bad:
        raise ValueError(f"not plain file names: {bad}")
    problem = folder_problem(folder, files, command)
    if problem is not None:
        raise SymgradError(problem)
    root = Path(folder)
    manifest = root / MANIFEST
    created = _make_folders(root, folder)
    old = read_manifest(root) or []
    obsolete = sorted(set(old) - set(files))
    moves: list[tuple[Path, Path]] = []  # (staged, target), in the order they go into place
    done = 0
    try:
        moves.append((_stage(manifest, manifest_text({*old, *files}, command)), manifest))
        for name, text in files.items():
            moves.append((_stage(root / name, text), root / name))
        if obsolete:
            moves.append((_stage(manifest, manifest_text(files, command)), manifest))
        for tmp, target in moves:
            if done == len(files) + 1:  # every file is in place: drop the ones no longer made
                for name in obsolete:
                    _remove_file(root / name)
            os.replace(tmp, target)
            done += 1
    except BaseException as err:
        _discard(tmp for tmp, _ in moves[done:])
        _remove_empty(created)
        if isinstance(err, OSError):
            raise SymgradError(_cannot_write(folder, err)) from None
        raise


def _make_folders(root: Path, shown: str | os.PathLike) -> list[Path]:
    """Create ``root`` and missing parents (mode 0o777 & ~umask); the ones created, deepest
    first, so that a failed write can take them away again."""
    missing = []
    p = root.absolute()
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    try:
        for d in reversed(missing):
            os.mkdir(d, 0o777)
    except OSError as err:
        _remove_empty([d for d in missing if d.exists()])
        raise SymgradError(_cannot_write(shown, err)) from None
    return missing


def _remove_file(path: Path) -> None:
    if path.is_file() or path.is_symlink():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _remove_empty(folders: list[Path]) -> None:
    for d in folders:
        with contextlib.suppress(OSError):
            os.rmdir(d)
