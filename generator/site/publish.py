"""Pages from the cache (docs/*.md) and the MkDocs site from the pages, each only when something changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from markupsafe import Markup

from generator.engine.config import Project
from generator.engine.files import OutsideProjectError, explain, inside, write_if_changed
from generator.engine.plan import Plan
from generator.engine.section import SectionModule
from generator.engine.store import ResultKey
from generator.site.render import Renderer, Result, make_result, page_path

SITE_STAMP = ".gen-stamp"


def page_results(project: Project, module: SectionModule, the_plan: Plan, backends: list[str]) -> list[Result]:
    """One Result per backend the page shows: the most thorough fresh result (else the newest), or how to make it;
    with the record of the build profile's last failure, if its last build failed."""
    store = project.store()
    spec = module.spec
    if spec.part == "B":
        shown = [None]
    else:
        shown = [b for b in (spec.backends if spec.backends is not None else project.backends) if project.backends[b].default or b in backends]
    results = []
    for backend in shown:
        item = the_plan.shown(spec.id, backend)
        manifest = item.manifest if item else None
        url = f"../figures/{ResultKey(spec.id, backend, manifest['profile'])}" if manifest else ""
        hint = f"gen build --section {spec.id}" + (f" --backend {backend}" if backend else "")
        failure = store.failure(ResultKey(spec.id, backend, the_plan.profile))
        result = make_result(backend, project.backends[backend].label if backend else "", manifest, url, hint)
        result.stale = list(item.reasons) if item and manifest else []
        result.failure = failure
        results.append(result)
    # Backends with results first, so the first tab shows something.
    return sorted(results, key=lambda r: r.missing)


class PageError(RuntimeError):
    """A template failed to render; the message names the template, the line and the error."""


def render_pages(project: Project, modules: list[SectionModule], the_plan: Plan, backends: list[str]) -> list[Path]:
    """Render every section page, the home page and the pages around the sections; return the files whose bytes changed.

    A template that fails leaves its page as it was and raises PageError once the other pages are rendered; so does
    a page that cannot be written (one sentence naming the file), or one that a link would put outside docs/ (never
    read, written or removed).
    """
    pages = _Pages(project, the_plan.profile)
    shown = []
    for module in modules:
        results = page_results(project, module, the_plan, backends)
        path = page_path(project.docs_dir, module.spec)
        shown.append({"section": module.spec, "url": Markup(path.relative_to(project.docs_dir).as_posix()), "results": results})
        pages.render(module.spec.template, path, f" (section {module.spec.id})", section=module.spec, results=results)
    pages.render("index.md.j2", project.docs_dir / "index.md", pages=shown)
    # Pages around the sections (a part's overview, the closing page) see every section's results, as the home page does.
    for template in sorted((project.templates_dir / "pages").glob("*.md.j2")):
        pages.render(f"pages/{template.name}", project.docs_dir / template.name.removesuffix(".j2"), pages=shown)
    try:
        _drop_orphans(project, modules, pages.changed)
    except OutsideProjectError as error:
        pages.errors.append(str(error))
    except OSError as error:
        pages.unwritable = pages.unwritable or explain(error, "write", project.root)
    return pages.outcome()


class _Pages:
    """Renders pages one after the other, going on past one that fails; collects the pages changed and the failures."""

    def __init__(self, project: Project, profile: str) -> None:
        import jinja2

        self.template_errors = (jinja2.TemplateError, KeyError, TypeError, ValueError, AttributeError)
        self.renderer = Renderer(project.templates_dir, project.artifacts_dir / ".jinja")
        self.project, self.profile = project, profile
        self.changed: list[Path] = []
        self.errors: list[str] = []
        self.unwritable = ""  # the first page that cannot be written is enough: the others are the same folder's

    def render(self, template: str, path: Path, what: str = "", **context: object) -> None:
        """Render `template` into `path` (docs/...); `what` names the page in an error (` (section 1.2)`)."""
        try:
            if self.renderer.render(template, inside(path, self.project.docs_dir), profile=self.profile, **context):
                self.changed.append(path)
        except OutsideProjectError as error:  # a template, or the page, is a link out of its folder (before ValueError)
            self.errors.append(str(error))
        except self.template_errors as error:
            self.errors.append(f"templates/{template}{what}{_template_line(error)}: {type(error).__name__}: {error}")
        except OSError as error:
            self.unwritable = self.unwritable or explain(error, "write", self.project.root)

    def outcome(self) -> list[Path]:
        """The pages changed; PageError naming every failure, if any page failed."""
        errors = [*self.errors, self.unwritable] if self.unwritable else self.errors
        if errors:
            raise PageError("; ".join(errors))
        return self.changed


def _template_line(error: BaseException) -> str:
    """' line N' of the innermost template frame of a rendering error, when there is one."""
    import traceback

    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename.endswith(".j2")]
    return f" line {lines[-1]}" if lines else ""


def _drop_orphans(project: Project, modules: list[SectionModule], changed: list[Path]) -> None:
    """Pages of sections that no longer exist are removed, so the site doesn't keep them."""
    expected = {page_path(project.docs_dir, m.spec) for m in modules}
    for part in ("part-a", "part-b"):
        inside(project.docs_dir / part, project.docs_dir)  # a link out of docs/ is never listed, nor emptied
        for path in (project.docs_dir / part).glob("*.md"):
            if path not in expected:
                path.unlink(missing_ok=True)  # a concurrent build may have removed it
                changed.append(path)


def site_inputs_digest(project: Project) -> str:
    """What the site is built from: docs/, the cached figures, mkdocs.yml and the site hooks (by size and mtime)."""
    digest = hashlib.sha256()
    roots = [project.docs_dir, project.cache_dir]
    files = [project.root / "mkdocs.yml", project.root / "generator" / "site" / "hooks.py"]
    for root in roots:
        for folder, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not d.endswith((".new", ".old")))
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


def build_site(project: Project, force: bool = False, mkdocs: Callable[[Project], None] | None = None) -> bool:
    """Run `mkdocs build --strict` into site/ unless nothing it reads changed; True when it ran.

    One build publishes at a time (a lock in artifacts/.locks/): mkdocs clears site/ before it writes it. `mkdocs`
    replaces the MkDocs subprocess: gen serve hands in its in-process builder, which keeps MkDocs imported from one
    rebuild to the next and rebuilds only the edited page when that is all that changed (generator/serve/preview.py).
    """
    if mkdocs is None:  # MkDocs empties the folder it builds into (gen serve's is a private one, outside the project)
        try:
            inside(project.root / project.settings.get("site_dir", "site"), project.root)
        except OutsideProjectError as error:
            raise SiteError(str(error)) from None
    if not force and _published(project, site_inputs_digest(project)):
        return False
    from filelock import FileLock

    lock = project.artifacts_dir / ".locks" / "site.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock):
            digest = site_inputs_digest(project)  # another build may have published these very inputs meanwhile
            if not force and _published(project, digest):
                return False
            if mkdocs is not None:
                mkdocs(project)
            else:
                command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(project.site_dir)]
                result = subprocess.run(command, cwd=project.root, capture_output=True, text=True)
                if result.returncode != 0:
                    tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-12:])
                    raise SiteError(f"mkdocs build failed:\n{tail}")
            write_if_changed(project.site_dir / SITE_STAMP, digest.encode())
    except OSError as error:
        raise SiteError(explain(error, "write", project.root)) from None
    return True


def _published(project: Project, digest: str) -> bool:
    stamp = project.site_dir / SITE_STAMP
    try:
        return stamp.read_text() == digest and (project.site_dir / "index.html").is_file()
    except OSError:
        return False
