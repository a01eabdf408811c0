"""The result store: one writer per result, results replaced atomically, leftovers of dead builds cleared under the lock.

A result (section, backend, profile) has a folder in cache/ (its manifest and figures: small, committable) and may have
one in artifacts/ (checkpoints: large, git-ignored), a training work folder in artifacts/.work/ and a record of its last
failure in artifacts/.failures/. One lock per result, in artifacts/.locks/, covers all four: every write happens under
it, so two builds of the same result never interleave, and builds of different results run side by side.

Writes are stage → swap (result_folders.py): a result is computed into `<profile>.new/` and swapped into place with
its manifest written last, so a killed writer leaves at most a staging folder or a swap half done, which `recover`
clears or finishes under the lock.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from generator.engine.files import FileSystemError, NotAFolderError, OutsideProjectError, explain, write_atomic
from generator.engine.result_folders import MANIFEST, ResultFolders, ResultKey


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=jsonable) + "\n").encode()


def jsonable(value: Any) -> Any:
    """The JSON form of the non-JSON values that specs and manifests hold (tuples, sets, paths)."""
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


class ResultStore:
    """Every result's folders, its lock and its failure record; writes only under `lock(key)`."""

    def __init__(self, cache_dir: Path, artifacts_dir: Path, project_root: Path):
        self.project_root = project_root
        self.cache = ResultFolders(cache_dir, project_root, "cache")
        self.artifacts = ResultFolders(artifacts_dir, project_root, "artifacts")
        self.locks_dir = artifacts_dir / ".locks"
        self.failures_dir = artifacts_dir / ".failures"
        self.work_root = artifacts_dir / ".work"

    # ------------------------------------------------------------ reading (no lock, never writes)

    def folder(self, key: ResultKey) -> Path:
        """Where the result's manifest and figures are."""
        return self.cache.final(key)

    def artifact_folder(self, key: ResultKey) -> Path:
        return self.artifacts.final(key)

    def has_manifest(self, key: ResultKey) -> bool:
        return (self.cache.final(key) / MANIFEST).is_file()

    def refusal(self, key: ResultKey, artifacts: bool = False) -> str | None:
        """Why gen will not read the result's folders in cache/ (or, with `artifacts`, in artifacts/): a link or a
        setting leads them out of it, or out of the project; one sentence, or None."""
        try:
            if artifacts:
                self.artifacts.check(key)
            else:
                self.cache.check(key)
                self.cache.inside(self.cache.final(key) / MANIFEST)
        except OutsideProjectError as error:
            return str(error)
        return None

    def manifest(self, key: ResultKey) -> dict | None:
        """The result's manifest; None where there is none, or where it leads out of cache/ (see `refusal`)."""
        return self._read_manifest(self.cache.final(key))

    def interrupted(self, key: ResultKey) -> tuple[Path, dict] | None:
        """The folder and manifest of a result whose swap a killed build left half done (its folder missing, its
        `.new/` or `.old/` copy there), which the next build's `recover` puts in place without computing. Only reads."""
        folder = None if self.refusal(key) else self.cache.restorable(key)
        manifest = self._read_manifest(folder) if folder is not None else None
        return (folder, manifest) if manifest is not None else None

    def _read_manifest(self, folder: Path) -> dict | None:
        try:
            return json.loads(self.cache.inside(folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # OutsideProjectError is a ValueError: never opened
            return None

    def failure(self, key: ResultKey) -> dict | None:
        """The record of the result's last failed build, if its last build failed."""
        try:
            return json.loads(self.artifacts.inside(self._failure_path(key)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def work_folder(self, key: ResultKey, fingerprint: str) -> Path:
        """A writer's scratch folder (training checkpoints), keyed by fingerprint so that a killed build resumes;
        OutsideProjectError where a link would put it outside artifacts/."""
        path = self.work_root.joinpath(*key.parts[:2]) / f"{key.profile}-{fingerprint[:12]}"
        self.artifacts.inside(path)
        return path

    def leftover_keys(self) -> list[ResultKey]:
        """Results with a staging or old folder beside them: what dead builds left (or live ones are writing)."""
        found: dict[ResultKey, None] = {}
        for folders in (self.cache, self.artifacts):
            for suffix in ("new", "old"):
                for path in folders.root.glob(f"*/*/*.{suffix}"):
                    if not path.parent.parent.name.startswith("."):  # .work/, .locks/: not result folders
                        found[ResultKey(path.parent.parent.name, None if path.parent.name == "none" else path.parent.name, path.name[: -len(suffix) - 1])] = None
        return list(found)

    # ------------------------------------------------------------ the lock

    @contextmanager
    def lock(self, key: ResultKey, on_wait: Callable[[], None] | None = None, wait: bool = True) -> Iterator[None]:
        """Hold the result's lock; `on_wait` is called once, before waiting, if another process holds it.

        With wait=False, a lock that another process holds raises LockBusy instead.
        """
        from filelock import FileLock, Timeout

        path = self.locks_dir.joinpath(*key.parts[:2]) / f"{key.profile}.lock"
        self.artifacts.inside(path)
        lock = FileLock(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if not wait:
                    raise LockBusy(str(key)) from None
                if on_wait is not None:
                    on_wait()
                lock.acquire()
        except OSError as error:  # Timeout is an OSError too, but it cannot escape the block above
            raise FileSystemError(explain(error, "create the lock", self.project_root)) from None
        try:
            yield
        finally:
            lock.release()

    # ------------------------------------------------------------ writing (only under the lock)

    def recover(self, key: ResultKey) -> None:
        """Clear what a dead build of this result left: finish its swap, drop its staging folders."""
        self.cache.recover(key)
        self.artifacts.recover(key)

    def stage(self, key: ResultKey) -> tuple[Path, Path]:
        """Fresh, empty staging folders for the result's figures and its artifacts."""
        self.recover(key)
        for folders in (self.cache, self.artifacts):
            final = folders.final(key)
            if final.exists() and not final.is_dir():
                raise FileSystemError(explain(NotAFolderError(0, "not a folder", str(final)), "use", self.project_root))
        return self.cache.begin(key), self.artifacts.staging(key)

    def commit(self, key: ResultKey, manifest: dict, artifacts: list[dict]) -> None:
        """Swap the artifacts (if any) and then the figures into place; the manifest is written last of all."""
        if artifacts:
            path = self.artifacts.staging(key) / MANIFEST
            try:
                write_atomic(path, json_bytes({"fingerprint": manifest["fingerprint"], "artifacts": artifacts}))
            except OSError as error:
                raise FileSystemError(explain(error, "write", self.project_root, path)) from None
            self.artifacts.swap(key)
        path = self.cache.staging(key) / MANIFEST
        try:
            write_atomic(path, json_bytes(manifest))
        except OSError as error:
            raise FileSystemError(explain(error, "write", self.project_root, path)) from None
        self.cache.swap(key)
        self.clear_failure(key)

    def abort(self, key: ResultKey) -> None:
        """Drop what was staged; the last good result stays as it was."""
        self.cache.abort(key)
        self.artifacts.abort(key)

    def record_failure(self, key: ResultKey, error: str, log: Path | None) -> None:
        """Note that the result's last build failed (when, why, where the log is), beside the last good result."""
        record = {"failed_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "error": error}
        if log is not None:
            record["log"] = _relative(log, self.project_root)
        try:
            write_atomic(self.artifacts.inside(self._failure_path(key)), json_bytes(record))
        except (OSError, OutsideProjectError):
            return  # the failure is reported on the console anyway

    def clear_failure(self, key: ResultKey) -> None:
        try:
            self.artifacts.inside(self._failure_path(key)).unlink(missing_ok=True)
        except (OSError, OutsideProjectError):
            return

    def holds(self, key: ResultKey, checkpoints: bool = True) -> bool:
        """Whether anything of the result is on disk: its folders, failure record or (with checkpoints) work folders."""
        paths = [f(key) for folders in (self.cache, self.artifacts) for f in (folders.final, folders.staging, folders.old)]
        paths.append(self._failure_path(key))
        return any(p.exists() for p in paths) or (checkpoints and any(self._work_folders(key)))

    def drop(self, key: ResultKey, checkpoints: bool = True) -> bool:
        """Remove the result, its artifacts and failure record (and its training checkpoints unless checkpoints=False)."""
        # Everything is checked before anything is removed, so a refused result is left whole.
        self.cache.check(key)
        self.artifacts.check(key)
        failure = self.artifacts.inside(self._failure_path(key))
        works = self._work_folders(key) if checkpoints else []
        try:
            existed = self.cache.drop(key) | self.artifacts.drop(key)
            failure.unlink(missing_ok=True)
            for work in works:
                shutil.rmtree(work)
                existed = True
        except OSError as error:
            raise FileSystemError(explain(error, "remove", self.project_root)) from None
        return existed

    def tidy(self, key: ResultKey) -> None:
        """Remove the result's section and backend folders where they are left empty (never through a link)."""
        for root in (self.cache.root, self.artifacts.root, self.work_root, self.failures_dir):
            folder = root.joinpath(*key.parts[:2])
            (self.cache if root == self.cache.root else self.artifacts).inside(folder)
            _remove_empty(folder, root)

    def _work_folders(self, key: ResultKey) -> list[Path]:
        """The result's training work folders; OutsideProjectError where a link leads them out of artifacts/."""
        parent = self.work_root.joinpath(*key.parts[:2])
        self.artifacts.inside(parent)
        found = list(parent.glob(f"{key.profile}-*"))
        for path in found:
            self.artifacts.inside(path)
        return found

    def _failure_path(self, key: ResultKey) -> Path:
        return self.failures_dir.joinpath(*key.parts[:2]) / f"{key.profile}.json"


class LockBusy(RuntimeError):
    """Another process holds a result's lock (only raised when asked not to wait)."""


def _remove_empty(folder: Path, stop: Path) -> None:
    """Remove `folder` and its parents up to (not including) `stop` while they are empty."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
