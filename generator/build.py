"""Plan which (section, backend, profile) results are stale, compute them in dependency order, render, publish."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from generator.cache import PARSE_MEMO, ResultKey, ResultStore, canonical_json, code_closure, sha256_bytes, sha256_file, stale_reasons
from generator.config import Project
from generator.context import Context, Reporter, resolve_input
from generator.diffusion.backends import BACKENDS
from generator.section import PROFILES, SectionModule, discover, id_key

LIBRARIES = ("torch", "diffusers", "transformers", "numpy")


class UsageError(ValueError):
    """Bad command-line input: an unknown section id, backend or profile."""


@dataclass
class Item:
    """One (section, backend, profile) result: what it depends on now and what the cache holds."""

    module: SectionModule
    key: ResultKey
    inputs: dict[str, Any]
    fingerprint: str
    manifest: dict | None
    reasons: list[str] = field(default_factory=list)
    skip: str | None = None  # why the backend cannot run here
    explicit_backend: bool = False

    @property
    def state(self) -> str:
        if self.manifest is None:
            return "missing"
        return "stale" if self.reasons else "fresh"

    @property
    def label(self) -> str:
        backend = f" · {self.key.backend}" if self.key.backend else ""
        return f"{self.key.section}{backend}"


@dataclass
class Choice:
    """The profile and backends a build uses, and why (the build's first line)."""

    profile: str
    profile_why: str
    backends: list[str]
    backends_why: str
    explicit_backends: bool


def choose(project: Project, profile: str | None, backends: Sequence[str]) -> Choice:
    """Resolve --profile/--backend against [tool.gen] and what this machine can do."""
    from generator.diffusion.backends.probe import cuda_available

    for name in backends:
        if name not in BACKENDS:
            raise UsageError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if profile is not None:
        if profile not in PROFILES:
            raise UsageError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
        why = "--profile"
    elif project.settings.get("profile"):
        profile, why = project.settings["profile"], "[tool.gen] profile"
    elif cuda_available():
        profile, why = "full", "a CUDA GPU is present"
    else:
        profile, why = "quick", "no CUDA GPU here; --profile full runs the SPEC hyperparameters"
    if backends:
        chosen, backends_why = list(dict.fromkeys(backends)), "--backend"
    elif project.settings.get("backends"):
        chosen, backends_why = list(project.settings["backends"]), "[tool.gen] backends"
    else:
        chosen, backends_why = [b.name for b in BACKENDS.values() if b.default], "the default backends"
    return Choice(profile, why, chosen, backends_why, bool(backends))


def load_sections(project: Project) -> list[SectionModule]:
    """Discover the project's sections, with the project root importable (sections may import its modules)."""
    import sys

    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    return discover(project.sections_dir, project.templates_dir, list(BACKENDS))


def section_backends(module: SectionModule) -> list[str | None]:
    """The backends a section runs on: none for Part B, its Part A backends otherwise."""
    if module.spec.part == "B":
        return [None]
    return list(module.spec.backends) if module.spec.backends is not None else list(BACKENDS)


def upstream_keys(module: SectionModule, backend: str | None, profile: str, by_id: dict[str, SectionModule]) -> list[ResultKey]:
    """The results an item reads: its sections' upstream plus its backend's (mnist reads 2.3)."""
    # A backend's upstream (the mnist UNet) matters only to sections that call the model.
    ids = list(module.spec.upstream) + (list(BACKENDS[backend].upstream) if backend and module.spec.uses_model else [])
    keys = []
    for upstream_id in dict.fromkeys(ids):
        upstream = by_id.get(upstream_id)
        if upstream is None:  # a backend's upstream this project lacks; plan() marks the item unavailable
            continue
        keys.append(ResultKey(upstream_id, None if upstream.spec.part == "B" else backend, profile))
    return keys


def plan(project: Project, modules: list[SectionModule], choice: Choice, force: bool = False) -> dict[ResultKey, Item]:
    """Every result of the chosen profile and backends, in dependency order, with why it is stale."""
    store = ResultStore(project.cache_dir)
    by_id = {m.spec.id: m for m in modules}
    items: dict[ResultKey, Item] = {}
    PARSE_MEMO.load(project.artifacts_dir / ".parse-memo.json")

    def add(module: SectionModule, backend: str | None) -> Item:
        key = ResultKey(module.spec.id, backend, choice.profile)
        if key in items:
            return items[key]
        ups = [add(by_id[k.section], k.backend) for k in upstream_keys(module, backend, choice.profile, by_id)]
        spec = module.spec
        inputs = {
            "spec": {
                "params": spec.params_for(choice.profile),
                "prompts": list(spec.prompts.get(backend, [])) if backend else [],
                "seeds": list(spec.seeds),
                "profile": choice.profile,
                "inputs": {name: {"path": value, "sha256": _input_hash(value, project.root)} for name, value in spec.inputs_for(backend).items()},
            },
            "code": code_closure(project.root, module.path, project.code_packages),
            "backend": {"name": backend, **BACKENDS[backend].identity(project.backend_config(backend))} if backend else {},
            "upstream": {str(up.key): up.fingerprint for up in ups},
        }
        inputs = _roundtrip(inputs)
        store.recover(key)
        manifest = store.manifest(key)
        item = Item(module, key, inputs, sha256_bytes(canonical_json(inputs).encode()), manifest)
        if manifest is not None:
            item.reasons = stale_reasons(manifest.get("inputs", {}), inputs) if manifest.get("fingerprint") != item.fingerprint else []
            if force:
                item.reasons = item.reasons or ["--force"]
        if backend:
            item.skip = BACKENDS[backend].unavailable(spec.uses_model, project.backend_config(backend))
            lacking = [u for u in BACKENDS[backend].upstream if u not in by_id] if spec.uses_model else []
            if lacking and item.skip is None:
                item.skip = f"the {backend} backend reads section {', '.join(lacking)}, which this project does not have"
            item.explicit_backend = choice.explicit_backends
        items[key] = item
        return item

    for module in sorted(modules, key=lambda m: id_key(m.spec.id)):
        for backend in section_backends(module):
            if backend is None or backend in choice.backends:
                add(module, backend)
    PARSE_MEMO.save()
    return items


def _roundtrip(value: Any) -> Any:
    """Tuples become lists, as they will in the manifest, so recorded and current compare equal."""
    import json

    return json.loads(canonical_json(value))


def _input_hash(value: str, root: Path) -> str:
    try:
        if value == "dataset:mnist":  # a folder of files, hashed once and then trusted by size and mtime
            from generator.mnist.source import dataset_identity

            return dataset_identity(root)
        return sha256_file(resolve_input(value, root))
    except (OSError, KeyError, ValueError):
        return "missing"


def select(items: dict[ResultKey, Item], sections: Sequence[str], project: Project) -> list[Item]:
    """The stale items to compute: those of `sections` (all when empty) plus stale upstream they read."""
    chosen = [i for i in items.values() if not sections or i.key.section in sections]
    by_key = items
    needed: dict[ResultKey, Item] = {}

    def need(item: Item) -> None:
        for up_key in item.inputs["upstream"]:
            upstream = by_key[_parse_key(up_key)]
            if upstream.state == "fresh" and item.state != "fresh":
                missing = [a["name"] for a in upstream.manifest.get("artifacts", []) if not (project.artifacts_dir.joinpath(*upstream.key.parts) / a["name"]).is_file()]
                if missing:
                    upstream.reasons = [f"artifact missing: {name}" for name in missing]
            need(upstream)
        if item.state != "fresh":
            needed.setdefault(item.key, item)

    for item in chosen:
        need(item)
    return sorted(needed.values(), key=lambda i: list(items).index(i.key))


def _parse_key(text: str) -> ResultKey:
    section, backend, profile = text.split("/")
    return ResultKey(section, None if backend == "none" else backend, profile)


# ---------------------------------------------------------------- running


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


def run_item(project: Project, item: Item, items: dict[ResultKey, Item], reporter: Reporter, log_path: Callable[[], Path]) -> Outcome:
    """Compute one result into staging and swap it in; on failure keep the last good result."""
    store, artifact_store = ResultStore(project.cache_dir), ResultStore(project.artifacts_dir)
    key, spec = item.key, item.module.spec
    out_dir = store.begin(key)
    artifact_dir = artifact_store.begin(key)
    work_dir = project.artifacts_dir / ".work" / key.section / (key.backend or "none") / f"{key.profile}-{item.fingerprint[:12]}"
    backend_loader = None
    if key.backend:
        config = project.backend_config(key.backend)
        config.setdefault("embeddings_cache_dir", str(project.artifacts_dir / ".embeddings"))
        backend_loader = lambda: _load_backend(key, items, project, config)  # noqa: E731
    upstream = {}
    for up_key in item.inputs["upstream"]:
        parsed = _parse_key(up_key)
        upstream[parsed.section] = artifact_store.final(parsed)
    ctx = Context(
        section=spec,
        profile=key.profile,
        backend_name=key.backend,
        backend_loader=backend_loader,
        prompts=item.inputs["spec"]["prompts"],
        root=project.root,
        out_dir=out_dir,
        artifact_dir=artifact_dir,
        work_dir=work_dir,
        upstream_artifacts=upstream,
        reporter=reporter,
    )
    started = time.perf_counter()
    try:
        item.module.compute(ctx)
    except KeyboardInterrupt:
        store.abort(key)
        artifact_store.abort(key)
        raise
    except Exception as error:  # noqa: BLE001 - a section may fail any way; the build goes on
        store.abort(key)
        artifact_store.abort(key)
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"=== {key} failed at {time.strftime('%Y-%m-%d %H:%M:%S')}\n{traceback.format_exc()}\n")
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return Outcome(item, False, time.perf_counter() - started, f"{type(error).__name__}: {message}" if message else type(error).__name__)
    seconds = time.perf_counter() - started
    artifacts = [{"name": name, "sha256": sha256_bytes((artifact_dir / name).read_bytes()), "bytes": (artifact_dir / name).stat().st_size} for name in ctx.artifacts]
    manifest = {
        "section": key.section,
        "title": spec.title,
        "backend": key.backend,
        "profile": key.profile,
        "fingerprint": item.fingerprint,
        "inputs": item.inputs,
        "figures": ctx.figures,
        "metrics": ctx.metrics,
        "notes": ctx.notes,
        "artifacts": artifacts,
        "seconds": round(seconds, 3),
        "provenance": {
            "computed_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "device": _device_name(),
            "backend": ctx._backend.describe() if ctx._backend is not None and hasattr(ctx._backend, "describe") else {},
            "libraries": library_versions(),
            "git_commit": git_commit(project.root),
            "seeds": list(spec.seeds),
        },
    }
    if artifacts:
        artifact_store.commit(key, {"artifacts": artifacts, "fingerprint": item.fingerprint})
    else:
        artifact_store.abort(key)
    store.commit(key, manifest)
    item.manifest, item.reasons = manifest, []
    if work_dir.exists():
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)
    return Outcome(item, True, seconds)


def _load_backend(key: ResultKey, items: dict[ResultKey, Item], project: Project, config: dict) -> Any:
    info = BACKENDS[key.backend]
    artifacts = ResultStore(project.artifacts_dir)
    upstream = {k.section: artifacts.final(k) for k in items if k.section in info.upstream and k.profile == key.profile and k.backend is None}
    return info.load(config, upstream)


def _device_name() -> str:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    import platform

    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
