"""Compute one result: discover the sections, stage a result, run its compute function, commit it with its provenance."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from generator.config import Project
from generator.context import Context, Reporter, input_problem
from generator.diffusion.backends import BACKENDS
from generator.files import FileSystemError, sha256_path
from generator.plan import Item
from generator.section import DiscoveryError, SectionModule, discover
from generator.store import ResultKey, ResultStore

LIBRARIES = ("torch", "diffusers", "transformers", "numpy")


def load_sections(project: Project) -> list[SectionModule]:
    """Discover the project's sections, with the project root importable (sections may import its modules)."""
    import sys

    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    modules = discover(project.sections_dir, project.templates_dir, list(BACKENDS))
    for module in modules:
        for name, value in module.spec.inputs.items():
            for path in value.values() if isinstance(value, dict) else [value]:
                problem = input_problem(path, project.root)
                if problem:
                    raise DiscoveryError(f"{project.sections_dir.name}/{module.path.name}: inputs.{name}: {problem}")
    return modules


def git_commit(root: Path) -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip() or "uncommitted"
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class Outcome:
    item: Item
    ok: bool
    seconds: float
    error: str = ""
    log: Path | None = None  # where the traceback of a failed compute went


def run_item(project: Project, item: Item, items: dict[ResultKey, Item], reporter: Reporter, log_path: Callable[[], Path]) -> Outcome:
    """Compute one result into staging and commit it; on failure keep the last good result. The caller holds its lock."""
    store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
    key = item.key
    started = time.perf_counter()
    try:
        out_dir, artifact_dir = store.stage(key)
    except FileSystemError as error:
        return _failed(store, item, str(error), None, started)
    ctx = _context(project, item, items, reporter, store, out_dir, artifact_dir)
    try:
        item.module.compute(ctx)
    except KeyboardInterrupt:
        store.abort(key)
        raise
    except Exception as error:  # noqa: BLE001 - a section may fail any way; the build goes on
        store.abort(key)
        path = log_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as log:
                log.write(f"=== {key} failed at {time.strftime('%Y-%m-%d %H:%M:%S')}\n{traceback.format_exc()}\n")
        except OSError:
            path = None
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return _failed(store, item, f"{type(error).__name__}: {message}" if message else type(error).__name__, path, started)
    seconds = time.perf_counter() - started
    try:
        manifest = _manifest(project, item, ctx, out_dir, artifact_dir, seconds)
        store.commit(key, manifest, manifest["artifacts"])
    except (FileSystemError, OSError) as error:
        store.abort(key)
        return _failed(store, item, str(error), None, started)
    item.manifest, item.reasons = manifest, []
    import shutil

    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    return Outcome(item, True, seconds)


def _failed(store: ResultStore, item: Item, error: str, log: Path | None, started: float) -> Outcome:
    store.record_failure(item.key, error, log)
    return Outcome(item, False, time.perf_counter() - started, error, log)


def _context(project: Project, item: Item, items: dict[ResultKey, Item], reporter: Reporter, store: ResultStore, out_dir: Path, artifact_dir: Path) -> Context:
    key = item.key
    backend_loader = None
    if key.backend:
        config = project.backend_config(key.backend)
        config.setdefault("embeddings_cache_dir", str(project.artifacts_dir / ".embeddings"))
        backend_loader = lambda: _load_backend(key, items, store, config)  # noqa: E731
    upstream = {ResultKey.parse(k).section: store.artifact_folder(ResultKey.parse(k)) for k in item.inputs["upstream"]}
    return Context(
        section=item.module.spec,
        profile=key.profile,
        backend_name=key.backend,
        backend_loader=backend_loader,
        prompts=item.inputs["spec"]["prompts"],
        root=project.root,
        out_dir=out_dir,
        artifact_dir=artifact_dir,
        work_dir=store.work_folder(key, item.fingerprint),
        upstream_artifacts=upstream,
        reporter=reporter,
    )


def _manifest(project: Project, item: Item, ctx: Context, out_dir: Path, artifact_dir: Path, seconds: float) -> dict:
    """What was computed, from what, and where: the manifest, with the size and SHA-256 of every file it lists."""
    key, spec = item.key, item.module.spec
    figures = [{**figure, "bytes": (out_dir / figure["file"]).stat().st_size, "sha256": sha256_path(out_dir / figure["file"])} for figure in ctx.figures]
    artifacts = [{"name": name, "bytes": (artifact_dir / name).stat().st_size, "sha256": sha256_path(artifact_dir / name)} for name in ctx.artifacts]
    backend = ctx._backend.describe() if ctx._backend is not None and hasattr(ctx._backend, "describe") else {}
    return {
        "section": key.section,
        "title": spec.title,
        "backend": key.backend,
        "profile": key.profile,
        "fingerprint": item.fingerprint,
        "inputs": item.inputs,
        "figures": figures,
        "metrics": ctx.metrics,
        "notes": ctx.notes,
        "artifacts": artifacts,
        "seconds": round(seconds, 3),
        "provenance": {
            "computed_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "device": _device_name(),
            "backend": _portable(backend, project.root),
            "libraries": library_versions(),
            "git_commit": git_commit(project.root),
            "seeds": list(spec.seeds),
        },
    }


def _portable(value: Any, root: Path) -> Any:
    """Paths inside the project as relative ones, so a committed manifest does not churn from machine to machine."""
    prefix = str(root.resolve()) + os.sep
    if isinstance(value, str):
        return value[len(prefix):] if value.startswith(prefix) else value
    if isinstance(value, dict):
        return {k: _portable(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(v, root) for v in value]
    return value


def _load_backend(key: ResultKey, items: dict[ResultKey, Item], store: ResultStore, config: dict) -> Any:
    info = BACKENDS[key.backend]
    upstream = {k.section: store.artifact_folder(k) for k in items if k.section in info.upstream and k.profile == key.profile and k.backend is None}
    return info.load(config, upstream)


def _device_name() -> str:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    import platform

    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
