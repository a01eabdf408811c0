"""The project: where its folders are and the `[tool.gen]` defaults from pyproject.toml."""

from __future__ import annotations

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
                return Project(folder, settings)
    raise ConfigError(f"no pyproject.toml with a [tool.gen] table at or above {here}; run gen inside a gen project")
