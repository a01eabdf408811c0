"""gen serve's preview site: after one page changes, only that page is rebuilt, and the result is the same site (pages
and search index) as a full build would give; anything more than one page's edit gets a full build."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from generator.run.project import open_project
from generator.serve.preview import PreviewSite, dirty_build_will_do, snapshot


def _search(site: Path) -> list[tuple[str, str, str]]:
    docs = json.loads((site / "search/search_index.json").read_text())["docs"]
    return sorted((d["location"], d["title"], d["text"]) for d in docs)


def _touch_later(path: Path, text: str) -> None:
    """Write the page with an mtime safely after its HTML's, as an edit a moment later would."""
    path.write_text(text)
    later = path.stat().st_mtime_ns + 2_000_000_000
    os.utime(path, ns=(later, later))


def test_dirty_build_will_do_only_for_a_single_edited_page_with_the_same_titles(project):
    project.gen("build", "--no-site")
    config = open_project(project.root)
    page = project.root / "docs/part-b/2.1.md"
    before = snapshot(config)
    assert not dirty_build_will_do(None, before)  # no build yet: full
    assert dirty_build_will_do(before, snapshot(config))  # nothing changed in docs/ (figures may have)
    _touch_later(page, page.read_text() + "\nMore words.\n")
    assert dirty_build_will_do(before, snapshot(config))
    retitled = snapshot(config)
    _touch_later(page, page.read_text().replace("# ", "# Renamed ", 1))
    assert not dirty_build_will_do(retitled, snapshot(config))  # the nav of every page changes
    two = snapshot(config)
    for rel in ("docs/part-b/2.1.md", "docs/part-b/2.2.md"):
        _touch_later(project.root / rel, (project.root / rel).read_text() + "\nMore.\n")
    assert not dirty_build_will_do(two, snapshot(config))
    home = snapshot(config)
    _touch_later(project.root / "docs/index.md", (project.root / "docs/index.md").read_text() + "\nMore.\n")
    assert not dirty_build_will_do(home, snapshot(config))  # its URL prefixes every page's in the search index
    added = snapshot(config)
    project.write("docs/extra.md", "# Extra\n")
    assert not dirty_build_will_do(added, snapshot(config))
    settings = snapshot(config)
    _touch_later(project.root / "mkdocs.yml", (project.root / "mkdocs.yml").read_text() + "\n")
    assert not dirty_build_will_do(settings, snapshot(config))


def test_a_dirty_preview_build_gives_the_site_and_search_index_of_a_full_build(project, tmp_path):
    project.gen("build", "--no-site")
    config = open_project(project.root)
    preview = replace(config, settings={**config.settings, "site_dir": str(tmp_path / "preview")})
    full = replace(config, settings={**config.settings, "site_dir": str(tmp_path / "full")})
    site = PreviewSite()
    site.build(preview)
    page = project.root / "docs/part-b/2.1.md"
    _touch_later(page, page.read_text() + "\nA sentence only the edit has.\n")
    site.build(preview)
    assert (site.full_builds, site.dirty_builds) == (1, 1)
    assert "A sentence only the edit has." in (tmp_path / "preview/part-b/2.1/index.html").read_text()
    PreviewSite().build(full)
    assert _search(tmp_path / "preview") == _search(tmp_path / "full")  # every page once, the edited one as it is now
    for rel in ("part-b/2.1/index.html", "part-b/2.2/index.html", "index.html"):
        assert (tmp_path / "preview" / rel).read_text() == (tmp_path / "full" / rel).read_text(), rel
    [figure] = (project.root / "cache/2.1").rglob("*.png")  # a recomputed result that rewrote only a figure
    figure.write_bytes(b"new bytes")
    site.build(preview)
    assert (site.full_builds, site.dirty_builds) == (1, 2)
    assert [p.read_bytes() for p in (tmp_path / "preview/figures/2.1").rglob(figure.name)] == [b"new bytes"]
    _touch_later(page, page.read_text().replace("# ", "# Renamed ", 1))  # a new title: every page's nav changes
    site.build(preview)
    assert (site.full_builds, site.dirty_builds) == (2, 2)
    assert "Renamed" in (tmp_path / "preview/part-b/2.2/index.html").read_text()
