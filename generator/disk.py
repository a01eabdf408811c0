"""Bytes on disk that the engine and the domain libraries both need: atomic writes, the SHA-256 of a file, and memos
(JSON files) of what was computed from files, among them the SHA-256 of files by their stat, as git's index keeps it.

The lowest layer of gen: it imports nothing of gen, so the engine and generator/mnist/ can share it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file; a failed write leaves nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):  # on a read-only file system even this fails
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is not None and os.fspath(error.filename) == os.fspath(tmp):
            error.filename = str(path)  # the temporary name means nothing to the user
        raise


def sha256_path(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class JsonMemo:
    """A dict kept in a JSON file between runs: loaded once (empty when missing or unreadable), saved atomically only
    when changed; a memo that cannot be written only costs recomputing its entries next time."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        self.dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = {}
            self.entries = loaded if isinstance(loaded, dict) else {}

    def save(self) -> None:
        if self.dirty and self.path is not None:
            try:
                write_atomic(self.path, json.dumps(self.entries, sort_keys=True).encode())
            except OSError:
                return
            self.dirty = False


class StatCache(JsonMemo):
    """SHA-256 of files keyed by (path, size, mtime_ns, inode), as git's index does, so a no-op build hashes only what changed.

    A file modified within the clock's granularity of being hashed could keep its stat, so (like git's racily-clean
    entries) files younger than RACY_NS are hashed but not remembered.
    """

    RACY_NS = 2_000_000_000

    def sha256(self, path: Path, stat: os.stat_result) -> str:
        """The file's SHA-256; `stat` is its os.stat() result, which the caller has anyway."""
        key = str(path)
        identity = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        entry = self.entries.get(key)
        # an entry another version wrote in another form (a dict) is not this file's: hash it again
        if isinstance(entry, list) and len(entry) == 4 and entry[:3] == identity:
            return entry[3]
        digest = sha256_path(path)
        if time.time_ns() - stat.st_mtime_ns > self.RACY_NS:
            self.entries[key], self.dirty = [*identity, digest], True
        return digest
