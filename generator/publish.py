"""Pages from the cache (docs/*.md) and the MkDocs site from the pages, each only when something changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from generator.cache import ResultKey, ResultStore, write_if_changed
from generator.config import Project
from generator.diffusion.backends import BACKENDS
from generator.render import Renderer, Result, make_result, page_path
from generator.section import PROFILES, SectionModule

SITE_STAMP = ".gen-stamp"


def _result_for(store: ResultStore, section_id: str, backend: str | None, profile: str) -> dict | None:
    """The result of `profile`, else the most thorough profile that has one (full, quick, smoke)."""
    for candidate in (profile, *reversed(PROFILES)):
        manifest = store.manifest(ResultKey(section_id, backend, candidate))
        if manifest is not None:
            return manifest
    return None


def page_results(project: Project, module: SectionModule, profile: str, backends: list[str]) -> list[Result]:
    """One Result per backend the page shows: its cached result, or how to make it."""
    store = ResultStore(project.cache_dir)
    spec = module.spec
    if spec.part == "B":
        manifest = _result_for(store, spec.id, None, profile)
        url = f"../figures/{spec.id}/none/{manifest['profile']}" if manifest else ""
        return [make_result(None, "", manifest, url, hint=f"gen build --section {spec.id}")]
    shown = [b for b in (spec.backends if spec.backends is not None else BACKENDS) if BACKENDS[b].default or b in backends]
    results = []
    for backend in shown:
        manifest = _result_for(store, spec.id, backend, profile)
        url = f"../figures/{spec.id}/{backend}/{manifest['profile']}" if manifest else ""
        hint = f"gen build --section {spec.id} --backend {backend}"
        results.append(make_result(backend, BACKENDS[backend].label, manifest, url, hint))
    # Backends with results first, so the first tab shows something.
    return sorted(results, key=lambda r: r.missing)


class PageError(RuntimeError):
    """A template failed to render; the message names the template, the line and the error."""


def render_pages(project: Project, modules: list[SectionModule], profile: str, backends: list[str]) -> list[Path]:
    """Render every section page and the home page; return the files whose bytes changed.

    A template that fails leaves its page as it was and raises PageError once the other pages are rendered.
    """
    import jinja2

    renderer = Renderer(project.templates_dir, project.artifacts_dir / ".jinja")
    changed, pages, errors = [], [], []
    for module in modules:
        results = page_results(project, module, profile, backends)
        path = page_path(project.docs_dir, module.spec)
        pages.append({"section": module.spec, "url": path.relative_to(project.docs_dir).as_posix(), "results": results})
        try:
            if renderer.render(module.spec.template, path, section=module.spec, results=results, profile=profile):
                changed.append(path)
        except (jinja2.TemplateError, KeyError, TypeError, ValueError, AttributeError) as error:
            errors.append(f"templates/{module.spec.template} (section {module.spec.id}){_template_line(error)}: {type(error).__name__}: {error}")
    index = project.docs_dir / "index.md"
    if renderer.render("index.md.j2", index, pages=pages, profile=profile):
        changed.append(index)
    _drop_orphans(project, modules, changed)
    if errors:
        raise PageError("; ".join(errors))
    return changed


def _template_line(error: BaseException) -> str:
    """' line N' of the innermost template frame of a rendering error, when there is one."""
    import traceback

    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename.endswith(".j2")]
    return f" line {lines[-1]}" if lines else ""


def _drop_orphans(project: Project, modules: list[SectionModule], changed: list[Path]) -> None:
    """Pages of sections that no longer exist are removed, so the site doesn't keep them."""
    expected = {page_path(project.docs_dir, m.spec) for m in modules}
    for part in ("part-a", "part-b"):
        for path in (project.docs_dir / part).glob("*.md"):
            if path not in expected:
                path.unlink()
                changed.append(path)


def site_inputs_digest(project: Project) -> str:
    """What the site is built from: docs/, the cached figures, mkdocs.yml and the site hooks (by size and mtime)."""
    digest = hashlib.sha256()
    roots = [project.docs_dir, project.cache_dir]
    files = [project.root / "mkdocs.yml", project.root / "generator" / "site_hooks.py"]
    for root in roots:
        for folder, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            files.extend(Path(folder) / name for name in sorted(filenames) if not name.startswith("."))
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class SiteError(RuntimeError):
    """`mkdocs build` failed; the message carries its last lines."""


def build_site(project: Project, force: bool = False) -> bool:
    """Run `mkdocs build --strict` into site/ unless nothing it reads changed; True when it ran."""
    digest = site_inputs_digest(project)
    stamp = project.site_dir / SITE_STAMP
    if not force and stamp.is_file() and stamp.read_text() == digest and (project.site_dir / "index.html").is_file():
        return False
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(project.site_dir)]
    result = subprocess.run(command, cwd=project.root, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-12:])
        raise SiteError(f"mkdocs build failed:\n{tail}")
    write_if_changed(stamp, digest.encode())
    return True
