"""A section's input files: where a spec input is, and the digest of its bytes that the fingerprint holds.

An input is a path under the project, an absolute path (read only), `builtin:NAME` (a file a package ships), or a
scheme that a domain library registers (`dataset:mnist`, by generator/mnist/source.py): the run layer hands the
schemes in, so the engine knows no data set itself.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.engine.files import StatCache, inside

BUILTINS = {"grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")}


@dataclass(frozen=True)
class InputScheme:
    """An input that is not one file: where it is for a project root, and its digest (hashing only what changed)."""

    locate: Callable[[Path], Path]
    identity: Callable[[Path], str]


Schemes = Mapping[str, InputScheme]


def resolve_input(value: str, root: Path, schemes: Schemes) -> Path:
    """Where a spec input is: a registered scheme's location, a builtin's file, or a path (relative to the project,
    which it must not leave through a link or `..`; an absolute one stays allowed, read only)."""
    if value in schemes:
        return schemes[value].locate(root)
    if value.startswith("builtin:"):
        name = value.split(":", 1)[1]
        if name not in BUILTINS:
            raise FileNotFoundError(f"unknown builtin input {value!r}; known: {', '.join('builtin:' + b for b in BUILTINS)}")
        package_name, file = BUILTINS[name]
        package = importlib.util.find_spec(package_name)
        if package is None:
            raise FileNotFoundError(f"{value!r} ships with {package_name}, which is not installed")
        return Path(package.submodule_search_locations[0]) / file
    path = Path(value)
    return path if path.is_absolute() else inside(root / path, root)


def input_hash(value: str, root: Path, hashes: StatCache, schemes: Schemes) -> str:
    """The SHA-256 of a spec input's bytes, for the fingerprint ("missing" when it cannot be read)."""
    try:
        if value in schemes:
            return schemes[value].identity(root)
        path = resolve_input(value, root, schemes)
        return hashes.sha256(path, path.stat())
    except (OSError, ValueError):
        return "missing"


def input_problem(value: str, root: Path, schemes: Schemes) -> str | None:
    """Why a spec input cannot be read, in a few words (None when it can); checked when sections are discovered."""
    try:
        path = resolve_input(value, root, schemes)
    except (OSError, ValueError) as error:
        return str(error)
    return None if path.exists() else f"{value!r} does not exist" + ("" if Path(value).is_absolute() else " (paths are relative to the project folder)")
