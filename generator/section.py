"""A report section's spec: what it computes (params, prompts, seeds) and where its page comes from."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BASE_SEED = 1729
PROFILES = ("smoke", "quick", "full")
# Ids become paths and URLs, so they are dotted numbers only: "1", "1.7", "1.7.2".
SECTION_ID = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){0,3}$")


class SpecError(ValueError):
    """A section spec that cannot be used; the message names the field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name


@dataclass(frozen=True)
class Section:
    """What one report section computes and renders (see docs/architecture.md)."""

    id: str
    part: str
    title: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # Overrides of `params` for the smaller profiles; `full` is `params` itself.
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # One list per backend; Part B sections have none.
    prompts: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    seeds: Sequence[int] = (BASE_SEED,)
    # Part A: the backends this section can run on (None: every Part A backend).
    backends: Sequence[str] | None = None
    # Sections whose results this one reads.
    upstream: Sequence[str] = ()
    # Named input files: a path or "builtin:NAME", or {backend: path} where backends read different files.
    # Their bytes are part of the fingerprint of the backends that read them.
    inputs: Mapping[str, str | Mapping[str, str]] = field(default_factory=dict)
    # False for Part A sections that only use the noise schedule and never call the model.
    uses_model: bool = True
    summary: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not SECTION_ID.match(self.id):
            raise SpecError("id", f"{self.id!r} is not a section id like '1.7' or '1.7.2'")
        if self.part not in ("A", "B"):
            raise SpecError("part", f"{self.part!r} must be 'A' or 'B'")
        if not isinstance(self.title, str) or not self.title.strip():
            raise SpecError("title", "must be a non-empty string")
        if not isinstance(self.template, str) or not self.template.endswith(".md.j2"):
            raise SpecError("template", f"{self.template!r} must name a file in templates/ ending in .md.j2")
        if not isinstance(self.params, Mapping):
            raise SpecError("params", "must be a dict of parameter names to values")
        for name, overrides in self.profiles.items():
            if name not in PROFILES or name == "full":
                raise SpecError("profiles", f"{name!r} is not an overridable profile (use 'smoke' or 'quick')")
            unknown = sorted(set(overrides) - set(self.params))
            if unknown:
                raise SpecError(f"profiles.{name}", f"overrides unknown params {unknown}; declare them in params first")
        if isinstance(self.seeds, (str, bytes)) or not isinstance(self.seeds, Sequence) or not self.seeds:
            raise SpecError("seeds", "must be a non-empty list of ints")
        for i, seed in enumerate(self.seeds):
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise SpecError(f"seeds[{i}]", f"{seed!r} is not an int")
        if not isinstance(self.prompts, Mapping):
            raise SpecError("prompts", "must be a dict of backend name to a list of prompts")
        for name, section_id in (("upstream", u) for u in self.upstream):
            if not isinstance(section_id, str) or not SECTION_ID.match(section_id):
                raise SpecError(name, f"{section_id!r} is not a section id")
        if self.part == "B" and (self.prompts or self.backends):
            raise SpecError("prompts", "Part B sections need no backend, so they take no prompts or backends")

    def inputs_for(self, backend: str | None) -> dict[str, str]:
        """The input files one backend reads (only these are in its fingerprint)."""
        return {name: value if isinstance(value, str) else value[backend] for name, value in self.inputs.items() if isinstance(value, str) or backend in value}

    def params_for(self, profile: str) -> dict[str, Any]:
        """The parameters in force for a profile: `params` with that profile's overrides."""
        return {**self.params, **self.profiles.get(profile, {})}

    @property
    def slug(self) -> str:
        return self.id.replace(".", "-")


def backend_inputs(**files_by_backend: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`inputs` where backends read different files: backend_inputs(deepfloyd=PHOTOS, mnist=DIGITS)."""
    inputs: dict[str, dict[str, str]] = {}
    for backend, files in files_by_backend.items():
        for name, path in files.items():
            inputs.setdefault(name, {})[backend] = path
    return inputs


@dataclass(frozen=True)
class SectionModule:
    """A discovered section: its spec, its compute function and the file it came from."""

    spec: Section
    compute: Any
    path: Any


class DiscoveryError(ValueError):
    """A section module that cannot be used: names the file and the field."""


def discover(sections_dir: Any, templates_dir: Any, backend_names: Sequence[str]) -> list[SectionModule]:
    """Import every module in sections/, validate each spec and the set of them, in id order."""
    import importlib.util
    import sys
    from pathlib import Path

    found: dict[str, SectionModule] = {}
    for path in sorted(Path(sections_dir).glob("*.py")):
        if path.name.startswith("_"):
            continue
        rel = f"{Path(sections_dir).name}/{path.name}"
        module_name = f"sections.{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except SpecError as error:
            raise DiscoveryError(f"{rel}: {error}") from None
        except Exception as error:  # noqa: BLE001 - a user's module may raise anything
            raise DiscoveryError(f"{rel}: importing it failed: {type(error).__name__}: {error}") from None
        section = getattr(module, "SECTION", None)
        if not isinstance(section, Section):
            raise DiscoveryError(f"{rel}: SECTION: must be a Section(...) at module level")
        compute = getattr(module, "compute", None)
        if not callable(compute):
            raise DiscoveryError(f"{rel}: compute: define `def compute(ctx):` in the module")
        if section.id in found:
            raise DiscoveryError(f"{rel}: id: {section.id!r} is already used by {found[section.id].path.name}")
        if not (Path(templates_dir) / section.template).is_file():
            raise DiscoveryError(f"{rel}: template: {section.template!r} is not in {Path(templates_dir).name}/")
        for backend in [*section.prompts, *(section.backends or [])]:
            if backend not in backend_names:
                raise DiscoveryError(f"{rel}: prompts: backend {backend!r} does not exist (known: {', '.join(backend_names)})")
        found[section.id] = SectionModule(section, compute, path)
    for module in found.values():
        for upstream in module.spec.upstream:
            if upstream not in found:
                raise DiscoveryError(f"sections/{module.path.name}: upstream: section {upstream!r} does not exist")
    _check_cycles({sid: tuple(m.spec.upstream) for sid, m in found.items()}, found)
    return sorted(found.values(), key=lambda m: id_key(m.spec.id))


def _check_cycles(graph: dict[str, tuple[str, ...]], found: dict[str, SectionModule]) -> None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = " → ".join([*trail[trail.index(node):], node])
            raise DiscoveryError(f"sections/{found[node].path.name}: upstream: dependency cycle {cycle}")
        state[node] = 1
        for nxt in graph[node]:
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in graph:
        visit(node, [])


def id_key(section_id: str) -> tuple[int, ...]:
    """Sort key for section ids: 1.7 < 1.7.1 < 1.8 < 1.10."""
    return tuple(int(part) for part in section_id.split("."))
