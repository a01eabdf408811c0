"""The project: where its folders are and the `[tool.gen]` defaults from pyproject.toml."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomllib

if TYPE_CHECKING:
    from generator.engine.store import ResultStore


class ConfigError(ValueError):
    """pyproject.toml's [tool.gen] table is unusable; the message says which key."""


# The project's folders: the [tool.gen] key that moves each, and where it is by default.
FOLDERS = {"sections_dir": "sections", "templates_dir": "templates", "docs_dir": "docs", "cache_dir": "cache", "artifacts_dir": "artifacts",
           "site_dir": "site", "logs_dir": "logs"}


def _folder(key: str) -> property:
    """Project.<key>: the folder [tool.gen] `key` names (by default FOLDERS[key]), as an absolute path."""
    return property(lambda project: project.path(key, FOLDERS[key]), doc=f"[tool.gen] {key}, by default {FOLDERS[key]}/")


@dataclass(frozen=True)
class Project:
    """Paths and defaults of one gen project (a folder with pyproject.toml and sections/)."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    # The backends the sections may run on (name → facts: label, default, upstream, availability, identity), handed in
    # by whoever opens the project (generator/run/project.py): the engine knows no backend itself.
    backends: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # Whether a CUDA GPU is here (the default profile is full on one), asked only when a build has no profile.
    has_gpu: Callable[[], bool] = field(default=lambda: False, compare=False)
    # Inputs that are not one file (`dataset:mnist`), registered by the domain libraries (generator/engine/inputs.py).
    input_schemes: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def store(self) -> ResultStore:
        """The result store of this project's cache/ and artifacts/."""
        from generator.engine.store import ResultStore

        return ResultStore(self.cache_dir, self.artifacts_dir, self.root)

    def path(self, key: str, default: str) -> Path:
        return (self.root / self.settings.get(key, default)).resolve()

    sections_dir = _folder("sections_dir")
    templates_dir = _folder("templates_dir")
    docs_dir = _folder("docs_dir")
    cache_dir = _folder("cache_dir")
    artifacts_dir = _folder("artifacts_dir")
    site_dir = _folder("site_dir")
    logs_dir = _folder("logs_dir")

    @property
    def jobs(self) -> int:
        """[tool.gen] jobs: how many results a build computes side by side when --jobs is not given (default 1)."""
        return int(self.settings.get("jobs", 1))

    @property
    def precision(self) -> str:
        """[tool.gen] precision of the MNIST models: "auto" (bf16 where it is the faster, fp32 elsewhere), "fp32" or "bf16"."""
        return str(self.settings.get("precision", "auto"))

    @property
    def code_packages(self) -> tuple[str, ...]:
        """Top-level packages of the project whose modules are fingerprinted as code."""
        return tuple(self.settings.get("code_packages", ("generator", "sections")))

    def backend_config(self, name: str) -> dict[str, Any]:
        return dict(self.settings.get("backend", {}).get(name, {}))

    @property
    def section_timeout(self) -> float | None:
        """Seconds a section's compute may run before it is stopped and fails; None (the default): no limit, because a
        limit that trips kills hours of a legitimate full-profile training, while a hang shows and Ctrl+C stops it cleanly."""
        return self.settings.get("section_timeout")

    @property
    def threads(self) -> int:
        """The intra-op threads every result computes with, whichever worker computes it: torch splits its sums by
        thread count, so a count that followed `--jobs` would change the figures' last bits. `[tool.gen] threads`, else
        OMP_NUM_THREADS, else the cores this process may use."""
        if "threads" in self.settings:
            return self.settings["threads"]
        given = os.environ.get("OMP_NUM_THREADS", "").strip()
        if given.isdigit() and int(given) > 0:
            return int(given)
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1


PRECISIONS = ("auto", "fp32", "bf16")


def _check(settings: dict[str, Any], pyproject: Path) -> None:
    """The [tool.gen] values the engine reads as numbers or folders, checked once, so a typo is one sentence and not a
    traceback, and no folder gen writes, publishes or deletes lies outside the project."""
    from generator.engine.files import OutsideProjectError, inside

    for key, default in FOLDERS.items():
        value = settings.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{pyproject}: [tool.gen] {key} must be a folder name inside the project, not {value!r}")
        try:
            inside(pyproject.parent / value, pyproject.parent)
        except OutsideProjectError as error:
            raise ConfigError(f"{pyproject}: [tool.gen] {key}: {error}") from None
    if settings.get("precision", "auto") not in PRECISIONS:
        raise ConfigError(f"{pyproject}: [tool.gen] precision must be one of {', '.join(map(repr, PRECISIONS))}, not {settings['precision']!r}")
    timeout = settings.get("section_timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(f"{pyproject}: [tool.gen] section_timeout must be a number of seconds above 0 (leave it out for no limit), not {timeout!r}")
    for key in ("jobs", "threads"):
        count = settings.get(key)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ConfigError(f"{pyproject}: [tool.gen] {key} must be a whole number of at least 1, not {count!r}")


def find_project(start: Path | None = None, backends: Mapping[str, Any] | None = None, has_gpu: Callable[[], bool] | None = None,
                 input_schemes: Mapping[str, Any] | None = None) -> Project:
    """The nearest folder at or above `start` whose pyproject.toml has a [tool.gen] table, with the backends it may use."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{pyproject}: is not valid TOML ({error})") from None
            settings = data.get("tool", {}).get("gen")
            if settings is not None:
                _check(settings, pyproject)
                return Project(folder, settings, dict(backends or {}), has_gpu or (lambda: False), dict(input_schemes or {}))
    raise ConfigError(f"no pyproject.toml with a [tool.gen] table at or above {here}; run gen inside a gen project")
