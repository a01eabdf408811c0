"""Jinja → docs/*.md: one page per section plus the home page; a file is written only when its bytes change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from generator.engine.files import inside, write_if_changed
from generator.engine.section import Section

# Characters that Markdown, its extensions (math, attribute lists, tables), HTML or Jinja could act on: everything
# but letters, digits, spaces and the punctuation below. They are written as HTML character references, which
# Markdown passes through as text and every later stage shows as the character itself.
_SPECIAL = re.compile(r"[^A-Za-z0-9 ,;:?'/()%@.\-\u00a0-\U0010ffff]")
_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# At the start of a line these would make a list item ("- x", "1. x"), and spaces an indented code block or,
# at its end, a line break; templates print user text inside a line, but text that starts or ends one stays text.
_LIST_START = re.compile(r"^(\d+)\.|^-")
_EDGE_SPACES = re.compile(r"^ +| +$")


def text(value: Any) -> Markup:
    """User data (a prompt, a caption, a title) as inert text, in Markdown and in raw HTML alike: shown verbatim,
    never read as Markdown, HTML, math or a template."""
    if isinstance(value, Markup):
        return value
    line = " ".join(str(value).splitlines())
    encoded = _SPECIAL.sub(lambda m: _NAMED.get(m.group(), f"&#{ord(m.group())};"), line)
    encoded = _EDGE_SPACES.sub(lambda m: "&#32;" * len(m.group()), encoded)
    return Markup(_LIST_START.sub(lambda m: f"{m.group(1)}&#46;" if m.group(1) is not None else "&#45;", encoded))


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Markup(value)  # a number is inert, and stays readable inside math
    return text(value)


def _join(values: Any, separator: str = "") -> Markup:
    """Jinja's join, with every item that is not template output made inert text."""
    return Markup(_finalize(separator)).join(_finalize(item) for item in values)


def _fmt(value: Any, spec: str = ".3g") -> Any:
    """A number formatted by `spec` (inert, so printed as it is); anything else unchanged."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Markup(format(value, spec))
    return value


@dataclass
class Figure:
    kind: str
    name: str
    src: Markup
    caption: str
    meta: dict[str, Any]


@dataclass
class Result:
    """One backend's cached result for a page, or the hint to make it."""

    backend: str | None
    label: str
    profile: str | None
    manifest: dict[str, Any] | None
    figures: list[Figure] = field(default_factory=list)
    hint: str = ""
    # Why the result shown is stale (empty when it is fresh), and the record of the last failed build, if any.
    stale: list[str] = field(default_factory=list)
    failure: dict[str, Any] | None = None

    @property
    def missing(self) -> bool:
        return self.manifest is None

    @property
    def metrics(self) -> dict[str, Any]:
        return (self.manifest or {}).get("metrics", {})

    @property
    def notes(self) -> dict[str, str]:
        return (self.manifest or {}).get("notes", {})

    @property
    def params(self) -> dict[str, Any]:
        return (self.manifest or {}).get("inputs", {}).get("spec", {}).get("params", {})

    @property
    def provenance(self) -> dict[str, Any]:
        return (self.manifest or {}).get("provenance", {})

    @property
    def seeds_shown(self) -> list[str]:
        """The seeds of the images a page shows: where a section searched seeds (its figures mark the `chosen` ones),
        those chosen seeds, with the candidate's index in its batch; otherwise the seeds the spec gave."""
        shown: list[str] = []
        for figure in self.figures:
            if figure.meta.get("chosen") and "seed" in figure.meta:
                index = figure.meta.get("index")
                label = f"{figure.meta['seed']}" + (f" (candidate {index})" if index is not None else "")
                if label not in shown:
                    shown.append(label)
        return shown or [str(seed) for seed in self.provenance.get("seeds", [])]

    def fig(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(f"no figure {name!r} in this result (have: {', '.join(f.name for f in self.figures)})")

    def has(self, name: str) -> bool:
        return any(figure.name == name for figure in self.figures)

    def group(self, prefix: str) -> list[Figure]:
        return [figure for figure in self.figures if figure.name.startswith(prefix)]


def page_path(docs_dir: Path, section: Section) -> Path:
    return docs_dir / f"part-{section.part.lower()}" / f"{section.id}.md"


def make_result(backend: str | None, label: str, manifest: dict | None, figures_url: str, hint: str = "") -> Result:
    """A Result whose figure links are relative to the page: `figures_url/<file>`."""
    profile = manifest.get("profile") if manifest else None
    figures = [
        Figure(
            kind=entry["kind"],
            name=entry["name"],
            src=Markup(f"{figures_url}/{entry['file']}"),
            caption=entry.get("caption", ""),
            meta={k: v for k, v in entry.items() if k not in ("kind", "name", "file", "caption")},
        )
        for entry in (manifest or {}).get("figures", [])
    ]
    return Result(backend, label, profile, manifest, figures, hint)


class _ProjectLoader(jinja2.FileSystemLoader):
    """templates/ as Jinja's own loader reads it (which already refuses `..` in a name), except that a template that is
    a link out of templates/ is refused (OutsideProjectError) before it is opened: its text would be published."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        pieces = jinja2.loaders.split_template_path(template)
        for searchpath in self.searchpath:
            candidate = Path(searchpath, *pieces)
            if candidate.is_file():
                inside(candidate, Path(searchpath))
                break
        return super().get_source(environment, template)


class Renderer:
    """Renders templates/ into docs/ with user data escaped by default."""

    def __init__(self, templates_dir: Path, bytecode_dir: Path | None = None):
        # Compiled templates are kept on disk (keyed by their source), so a no-op build doesn't recompile them.
        bytecode = None
        if bytecode_dir is not None:
            bytecode_dir.mkdir(parents=True, exist_ok=True)
            bytecode = jinja2.FileSystemBytecodeCache(str(bytecode_dir))
        self.env = jinja2.Environment(
            loader=_ProjectLoader(str(templates_dir)),
            bytecode_cache=bytecode,
            autoescape=True,
            finalize=_finalize,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["text"] = text
        self.env.filters["fmt"] = _fmt
        # Jinja's own escaping only escapes HTML, so filters that escape must make text inert the same way.
        self.env.filters["e"] = self.env.filters["escape"] = text
        self.env.filters["join"] = _join

    def render(self, template: str, path: Path, **context: Any) -> bool:
        """Render `template` to `path`; True when the file's bytes changed."""
        content = self.env.get_template(template).render(**context)
        content = re.sub(r"\n{3,}", "\n\n", content).strip() + "\n"
        return write_if_changed(path, content.encode("utf-8"))
