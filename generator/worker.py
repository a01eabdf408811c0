"""A warm worker: computes work units one after another and keeps what is expensive to load.

It keeps torch, diffusers and every backend it has built (models and prompt embeddings) between units, and imports
anew only the project modules whose files changed since it imported them (with the modules that import them), so
an edit to a section costs its compute, not the start-up. A unit that raises is reported and the worker goes on.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from generator.cache import canonical_json
from generator.context import Context, Reporter
from generator.work import Computed, WorkFailed, WorkUnit

LIBRARIES = ("torch", "diffusers", "transformers", "numpy")


class Worker:
    """Computes work units in this process, warm: see the module's docstring."""

    def __init__(self, root: Path, packages: tuple[str, ...]):
        self.root = root.resolve()
        self.packages = packages
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        self._backends: dict[str, Any] = {}
        # gen's modules loaded before the first unit are the engine this worker runs on: never imported anew in it.
        self._engine = {name for name in sys.modules if name.split(".")[0] == "generator" and self._project_file(name)}
        self._imported: dict[str, str] = {name: self._digest(name) for name in self._engine}

    # ------------------------------------------------------------ module freshness

    def _project_file(self, name: str) -> Path | None:
        """The file of a loaded module of this project (its code packages, sections, gen itself); None otherwise."""
        if name.split(".")[0] not in (*self.packages, "sections", "generator"):
            return None
        path = getattr(sys.modules.get(name), "__file__", None)
        return Path(path) if path else None

    def _digest(self, name: str) -> str:
        path = self._project_file(name)
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() if path else ""
        except OSError:
            return ""

    def engine_changed(self) -> list[str]:
        """The engine modules whose files changed since this worker loaded them: only a new process can use them."""
        return sorted(name for name in self._engine if self._digest(name) != self._imported[name])

    def refresh(self) -> list[str]:
        """Forget the project modules whose files changed, and every project module that imports one of them
        (the engine's own modules stay as loaded: see `engine_changed`)."""
        project = {name for name in sys.modules if self._project_file(name)}
        for name in project - set(self._imported):
            self._imported[name] = self._digest(name)
        changed = {name for name in project - self._engine if self._digest(name) != self._imported[name]}
        stale = set(changed)
        while True:  # a module that imported a stale one holds its old objects: it goes too
            more = {name for name in project - stale - self._engine if _imports_any(sys.modules[name], stale)}
            if not more:
                break
            stale |= more
        for name in stale:
            del sys.modules[name]
            del self._imported[name]
        if any(not name.startswith("sections.") for name in stale):
            self._backends.clear()  # a backend built from old classes
        return sorted(stale)

    # ------------------------------------------------------------ computing

    def compute(self, unit: WorkUnit, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Computed:
        """Run the unit's compute function into the staging folders; raises WorkFailed when the section raises."""
        self.refresh()
        started = time.perf_counter()
        try:
            module = _load_section(unit)
            ctx = self._context(unit, module.SECTION, out_dir, artifact_dir, reporter)
            module.compute(ctx)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - a section may fail any way; the worker goes on
            text = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise WorkFailed(f"{type(error).__name__}: {text}" if text else type(error).__name__, traceback.format_exc()) from None
        finally:
            self._remember_new_modules()
        backend = ctx._backend.describe() if ctx._backend is not None and hasattr(ctx._backend, "describe") else {}
        return Computed(ctx.figures, ctx.metrics, ctx.notes, ctx.artifacts, backend, time.perf_counter() - started, device_name(), library_versions())

    def _remember_new_modules(self) -> None:
        for name in list(sys.modules):
            if name not in self._imported and self._project_file(name):
                self._imported[name] = self._digest(name)

    def _context(self, unit: WorkUnit, section: Any, out_dir: Path, artifact_dir: Path, reporter: Reporter) -> Context:
        key = unit.key
        return Context(
            section=section,
            profile=key.profile,
            backend_name=key.backend,
            backend_loader=(lambda: self._backend(unit)) if key.backend else None,
            prompts=unit.inputs["spec"]["prompts"],
            root=self.root,
            out_dir=out_dir,
            artifact_dir=artifact_dir,
            work_dir=Path(unit.work_dir),
            upstream_artifacts={s: Path(p) for s, p in unit.upstream_artifacts.items()},
            reporter=reporter,
        )

    def _backend(self, unit: WorkUnit) -> Any:
        """The unit's backend, built once per configuration and per version of the upstream results it reads."""
        from generator.diffusion.backends import BACKENDS

        upstream = {s: Path(p) for s, p in unit.backend_upstream.items()}
        identity = canonical_json([unit.key.backend, unit.backend_config, {s: _artifact_fingerprint(p) for s, p in upstream.items()}])
        if identity not in self._backends:
            self._backends[identity] = BACKENDS[unit.key.backend].load(unit.backend_config, upstream)
        return self._backends[identity]


def _imports_any(module: Any, names: set[str]) -> bool:
    """Whether the module holds a reference to one of the named modules or to something defined in one."""
    for value in vars(module).values():
        owner = getattr(value, "__name__", None) if isinstance(value, type(sys)) else getattr(value, "__module__", None)
        if owner in names:
            return True
    return False


def _artifact_fingerprint(folder: Path) -> str:
    """The fingerprint of the result whose artifacts are in `folder` ("" when there are none)."""
    import json

    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError):
        return ""


def _load_section(unit: WorkUnit) -> Any:
    """The section module, executed anew from its file: sections are what users edit."""
    path = Path(unit.section_path)
    spec = importlib.util.spec_from_file_location(f"sections.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def device_name() -> str:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    import platform

    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
