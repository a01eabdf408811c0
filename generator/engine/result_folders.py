"""A result's folders under one root (cache/ or artifacts/) and the stage → swap → drop protocol that replaces them.

A result is computed into `<profile>.new/`, its manifest written last; then the current folder is renamed to
`<profile>.old/`, the new one into place, and the old one removed. A killed writer leaves at most a staging folder
(discarded by `recover`) or a swap half done (finished by `recover`). Every path is checked to lie in the root, and the
root in the project, before anything there is read, renamed or removed. The caller holds the result's lock (store.py).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from generator.engine.files import FileSystemError, NotAFolderError, OutsideProjectError, explain, inside

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ResultKey:
    """A cached result is keyed by (section id, backend, profile)."""

    section: str
    backend: str | None
    profile: str

    @property
    def parts(self) -> tuple[str, str, str]:
        return (self.section, self.backend or "none", self.profile)

    def __str__(self) -> str:
        return "/".join(self.parts)

    @property
    def label(self) -> str:
        """The result as the console names it: `2.3` or `1.8 · mnist`."""
        return f"{self.section} · {self.backend}" if self.backend else self.section

    @classmethod
    def parse(cls, text: str) -> ResultKey:
        """The inverse of str(key): `2.3/none/quick`."""
        section, backend, profile = text.split("/")
        return cls(section, None if backend == "none" else backend, profile)


class ResultFolders:
    """The stage → swap → drop protocol for the result folders under one root (cache/ or artifacts/)."""

    def __init__(self, root: Path, project_root: Path, name: str):
        self.root = root
        self.project_root = project_root
        self.name = name  # "cache" or "artifacts", as the folder is called in the project and in [tool.gen]
        self._root_refused: str | None = None

    def final(self, key: ResultKey) -> Path:
        return self.root.joinpath(*key.parts)

    def staging(self, key: ResultKey) -> Path:
        return self.final(key).with_name(key.profile + ".new")

    def old(self, key: ResultKey) -> Path:
        return self.final(key).with_name(key.profile + ".old")

    def _fail(self, error: OSError, doing: str, path: Path | None = None) -> FileSystemError:
        return FileSystemError(explain(error, doing, self.project_root, path))

    def inside(self, path: Path) -> Path:
        """`path` with its links followed, checked to lie in this root, and this root in the project; before anything
        there is read, renamed or removed (cache/ is committed, so a link in it may come from anyone)."""
        if self._root_refused is None:
            self._root_refused = self._refuse_root()
        if self._root_refused:
            raise OutsideProjectError(self._root_refused)
        return inside(path, self.root)

    def _refuse_root(self) -> str:
        """Why this root lies outside the project, or "" (checked once per store: planning asks for every result)."""
        lexical = self.project_root / self.name
        try:
            if lexical.is_symlink() and lexical.resolve() == self.root.resolve():
                inside(lexical, self.project_root)  # names the link
        except OutsideProjectError as error:
            return str(error)
        try:
            inside(self.root, self.project_root)
        except OutsideProjectError:
            return (f"the {self.name} folder {self.root} lies outside the project folder {self.project_root}; gen will not read, write or "
                    f"remove anything there: set [tool.gen] {self.name}_dir to a folder inside the project")
        return ""

    def check(self, key: ResultKey) -> None:
        """Refuse (OutsideProjectError, one sentence) a result whose folders lead out of this root."""
        for path in (self.final(key), self.staging(key), self.old(key)):
            self.inside(path)

    def restorable(self, key: ResultKey) -> Path | None:
        """The folder `recover` would put in place of a missing result (a swap a killed writer left half done), if any.
        Only reads."""
        final, new, old = self.final(key), self.staging(key), self.old(key)
        if final.exists():
            return None
        if (new / MANIFEST).is_file():
            return new
        return old if old.is_dir() else None

    def recover(self, key: ResultKey) -> None:
        """Finish or undo a swap that a killed writer left half done, and clear what it staged."""
        self.check(key)
        final, new, old = self.final(key), self.staging(key), self.old(key)
        for path in (final, new, old):
            if path.exists() and not path.is_dir():
                raise self._fail(NotAFolderError(0, "not a folder", str(path)), "use")
        try:
            if not final.exists():
                if (new / MANIFEST).is_file():
                    os.replace(new, final)
                elif old.exists():
                    os.replace(old, final)
        except OSError as error:
            raise self._fail(error, "finish the interrupted build of", final) from None
        for leftover in (new, old):
            try:
                if leftover.exists():
                    shutil.rmtree(leftover)
            except OSError as error:
                raise self._fail(error, "remove the leftover of an interrupted build", leftover) from None
        try:
            for stray in final.glob(".*.tmp") if final.is_dir() else []:  # a temporary file of a write that was killed
                stray.unlink()
        except OSError as error:
            raise self._fail(error, "remove the leftover of an interrupted build", final) from None

    def begin(self, key: ResultKey) -> Path:
        self.check(key)
        staging = self.staging(key)
        try:
            staging.mkdir(parents=True)
        except OSError as error:
            raise self._fail(error, "create") from None
        return staging

    def swap(self, key: ResultKey) -> None:
        self.check(key)
        staging, final, old = self.staging(key), self.final(key), self.old(key)
        try:
            if final.exists():
                os.replace(final, old)
            os.replace(staging, final)
            if old.exists():
                shutil.rmtree(old)
        except OSError as error:
            raise self._fail(error, "replace") from None

    def abort(self, key: ResultKey) -> None:
        try:
            self.check(key)
        except OutsideProjectError:
            return  # nothing was staged there: begin() refused it
        shutil.rmtree(self.staging(key), ignore_errors=True)

    def drop(self, key: ResultKey) -> bool:
        self.check(key)
        existed = False
        for path in (self.final(key), self.staging(key), self.old(key)):
            if path.is_dir():
                shutil.rmtree(path)
                existed = True
            elif path.exists():
                path.unlink()
                existed = True
        return existed
