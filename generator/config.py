"""The project: where its folders are and the `[tool.gen]` defaults from pyproject.toml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib


class ConfigError(ValueError):
    """pyproject.toml's [tool.gen] table is unusable; the message says which key."""


@dataclass(frozen=True)
class Project:
    """Paths and defaults of one gen project (a folder with pyproject.toml and sections/)."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)

    def path(self, key: str, default: str) -> Path:
        return (self.root / self.settings.get(key, default)).resolve()

    @property
    def sections_dir(self) -> Path:
        return self.path("sections_dir", "sections")

    @property
    def templates_dir(self) -> Path:
        return self.path("templates_dir", "templates")

    @property
    def docs_dir(self) -> Path:
        return self.path("docs_dir", "docs")

    @property
    def cache_dir(self) -> Path:
        return self.path("cache_dir", "cache")

    @property
    def artifacts_dir(self) -> Path:
        return self.path("artifacts_dir", "artifacts")

    @property
    def site_dir(self) -> Path:
        return self.path("site_dir", "site")

    @property
    def logs_dir(self) -> Path:
        return self.path("logs_dir", "logs")

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


FOLDERS = {"sections_dir": "sections", "templates_dir": "templates", "docs_dir": "docs", "cache_dir": "cache", "artifacts_dir": "artifacts",
           "site_dir": "site", "logs_dir": "logs"}


def _check(settings: dict[str, Any], pyproject: Path) -> None:
    """The [tool.gen] values the engine reads as numbers or folders, checked once, so a typo is one sentence and not a
    traceback, and no folder gen writes, publishes or deletes lies outside the project."""
    from generator.files import OutsideProjectError, inside

    for key, default in FOLDERS.items():
        value = settings.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{pyproject}: [tool.gen] {key} must be a folder name inside the project, not {value!r}")
        try:
            inside(pyproject.parent / value, pyproject.parent)
        except OutsideProjectError as error:
            raise ConfigError(f"{pyproject}: [tool.gen] {key}: {error}") from None
    timeout = settings.get("section_timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(f"{pyproject}: [tool.gen] section_timeout must be a number of seconds above 0 (leave it out for no limit), not {timeout!r}")
    threads = settings.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"{pyproject}: [tool.gen] threads must be a whole number of at least 1, not {threads!r}")


def find_project(start: Path | None = None) -> Project:
    """The nearest folder at or above `start` whose pyproject.toml has a [tool.gen] table."""
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
                return Project(folder, settings)
    raise ConfigError(f"no pyproject.toml with a [tool.gen] table at or above {here}; run gen inside a gen project")
