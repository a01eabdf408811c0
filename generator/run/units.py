"""Around a computation: a planned result as a work unit, and the commit of what a worker computed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from generator.engine.config import Project
from generator.engine.files import sha256_path, write_atomic
from generator.engine.plan import Item
from generator.engine.store import ResultKey, ResultStore
from generator.run.work import Computed, WorkUnit


def _result_summary(manifest: dict | None) -> dict:
    """What a section may read of an upstream result besides its artifacts: its params and metrics."""
    manifest = manifest or {}
    return {"params": manifest.get("inputs", {}).get("spec", {}).get("params", {}), "metrics": manifest.get("metrics", {})}


def git_commit(root: Path) -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip() or "uncommitted"
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def unit_for(project: Project, item: Item) -> WorkUnit:
    """The work unit of a planned result: paths as strings, the spec as the data the fingerprint holds."""
    store = project.store()
    key = item.key
    upstream = {k.section: str(store.artifact_folder(k)) for k in item.upstream}
    config, backend_upstream = None, {}
    if key.backend:
        config = project.backend_config(key.backend)
        config.setdefault("embeddings_cache_dir", str(project.artifacts_dir / ".embeddings"))
        # The backend's own upstream (the mnist UNet) at this profile, also for sections that only use its schedule.
        backend_upstream = {s: str(store.artifact_folder(ResultKey(s, None, key.profile))) for s in project.backends[key.backend].upstream}
    return WorkUnit(
        key=key,
        title=item.module.spec.title,
        root=str(project.root),
        section_path=str(item.module.path),
        fingerprint=item.fingerprint,
        inputs=item.inputs,
        reasons=tuple(item.reasons) if item.manifest else ("never computed",),
        backend_config=config,
        upstream_artifacts=upstream,
        backend_upstream=backend_upstream,
        work_dir=str(store.work_folder(key, item.fingerprint)),
        upstream_results={k.section: _result_summary(store.manifest(k)) for k in item.upstream},
        precision=project.precision,
    )


def manifest(project: Project, unit: WorkUnit, computed: Computed, out_dir: Path, artifact_dir: Path) -> dict:
    """What was computed, from what, and where: the manifest, with the size and SHA-256 of every file it lists."""
    key = unit.key
    figures = [{**figure, "bytes": (out_dir / figure["file"]).stat().st_size, "sha256": sha256_path(out_dir / figure["file"])} for figure in computed.figures]
    artifacts = [{"name": name, "bytes": (artifact_dir / name).stat().st_size, "sha256": sha256_path(artifact_dir / name)} for name in computed.artifacts]
    return {
        "section": key.section,
        "title": unit.title,
        "backend": key.backend,
        "profile": key.profile,
        "fingerprint": unit.fingerprint,
        "inputs": unit.inputs,
        "figures": figures,
        "metrics": computed.metrics,
        "notes": computed.notes,
        "artifacts": artifacts,
        "seconds": round(computed.seconds, 3),
        "provenance": {
            "computed_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "device": computed.device,
            "backend": _portable(computed.backend, project.root),
            "libraries": computed.libraries,
            "git_commit": git_commit(project.root),
            "seeds": list(unit.inputs["spec"]["seeds"]),
            **({"precision": computed.notes["precision"]} if "precision" in computed.notes else {}),
        },
    }


def drop_unrecorded(computed: Computed, out_dir: Path, artifact_dir: Path) -> list[str]:
    """Remove what appeared in the staging folders without a ctx writer recording it (a section that wrote there by
    path), so that only recorded figures and artifacts are published; returns their names."""
    keep = {out_dir: {figure["file"] for figure in computed.figures} | set(computed.files.get("figures", {})),
            artifact_dir: set(computed.artifacts)}
    dropped = []
    for folder, names in keep.items():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name in names and path.is_file() and not path.is_symlink():
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            dropped.append(path.name)
    return dropped


def commit(project: Project, store: ResultStore, unit: WorkUnit, computed: Computed, out_dir: Path, artifact_dir: Path) -> dict:
    """Write what a remote worker sent back into staging, then commit the result with its manifest. Holds the lock."""
    for kind, folder in (("figures", out_dir), ("artifacts", artifact_dir)):
        for name, data in computed.files.get(kind, {}).items():
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / name, data)
    record = manifest(project, unit, computed, out_dir, artifact_dir)
    store.commit(unit.key, record, record["artifacts"])
    shutil.rmtree(unit.work_dir, ignore_errors=True)  # a finished result drops its checkpoints
    return record


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
