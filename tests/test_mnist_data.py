"""MNIST loading: IDX parsing, the bundled offline subset, and one clear error for each kind of bad file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.mnist import data as mnist_data
from generator.mnist.data import IDX_MD5, MnistDataError, load_mnist

IMAGE_STEMS = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file: magic (0x0801/0x0803 for uint8 1-D/3-D), big-endian dims, then the uint8 data."""
    magic = magic if magic is not None else 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_raw_mnist(directory: Path, n_train: int = 6, n_test: int = 4) -> None:
    """Uncompressed IDX files (no checksum applies) with digits 0..n-1 mod 10 and pixel value = label."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.repeat(labels[:, None, None], 28 * 28, axis=1).reshape(n, 28, 28) + rng.integers(0, 2, (n, 28, 28))
        (directory / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (directory / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


def test_bundled_subset_is_used_offline_with_9000_train_and_100_test_digits_per_class(tmp_path: Path) -> None:
    mnist = load_mnist(tmp_path / "empty", allow_download=False)
    assert mnist.train_images.shape == (9000, 1, 28, 28) and mnist.test_images.shape == (1000, 1, 28, 28)
    assert mnist.train_images.dtype == torch.float32 and 0.0 <= mnist.train_images.min() and mnist.train_images.max() <= 1.0
    assert torch.bincount(mnist.test_labels, minlength=10).tolist() == [100] * 10
    assert torch.bincount(mnist.train_labels, minlength=10).min() > 700
    assert "bundled offline subset" in mnist.source and "9,000 train / 1,000 test" in mnist.source


def test_unreachable_mirrors_fall_back_to_the_bundled_subset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist_data, "MIRRORS", ("http://127.0.0.1:9/",))  # the discard port refuses at once
    assert load_mnist(tmp_path, allow_download=True).source.startswith("bundled offline subset")


def test_idx_files_in_the_data_dir_are_read_as_unit_range_images(tmp_path: Path) -> None:
    write_raw_mnist(tmp_path)
    mnist = load_mnist(tmp_path, allow_download=False)
    assert mnist.train_images.shape == (6, 1, 28, 28) and mnist.test_labels.tolist() == [0, 1, 2, 3]
    assert torch.allclose(mnist.train_images[3].min(), torch.tensor(3 / 255))
    assert mnist.source == f"MNIST IDX files from {tmp_path}: 6 train / 4 test"


def test_truncated_idx_file_raises_a_clear_error(tmp_path: Path) -> None:
    write_raw_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is truncated .* download it again"):
        load_mnist(tmp_path, allow_download=False)


def test_wrong_magic_number_raises_a_clear_error(tmp_path: Path) -> None:
    write_raw_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4), magic=0x0803))
    with pytest.raises(MnistDataError, match=r"t10k-labels-idx1-ubyte has magic number 0x00000803, expected 0x00000801"):
        load_mnist(tmp_path, allow_download=False)


def test_gzip_with_wrong_checksum_raises_a_clear_error(tmp_path: Path) -> None:
    write_raw_mnist(tmp_path)
    raw = tmp_path / "train-labels-idx1-ubyte"
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw.read_bytes()))
    raw.unlink()
    with pytest.raises(MnistDataError, match=rf"train-labels-idx1-ubyte.gz fails its checksum .*expected {IDX_MD5['train-labels-idx1-ubyte']}"):
        load_mnist(tmp_path, allow_download=False)


def test_partial_data_dir_without_download_raises_a_clear_error(tmp_path: Path) -> None:
    write_raw_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(MnistDataError, match=r"missing t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, allow_download=False)
