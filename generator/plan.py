"""What a build would do: the profile and backends it uses, every result with why it is stale, frozen results, targets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.cache import canonical_json, code_closure, sha256_bytes, stale_reasons
from generator.config import Project
from generator.context import input_hash
from generator.diffusion.backends import BACKENDS
from generator.files import StatCache, check_files
from generator.section import PROFILES, SectionModule, id_key
from generator.store import ResultKey, ResultStore


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
    # The more thorough profile whose fresh result stands in for this one (a default build does not compute it).
    frozen: str | None = None

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
    # --profile was given: compute that profile even where a more thorough result is fresh.
    explicit_profile: bool = False


def choose(project: Project, profile: str | None, backends: Sequence[str]) -> Choice:
    """Resolve --profile/--backend against [tool.gen] and what this machine can do."""
    from generator.diffusion.backends.probe import cuda_available

    for name in backends:
        if name not in BACKENDS:
            raise UsageError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if profile is not None:
        check_profile(profile)
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
    return Choice(profile, why, chosen, backends_why, bool(backends), explicit_profile=why == "--profile")


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")


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


@dataclass
class Plan:
    """Every result a build looked at, in dependency order: the build profile's results for the chosen backends
    (`scope`), plus every other result that exists on disk (to freeze and to show on pages)."""

    profile: str
    items: dict[ResultKey, Item]
    scope: list[Item]

    def shown(self, section_id: str, backend: str | None) -> Item | None:
        """The result a page shows: the most thorough fresh one (full, quick, smoke); else the newest there is."""
        existing = [self.items[k] for k in (ResultKey(section_id, backend, p) for p in reversed(PROFILES)) if k in self.items and self.items[k].manifest]
        for item in existing:
            if item.state == "fresh":
                return item
        return max(existing, key=lambda i: i.manifest.get("provenance", {}).get("computed_at", ""), default=None)


def plan(project: Project, modules: list[SectionModule], choice: Choice, hashes: StatCache) -> Plan:
    """Every result of the chosen profile and backends with why it is stale, and every other cached result of theirs."""
    store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
    by_id = {m.spec.id: m for m in modules}
    items: dict[ResultKey, Item] = {}

    def add(module: SectionModule, backend: str | None, profile: str) -> Item:
        key = ResultKey(module.spec.id, backend, profile)
        if key in items:
            return items[key]
        ups = [add(by_id[k.section], k.backend, profile) for k in upstream_keys(module, backend, profile, by_id)]
        spec = module.spec
        inputs = _roundtrip({
            "spec": {
                "params": spec.params_for(profile),
                "prompts": list(spec.prompts.get(backend, [])) if backend else [],
                "seeds": list(spec.seeds),
                "profile": profile,
                "inputs": {name: {"path": value, "sha256": input_hash(value, project.root)} for name, value in spec.inputs_for(backend).items()},
            },
            "code": code_closure(project.root, module.path, project.code_packages),
            "backend": {"name": backend, **BACKENDS[backend].identity(project.backend_config(backend))} if backend else {},
            "upstream": {str(up.key): up.fingerprint for up in ups},
        })
        manifest = store.manifest(key)
        item = Item(module, key, inputs, sha256_bytes(canonical_json(inputs).encode()), manifest)
        if manifest is not None:
            if manifest.get("fingerprint") != item.fingerprint:
                item.reasons = stale_reasons(manifest.get("inputs", {}), inputs) or ["fingerprint changed"]
            else:
                item.reasons = check_files(store.folder(key), manifest.get("figures", []), "file", hashes)
        items[key] = item
        return item

    scope = []
    for module in sorted(modules, key=lambda m: id_key(m.spec.id)):
        for backend in section_backends(module):
            if backend is None or backend in choice.backends:
                item = add(module, backend, choice.profile)
                _mark_unavailable(item, project, by_id, choice)
                scope.append(item)
            # Pages show the default backends' results too, and the most thorough fresh result of each.
            shown = backend is None or backend in choice.backends or BACKENDS[backend].default
            for profile in PROFILES:
                if shown and store.has_manifest(ResultKey(module.spec.id, backend, profile)):
                    add(module, backend, profile)
    if not choice.explicit_profile:
        for item in scope:
            higher = PROFILES[PROFILES.index(item.key.profile) + 1:]
            fresh = [p for p in higher if (other := items.get(ResultKey(item.key.section, item.key.backend, p))) and other.state == "fresh"]
            item.frozen = fresh[-1] if fresh else None
    return Plan(choice.profile, items, scope)


def _mark_unavailable(item: Item, project: Project, by_id: dict[str, SectionModule], choice: Choice) -> None:
    backend, spec = item.key.backend, item.module.spec
    if not backend:
        return
    item.skip = BACKENDS[backend].unavailable(spec.uses_model, project.backend_config(backend))
    lacking = [u for u in BACKENDS[backend].upstream if u not in by_id] if spec.uses_model else []
    if lacking and item.skip is None:
        item.skip = f"the {backend} backend reads section {', '.join(lacking)}, which this project does not have"
    item.explicit_backend = choice.explicit_backends


def _roundtrip(value: Any) -> Any:
    """Tuples become lists, as they will in the manifest, so recorded and current compare equal."""
    return json.loads(canonical_json(value))


def select(plan: Plan, sections: Sequence[str], project: Project, hashes: StatCache, force: bool = False) -> list[Item]:
    """The items to compute: the stale, unfrozen ones of `sections` (all when empty), plus the upstream results they
    read that are stale or whose artifacts (never committed) are missing or damaged here."""
    store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
    chosen = [i for i in plan.scope if (not sections or i.key.section in sections) and not i.frozen]
    if force:
        for item in chosen:
            item.reasons = item.reasons or ["--force"]
    needed: dict[ResultKey, Item] = {}

    def need(item: Item) -> None:
        for up_key in item.inputs["upstream"]:
            upstream = plan.items[ResultKey.parse(up_key)]
            if upstream.state == "fresh" and item.state != "fresh":
                recorded = upstream.manifest.get("artifacts", [])
                problems = check_files(store.artifact_folder(upstream.key), recorded, "name", hashes)
                upstream.reasons = [f"artifact {problem}" for problem in problems]
            need(upstream)
        if item.state != "fresh":
            needed.setdefault(item.key, item)

    for item in chosen:
        need(item)
    order = list(plan.items)
    return sorted(needed.values(), key=lambda i: order.index(i.key))


def still_needed(item: Item, project: Project, hashes: StatCache) -> bool:
    """Under the result's lock: False when another build committed this result, fresh and whole, since it was planned."""
    store = ResultStore(project.cache_dir, project.artifacts_dir, project.root)
    manifest = store.manifest(item.key)
    if manifest is None or manifest == item.manifest or manifest.get("fingerprint") != item.fingerprint:
        return True
    if check_files(store.folder(item.key), manifest.get("figures", []), "file", hashes):
        return True
    if check_files(store.artifact_folder(item.key), manifest.get("artifacts", []), "name", hashes):
        return True
    item.manifest, item.reasons = manifest, []
    return False
