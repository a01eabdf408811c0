"""What a build would do: the profile and backends it uses, every result with why it is stale, frozen results, targets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from graphlib import CycleError, TopologicalSorter
from typing import Any

from generator.engine.config import Project
from generator.engine.files import StatCache, check_files
from generator.engine.fingerprints import CodeIndex, ParseMemo, canonical_json, sha256_bytes, stale_reasons
from generator.engine.inputs import input_hash
from generator.engine.section import PROFILES, DiscoveryError, SectionModule, id_key
from generator.engine.store import ResultKey, ResultStore


class UsageError(ValueError):
    """Bad command-line input: an unknown section id, backend or profile."""


@dataclass(frozen=True)
class Item:
    """One (section, backend, profile) result: what it depends on now and what the cache holds. A value: planning
    makes it, selecting makes changed copies, nothing mutates it."""

    module: SectionModule
    key: ResultKey
    inputs: dict[str, Any]
    fingerprint: str
    manifest: dict | None
    reasons: tuple[str, ...] = ()
    skip: str | None = None  # why the backend cannot run here
    explicit_backend: bool = False
    # The more thorough profile whose fresh result stands in for this one (a default build does not compute it).
    frozen: str | None = None
    # A killed build left its swap half done: `manifest` (and `reasons`) are those of the `.new/` or `.old/` copy
    # that the next build puts in place without computing.
    interrupted: bool = False

    @property
    def state(self) -> str:
        if self.manifest is None:
            return "missing"
        if self.interrupted:
            return "interrupted"
        return "stale" if self.reasons else "fresh"

    @property
    def label(self) -> str:
        return self.key.label

    @property
    def upstream(self) -> list[ResultKey]:
        """The results it reads, as keys."""
        return [ResultKey.parse(k) for k in self.inputs["upstream"]]


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
    for name in backends:
        if name not in project.backends:
            raise UsageError(f"unknown backend {name!r}; choose from {', '.join(project.backends)}")
    if profile is not None:
        check_profile(profile)
        why = "--profile"
    elif project.settings.get("profile"):
        profile, why = project.settings["profile"], "[tool.gen] profile"
    elif project.has_gpu():
        profile, why = "full", "a CUDA GPU is present"
    else:
        profile, why = "quick", "no CUDA GPU here; --profile full runs the SPEC hyperparameters"
    if backends:
        chosen, backends_why = list(dict.fromkeys(backends)), "--backend"
    elif project.settings.get("backends"):
        chosen, backends_why = list(project.settings["backends"]), "[tool.gen] backends"
    else:
        chosen, backends_why = [b.name for b in project.backends.values() if b.default], "the default backends"
    return Choice(profile, why, chosen, backends_why, bool(backends), explicit_profile=why == "--profile")


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")


def section_backends(project: Project, module: SectionModule) -> list[str | None]:
    """The backends a section runs on: none for Part B, its Part A backends otherwise."""
    if module.spec.part == "B":
        return [None]
    return list(module.spec.backends) if module.spec.backends is not None else list(project.backends)


def upstream_keys(project: Project, module: SectionModule, backend: str | None, profile: str, by_id: dict[str, SectionModule]) -> list[ResultKey]:
    """The results an item reads: its sections' upstream plus its backend's (mnist reads 2.3)."""
    # A backend's upstream (the mnist UNet) matters only to sections that call the model.
    ids = list(module.spec.upstream) + (list(project.backends[backend].upstream) if backend and module.spec.uses_model else [])
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
        # An interrupted result's figures are not in its folder yet, so a page cannot show them.
        existing = [self.items[k] for k in (ResultKey(section_id, backend, p) for p in reversed(PROFILES))
                    if k in self.items and self.items[k].manifest and not self.items[k].interrupted]
        for item in existing:
            if item.state == "fresh":
                return item
        return max(existing, key=lambda i: i.manifest.get("provenance", {}).get("computed_at", ""), default=None)


def plan(project: Project, modules: list[SectionModule], choice: Choice, hashes: StatCache, parsed: ParseMemo | None = None) -> Plan:
    """Every result of the chosen profile and backends with why it is stale, and every other cached result of theirs.

    Pure but for reading files: the caller owns the stat cache and the parse memo (and saves them if it wants)."""
    store = project.store()
    code = CodeIndex(project.root, project.code_packages, hashes, parsed if parsed is not None else ParseMemo())
    by_id = {m.spec.id: m for m in modules}
    graph: dict[ResultKey, tuple[SectionModule, list[ResultKey]]] = {}

    def add(module: SectionModule, backend: str | None, profile: str) -> None:
        key = ResultKey(module.spec.id, backend, profile)
        if key not in graph:
            graph[key] = (module, upstream_keys(project, module, backend, profile, by_id))
            for up in graph[key][1]:
                add(by_id[up.section], up.backend, profile)

    scope_keys = []
    for module in sorted(modules, key=lambda m: id_key(m.spec.id)):
        for backend in section_backends(project, module):
            if backend is None or backend in choice.backends:
                add(module, backend, choice.profile)
                scope_keys.append(ResultKey(module.spec.id, backend, choice.profile))
            # Pages show the default backends' results too, and the most thorough fresh result of each.
            shown = backend is None or backend in choice.backends or project.backends[backend].default
            for profile in PROFILES:
                if shown and store.has_manifest(ResultKey(module.spec.id, backend, profile)):
                    add(module, backend, profile)
    items: dict[ResultKey, Item] = {}
    for key in dependency_order({key: ups for key, (_, ups) in graph.items()}):
        module, ups = graph[key]
        items[key] = _item(project, store, code, hashes, module, key, {str(up): items[up].fingerprint for up in ups})
    scope = []
    for key in scope_keys:
        higher = [] if choice.explicit_profile else PROFILES[PROFILES.index(key.profile) + 1:]
        fresh = [p for p in higher if (other := items.get(ResultKey(key.section, key.backend, p))) and other.state == "fresh"]
        items[key] = replace(items[key], skip=_unavailable(items[key], project, by_id), explicit_backend=choice.explicit_backends, frozen=fresh[-1] if fresh else None)
        scope.append(items[key])
    return Plan(choice.profile, items, scope)


def dependency_order(graph: dict[ResultKey, list[ResultKey]]) -> list[ResultKey]:
    """Every key after the keys it reads, otherwise in id order (graphlib); a cycle is one sentence naming it."""
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = " → ".join(k.label for k in reversed(error.args[1]))
        raise DiscoveryError(f"upstream: dependency cycle {cycle}") from None
    order: list[ResultKey] = []
    ready: set[ResultKey] = set()
    while sorter.is_active():
        ready.update(sorter.get_ready())
        key = min(ready, key=lambda k: (id_key(k.section), k.backend or "", PROFILES.index(k.profile)))
        ready.remove(key)
        order.append(key)
        sorter.done(key)
    return order


def _item(project: Project, store: ResultStore, code: CodeIndex, hashes: StatCache, module: SectionModule, key: ResultKey, upstream: dict[str, str]) -> Item:
    """The result's inputs now, its fingerprint, and why its cached result (if any) is stale."""
    spec, backend, profile = module.spec, key.backend, key.profile
    inputs = _roundtrip({
        "spec": {
            "params": spec.params_for(profile),
            "prompts": list(spec.prompts.get(backend, [])) if backend else [],
            "seeds": list(spec.seeds),
            "profile": profile,
            "inputs": {name: {"path": value, "sha256": input_hash(value, project.root, hashes, project.input_schemes)} for name, value in spec.inputs_for(backend).items()},
            # a forced precision computes other numbers (auto stays out, so that setting nothing changes no fingerprint)
            **({"precision": project.precision} if spec.part == "B" and project.precision != "auto" else {}),
        },
        "code": code.closure(module.path),
        "backend": {"name": backend, **project.backends[backend].identity(project.backend_config(backend))} if backend else {},
        "upstream": upstream,
    })
    fingerprint = sha256_bytes(canonical_json(inputs).encode())
    return _cached(store, hashes, Item(module, key, inputs, fingerprint, None))


def _cached(store: ResultStore, hashes: StatCache, item: Item) -> Item:
    """The item with what the cache holds for it now, and why that is stale."""
    key, fingerprint = item.key, item.fingerprint
    refusal = store.refusal(key)
    if refusal is not None:  # a link out of cache/: never read; computing it fails with this sentence
        return replace(item, manifest=None, reasons=(refusal,), interrupted=False)
    folder, manifest, interrupted = store.folder(key), store.manifest(key), False
    if manifest is None and (leftover := store.interrupted(key)) is not None:
        (folder, manifest), interrupted = leftover, True
    reasons: list[str] = []
    if manifest is not None:
        if manifest.get("fingerprint") != fingerprint:
            reasons = stale_reasons(manifest.get("inputs", {}), item.inputs) or ["fingerprint changed"]
        else:
            reasons = check_files(folder, manifest.get("figures", []), "file", hashes)
    return replace(item, manifest=manifest, reasons=tuple(reasons), interrupted=interrupted)


def replan(the_plan: Plan, project: Project, hashes: StatCache) -> Plan:
    """The same plan with what the cache holds now (after a build computed some of it): inputs and fingerprints do not
    change while a build runs, only the results on disk."""
    store = project.store()
    items = {key: _cached(store, hashes, item) for key, item in the_plan.items.items()}
    return Plan(the_plan.profile, items, [items[item.key] for item in the_plan.scope])


def _unavailable(item: Item, project: Project, by_id: dict[str, SectionModule]) -> str | None:
    """Why the item's backend cannot run here (None when it can)."""
    backend, spec = item.key.backend, item.module.spec
    if not backend:
        return None
    skip = project.backends[backend].unavailable(spec.uses_model, project.backend_config(backend))
    lacking = [u for u in project.backends[backend].upstream if u not in by_id] if spec.uses_model else []
    if lacking and skip is None:
        skip = f"the {backend} backend reads section {', '.join(lacking)}, which this project does not have"
    return skip


def _roundtrip(value: Any) -> Any:
    """Tuples become lists, as they will in the manifest, so recorded and current compare equal."""
    return json.loads(canonical_json(value))


def select(plan: Plan, sections: Sequence[str], project: Project, hashes: StatCache, force: bool = False) -> list[Item]:
    """The items to compute, upstream first: the stale (or, with `force`, all), unfrozen ones of `sections` (all when
    empty), plus the upstream results they read that are stale or whose artifacts (never committed) are missing or
    damaged here. Returns copies whose reasons say why; the plan is left as it was."""
    store = project.store()
    chosen = [i for i in plan.scope if (not sections or i.key.section in sections) and not i.frozen]
    needed: dict[ResultKey, Item] = {}

    def need(item: Item, reasons: tuple[str, ...]) -> None:
        if item.key in needed:
            return
        for up_key in item.upstream:
            upstream = plan.items[up_key]
            up_reasons = upstream.reasons
            if upstream.state == "fresh" and (reasons or item.state != "fresh"):
                recorded = upstream.manifest.get("artifacts", [])
                refusal = store.refusal(up_key, artifacts=True)
                problems = [refusal] if refusal else check_files(store.artifact_folder(up_key), recorded, "name", hashes)
                up_reasons = tuple(f"artifact {p}" for p in problems)
            need(upstream, up_reasons)
        if reasons or item.manifest is None:
            needed[item.key] = replace(item, reasons=reasons)

    for item in chosen:
        need(item, item.reasons or (("--force",) if force else ()))
    return [needed[k] for k in plan.items if k in needed]


def still_needed(item: Item, project: Project, hashes: StatCache) -> bool:
    """Under the result's lock: False when another build committed this result, fresh and whole, since it was planned."""
    store = project.store()
    manifest = store.manifest(item.key)
    if manifest is None or manifest == item.manifest or manifest.get("fingerprint") != item.fingerprint:
        return True
    if check_files(store.folder(item.key), manifest.get("figures", []), "file", hashes):
        return True
    return bool(store.refusal(item.key, artifacts=True) or check_files(store.artifact_folder(item.key), manifest.get("artifacts", []), "name", hashes))
