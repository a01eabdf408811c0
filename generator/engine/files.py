"""Files as the engine checks them: a manifest's files, paths kept inside the project, and file-system errors in one
sentence (atomic writes and SHA-256 by stat are generator/disk.py's)."""

from __future__ import annotations

import errno
from pathlib import Path

from generator.disk import StatCache, sha256_path, write_atomic

__all__ = ["StatCache", "sha256_path", "write_atomic"]  # re-exported: the engine's modules take them from here


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write only when the bytes differ, so an unchanged file keeps its mtime."""
    try:
        if path.read_bytes() == data:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    write_atomic(path, data)
    return True


def check_files(folder: Path, entries: list[dict], name_key: str, hashes: StatCache) -> list[str]:
    """Why the files a manifest lists are not as recorded: `missing: a.png`, `damaged: b.png` (size or SHA-256 differ).

    Nothing outside `folder` is opened: a name that is absolute or climbs out of it, or a link that leads out, is
    `outside: …`, so the result is recomputed. (That `folder` lies in the project is the store's check.)
    """
    problems = []
    for entry in entries:
        name = entry[name_key]
        try:
            path = inside(folder / name, folder)
        except OutsideProjectError:
            problems.append(f"outside: {name} (not a file of the result's folder; the next build recomputes it)")
            continue
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            problems.append(f"missing: {name}")
            continue
        if "sha256" not in entry or "bytes" not in entry:
            problems.append(f"unverified: {name} (its manifest records no hash; made by an older gen)")
        elif stat.st_size != entry["bytes"]:
            problems.append(f"damaged: {name}")
        else:
            try:
                if hashes.sha256(path, stat) != entry["sha256"]:
                    problems.append(f"damaged: {name}")
            except OSError:
                problems.append(f"unreadable: {name}")
    return problems


def inside(path: Path, root: Path) -> Path:
    """`path` with its links followed, when that lies in `root` (or is it); OutsideProjectError otherwise.

    The one containment check of every path gen reads, hashes, writes, publishes or deletes in the project: a link
    that leads out of `root`, an absolute name or one that climbs out with `..` is refused before anything is opened.
    """
    base, resolved = root.resolve(), path.resolve()
    if resolved == base or base in resolved.parents:
        return resolved
    raise OutsideProjectError(_outside_message(path, root, resolved))


def _outside_message(path: Path, root: Path, resolved: Path) -> str:
    where = "the project folder" if root.resolve() == Path.cwd() else f"{_named(root)}/"
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = ()
    for depth in range(1, len(parts) + 1):  # the first link on the way down is the one that leads out
        step = root.joinpath(*parts[:depth])
        if step.is_symlink():
            target = step.resolve()
            kind = "folder" if target.is_dir() else "file"
            return (f"{_named(step)} is a link to {target}, outside {where}; gen will not follow it: replace the link "
                    f"with a real {kind} (or remove it) and run gen again")
    return f"{_named(path)} lies outside {where} (it resolves to {resolved}); gen will not open it: name a path inside {where}"


def _named(path: Path) -> str:
    """A path as the user typed it: relative to the working folder (gen runs inside the project), not resolved."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


class NotAFolderError(NotADirectoryError):
    """A plain file sits where gen keeps a folder (a result, its staging or its old copy)."""


class FileSystemError(RuntimeError):
    """A file-system operation outside a section's compute failed; the message is one sentence for the user."""


class OutsideProjectError(FileSystemError, ValueError):
    """A path leads outside the folder it must lie in (by a link, an absolute name or `..`); one sentence naming it.

    A FileSystemError, so the result it concerns fails in one sentence like any other file-system problem, and a
    ValueError, so code that checks paths a user named (spec inputs) treats it as an unusable path.
    """


def explain(error: OSError, doing: str, root: Path, path: Path | None = None) -> str:
    """One sentence naming the path and what to do: `cannot create cache/2.1/none/smoke.new: the file system is read-only; …`.

    `path`, when given, is the file or folder to name (a write that fails for a full disk carries no file name, and a
    folder that cannot be removed is clearer than the first file in it that could not).
    """
    path = path or (Path(error.filename) if error.filename else None)
    shown = _shown(path, root) if path is not None else "a file"
    if error.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR) or isinstance(error, NotAFolderError):
        return f"{shown} is a file where gen keeps a folder; remove it and build again"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        top = _shown(_top(path, root), root) if path is not None else "the project folder"
        why = "the file system is read-only" if error.errno == errno.EROFS else "permission denied"
        return f"cannot {doing} {shown}: {why}; make {top}/ writable and build again"
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"cannot {doing} {shown}: the disk is full; free some space and build again"
    return f"cannot {doing} {shown}: {error.strerror or error}"


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _top(path: Path, root: Path) -> Path:
    """The project folder the path lies in (cache/, artifacts/, docs/), which is what a user makes writable."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        return path.parent
    return root / rel.parts[0] if len(rel.parts) > 1 else root
