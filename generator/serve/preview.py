"""gen serve's site builds: MkDocs in this process, and only the edited page when one page is all that changed.

An edit of one section changes one page (and its figures). Rebuilding the whole site for it costs about 0.55 s, most
of it Markdown and the search index of pages that did not change; MkDocs' dirty build rebuilds only the pages whose
source is newer than their HTML, in about 0.1 s. A dirty build is right only when the rest of the site cannot have
changed, so it is used when all of these hold, and a full build runs otherwise:

- a full build of this process came before it, with the same mkdocs.yml and site hooks;
- the same files are in docs/, and at most one of them changed: a Markdown page other than the home page (with none
  changed, a recomputed result rewrote only figures, which the dirty build copies);
- every page keeps its title, so the nav (set from the titles by the hooks) is the same on the pages not rebuilt.

The search index stays whole: Material's search plugin keeps the previous build's entries when MkDocs is started in
dirty mode, and replaces those of the one page rebuilt (it matches pages by URL prefix, which is why the home page,
the prefix of every URL, always gets a full build). `gen build` never uses this: the published site is a full build.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.engine.config import Project

DIRTY_WARNING = "A 'dirty' build is being performed"


class _CompiledTemplates:
    """Jinja bytecode kept in memory between in-process MkDocs builds: compiling the theme's templates anew is most
    of a rebuild. Buckets are keyed by each template's source checksum, so an edited template compiles again."""

    def __init__(self) -> None:
        import jinja2

        class Cache(jinja2.BytecodeCache):
            def __init__(self) -> None:
                self.code: dict[str, bytes] = {}

            def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
                if bucket.key in self.code:
                    bucket.bytecode_from_string(self.code[bucket.key])

            def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
                self.code[bucket.key] = bucket.bytecode_to_string()

        self.cache = Cache()

    def around(self, get_env: Any) -> Any:
        def get_env_with_cache() -> Any:
            env = get_env()
            env.bytecode_cache = self.cache
            return env

        return get_env_with_cache


class _DropDirtyWarning(logging.Filter):
    """MkDocs warns on every dirty build, and --strict would fail on that warning; the conditions above make it moot."""

    def filter(self, record: logging.LogRecord) -> bool:
        return DIRTY_WARNING not in record.getMessage()


@dataclass
class _Snapshot:
    settings: tuple  # mkdocs.yml and the site hooks, by size and mtime
    docs: dict[str, tuple[int, int]]  # every file of docs/, by size and mtime
    titles: dict[str, str | None]  # each Markdown page's title, as the nav shows it


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (stat.st_size, stat.st_mtime_ns)


def _title(path: Path) -> str | None:
    from generator.site.hooks import page_title  # the very titles the hooks put in the nav

    try:
        return page_title(path)
    except (OSError, UnicodeDecodeError):  # gone or mid-write: the next edit event brings it back
        return None


def snapshot(project: Project) -> _Snapshot:
    docs: dict[str, tuple[int, int]] = {}
    for folder, dirnames, filenames in os.walk(project.docs_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(folder) / name
            docs[path.relative_to(project.docs_dir).as_posix()] = _stat(path)
    titles = {rel: _title(project.docs_dir / rel) for rel in docs if rel.endswith(".md")}
    settings = (_stat(project.root / "mkdocs.yml"), _stat(project.root / "generator" / "site" / "hooks.py"))
    return _Snapshot(settings, docs, titles)


def dirty_build_will_do(before: _Snapshot | None, now: _Snapshot) -> bool:
    """True when at most one Markdown page (not the home page) changed between two snapshots, and nothing else in
    docs/, the settings or the titles; else a full build is needed. With no page changed, a dirty build copies the
    figures that a recomputed result rewrote (MkDocs copies the files newer than their copy in the site)."""
    if before is None or before.settings != now.settings or before.docs.keys() != now.docs.keys() or before.titles != now.titles:
        return False
    changed = [rel for rel, stat in now.docs.items() if before.docs[rel] != stat]
    return not changed or (len(changed) == 1 and changed[0].endswith(".md") and changed[0] != "index.md")


@dataclass
class PreviewSite:
    """The site of one `gen serve`: full builds, then dirty ones while a single page changes (module docstring)."""

    compiled: _CompiledTemplates = field(default_factory=_CompiledTemplates)
    last: _Snapshot | None = None
    started: bool = False
    dirty_builds: int = 0  # for tests and the benchmark
    full_builds: int = 0

    def build(self, project: Project) -> None:
        """`mkdocs build --strict` into project.site_dir; raises SiteError (from publish) on a failed build."""
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import MkDocsException

        from generator.site.publish import SiteError

        now = snapshot(project)
        dirty = dirty_build_will_do(self.last, now)
        self.last = None  # a failed build leaves the site in an unknown state: the next one is full
        try:
            config = load_config(str(project.root / "mkdocs.yml"), site_dir=str(project.site_dir), strict=True)
            config.theme.get_env = self.compiled.around(config.theme.get_env)
            if not self.started:  # plugins that keep state between builds (the search index) learn that builds are dirty
                config.plugins.on_startup(command="serve", dirty=True)
                self.started = True
            if not dirty:
                for plugin in config.plugins.values():  # a full build indexes every page itself, merging with nothing
                    if hasattr(plugin, "search_index_prev"):
                        plugin.search_index_prev = None
            quiet, source = _DropDirtyWarning(), logging.getLogger("mkdocs.commands.build")  # the logger that warns
            source.addFilter(quiet)
            try:
                build(config, dirty=dirty)
            finally:
                source.removeFilter(quiet)
        except (MkDocsException, SystemExit) as error:
            raise SiteError(f"mkdocs build failed: {error}") from None
        self.last = now
        if dirty:
            self.dirty_builds += 1
        else:
            self.full_builds += 1


PREVIEW = PreviewSite()
