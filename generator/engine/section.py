"""A report section's spec: what it computes (params, prompts, seeds) and where its page comes from."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

BASE_SEED = 1729
PROFILES = ("smoke", "quick", "full")
# Ids become paths and URLs, so they are dotted numbers only: "1", "1.7", "1.7.2".
SECTION_ID = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}")
# Seeds seed torch.Generator and numpy, which take unsigned 32-bit (numpy) or 64-bit (torch) values: the common range.
SEED_LIMIT = 2**32


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
        if not isinstance(self.id, str) or not SECTION_ID.fullmatch(self.id):
            raise SpecError("id", f"{self.id!r} is not a section id like '1.7' or '1.7.2'")
        if self.part not in ("A", "B"):
            raise SpecError("part", f"{self.part!r} must be 'A' or 'B'")
        for name in ("title", "summary"):
            value = getattr(self, name)
            if not isinstance(value, str) or (name == "title" and not value.strip()):
                raise SpecError(name, "must be a non-empty string" if name == "title" else "must be a string")
        if not isinstance(self.template, str) or not self.template.endswith(".md.j2"):
            raise SpecError("template", f"{self.template!r} must name a file in templates/ ending in .md.j2")
        if not isinstance(self.params, Mapping):
            raise SpecError("params", "must be a dict of parameter names to values")
        _check_json("params", self.params)
        if not isinstance(self.profiles, Mapping):
            raise SpecError("profiles", "must be a dict of profile name to parameter overrides")
        for name, overrides in self.profiles.items():
            if name not in PROFILES or name == "full":
                raise SpecError("profiles", f"{name!r} is not an overridable profile (use 'smoke' or 'quick')")
            if not isinstance(overrides, Mapping):
                raise SpecError(f"profiles.{name}", "must be a dict of parameter overrides")
            unknown = sorted(set(overrides) - set(self.params), key=str)
            if unknown:
                raise SpecError(f"profiles.{name}", f"overrides unknown params {unknown}; declare them in params first")
            _check_json(f"profiles.{name}", overrides)
        self._check_seeds()
        self._check_prompts()
        _check_ids("upstream", self.upstream)
        if self.backends is not None:
            _check_names("backends", self.backends)
        self._check_inputs()
        if not isinstance(self.uses_model, bool):
            raise SpecError("uses_model", f"{self.uses_model!r} must be True or False")
        if self.part == "B" and self.prompts:
            raise SpecError("prompts", "Part B sections need no backend, so they take no prompts")
        if self.part == "B" and self.backends:
            raise SpecError("backends", "Part B sections need no backend; leave backends out")

    def _check_seeds(self) -> None:
        if isinstance(self.seeds, (str, bytes)) or not isinstance(self.seeds, Sequence) or not self.seeds:
            raise SpecError("seeds", "must be a non-empty list of ints")
        for i, seed in enumerate(self.seeds):
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise SpecError(f"seeds[{i}]", f"{seed!r} is not an int")
            if not 0 <= seed < SEED_LIMIT:
                raise SpecError(f"seeds[{i}]", f"{seed} is outside 0 ≤ seed < 2**32")

    def _check_prompts(self) -> None:
        """One list per backend; an entry is a prompt, a list of prompts (a pair), or a dict (a prompt with its settings)."""
        if not isinstance(self.prompts, Mapping):
            raise SpecError("prompts", "must be a dict of backend name to a list of prompts")
        for backend, entries in self.prompts.items():
            field_name = f"prompts.{backend}"
            if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
                raise SpecError(field_name, f"must be a list of prompts, not {type(entries).__name__} {_short(entries)}; write [{entries!r}]")
            for i, entry in enumerate(entries):
                pair = isinstance(entry, (list, tuple)) and entry and all(isinstance(p, str) for p in entry)
                if not (isinstance(entry, (str, Mapping)) or pair):
                    raise SpecError(f"{field_name}[{i}]", f"{_short(entry)} is not a prompt (a string), a list of prompts or a dict")
            _check_json(field_name, entries)

    def _check_inputs(self) -> None:
        if not isinstance(self.inputs, Mapping):
            raise SpecError("inputs", "must be a dict of input name to a file path (or {backend: path})")
        for name, value in self.inputs.items():
            files = value.values() if isinstance(value, Mapping) else [value]
            if not isinstance(name, str) or not all(isinstance(f, str) and f for f in files):
                raise SpecError(f"inputs.{name}", f"{_short(value)} must be a file path, 'builtin:NAME' or {{backend: path}}")

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


def _check_json(field_name: str, value: Any) -> None:
    """Spec values are fingerprinted as JSON, so they must be JSON data that survives the round trip unchanged."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecError(field_name, f"{value} is not a finite number")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(f"{field_name}[{i}]", item)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError(field_name, f"key {key!r} is not a string; JSON keys are strings")
            _check_json(f"{field_name}.{key}", item)
        return
    raise SpecError(field_name, f"{_short(value)} ({type(value).__name__}) is not JSON data; use numbers, strings, lists and dicts")


def _check_ids(field_name: str, value: Any) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise SpecError(field_name, f"must be a list of section ids, not {_short(value)}; write [{value!r}]")
    for section_id in value:
        if not isinstance(section_id, str) or not SECTION_ID.fullmatch(section_id):
            raise SpecError(field_name, f"{section_id!r} is not a section id")


def _check_names(field_name: str, value: Any) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise SpecError(field_name, f"must be a list of backend names, not {_short(value)}")


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        except SystemExit as error:
            code = "" if error.code is None else repr(error.code)
            raise DiscoveryError(f"{rel}: module: it calls sys.exit({code}) while being imported; a section module only declares SECTION and compute") from None
        except KeyboardInterrupt:
            raise DiscoveryError(f"{rel}: module: importing it raised KeyboardInterrupt; a section module only declares SECTION and compute") from None
        except Exception as error:  # noqa: BLE001 - a user's module may raise anything
            raise DiscoveryError(f"{rel}: module: importing it failed: {type(error).__name__}: {error}") from None
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
        for field_name, names in (("prompts", section.prompts), ("backends", section.backends or []), ("inputs", _input_backends(section))):
            for backend in names:
                if backend not in backend_names:
                    raise DiscoveryError(f"{rel}: {field_name}: backend {backend!r} does not exist (known: {', '.join(backend_names)})")
        found[section.id] = SectionModule(section, compute, path)
    for module in found.values():
        for upstream in module.spec.upstream:
            if upstream not in found:
                raise DiscoveryError(f"sections/{module.path.name}: upstream: section {upstream!r} does not exist")
    _check_cycles({sid: tuple(m.spec.upstream) for sid, m in found.items()}, found)
    return sorted(found.values(), key=lambda m: id_key(m.spec.id))


def _input_backends(section: Section) -> list[str]:
    return [backend for value in section.inputs.values() if isinstance(value, Mapping) for backend in value]


def _check_cycles(graph: dict[str, tuple[str, ...]], found: dict[str, SectionModule]) -> None:
    """One sentence naming a cycle of upstream sections, found by graphlib as the plan orders results."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        cycle = list(reversed(error.args[1]))  # graphlib lists each section before the one that reads it
        raise DiscoveryError(f"sections/{found[cycle[0]].path.name}: upstream: dependency cycle {' → '.join(cycle)}") from None


def id_key(section_id: str) -> tuple[int, ...]:
    """Sort key for section ids: 1.7 < 1.7.1 < 1.8 < 1.10."""
    return tuple(int(part) for part in section_id.split("."))
