"""MkDocs hooks: the nav in section order, cached figures served from cache/, MathJax served from node_modules/."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from generator.engine.files import OutsideProjectError, inside

# The parts of MathJax's es5 build the pages can ask for: the TeX→CHTML bundle, its fonts, and the
# components it loads on demand (TeX extensions, the menu, assistive MathML).
MATHJAX_ENTRY = "tex-chtml.js"
MERMAID_ENTRY = "mermaid.min.js"
MATHJAX_GLOBS = (MATHJAX_ENTRY, "output/chtml/fonts/woff-v2/*.woff", "input/tex/extensions/*.js", "ui/*.js", "a11y/*.js")


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).parent


def _section_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.stem.split(".")) if re.fullmatch(r"[0-9.]+", path.stem) else (10**6,)


def page_title(path: Path) -> str | None:
    """A page's title as the nav shows it: its first `# ` heading (gen serve's preview compares these too)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Nav: Home, Part A, Part B, with the section pages in id order (1.7 < 1.7.1 < 1.8)."""
    docs = Path(config.docs_dir)
    nav: list = [{"Home": "index.md"}]
    for part, folder in (("Part A", "part-a"), ("Part B", "part-b")):
        pages = sorted((docs / folder).glob("*.md"), key=_section_key)
        if pages:
            nav.append({part: [{f"{p.stem} {page_title(p) or ''}".strip(): f"{folder}/{p.name}"} for p in pages]})
    config.nav = _with_report_pages(docs, nav)
    return config


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """A section page's <title> is its nav title as it is: Material prints `page.title` there through `striptags`,
    which turns the escaped characters of a title back into markup, but prints `page.meta.title` unchanged."""
    if page.file.src_uri.startswith(("part-a/", "part-b/")) and page.title:
        page.meta.setdefault("title", page.title)
    return markdown


# Pages around the sections, each in the nav only when it exists: a part's overview first in that part, and the
# closing pages after Part B.
PART_OVERVIEWS = {"Part A": "overview-part-a.md", "Part B": "overview-part-b.md"}
CLOSING_PAGES = (("What I learned", "closing.md"), ("Credits", "credits.md"))


def _with_report_pages(docs: Path, nav: list) -> list:
    for entry in nav:
        for part, items in entry.items():
            overview = PART_OVERVIEWS.get(part)
            if overview and isinstance(items, list) and (docs / overview).is_file():
                items.insert(0, {"Overview": overview})
    return nav + [{title: name} for title, name in CLOSING_PAGES if (docs / name).is_file()]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the figures of cache/ as figures/…, MathJax's es5 build as assets/mathjax/… and Mermaid as assets/mermaid/…

    Nothing from outside the project is published: a docs/ file that is a link out of the project, or a cache/ file
    or folder that is a link out of cache/ (gen never makes one; cache/ is committed, so anyone could), stops the
    build with one sentence naming it. MathJax comes from node_modules/, wherever npm put it.
    """
    root, docs = _root(config), Path(config.docs_dir)
    try:
        for file in files:  # docs/ as MkDocs walked it (following links), beside the theme's own files
            if file.abs_src_path and docs in Path(file.abs_src_path).parents:
                inside(Path(file.abs_src_path), root)
        for path in _figures(root / "cache", root):
            files.append(File.generated(config, f"figures/{path.relative_to(root / 'cache').as_posix()}", abs_src_path=str(path)))
    except OutsideProjectError as error:
        raise PluginError(str(error)) from None
    mathjax = root / "node_modules" / "mathjax" / "es5"
    if not (mathjax / MATHJAX_ENTRY).is_file():
        raise PluginError(f"MathJax is not installed at {mathjax}; run `npm ci` (scripts/setup does) so math renders offline")
    for pattern in MATHJAX_GLOBS:
        for path in sorted(mathjax.glob(pattern)):
            files.append(File.generated(config, f"assets/mathjax/{path.relative_to(mathjax).as_posix()}", abs_src_path=str(path)))
    mermaid = root / "node_modules" / "mermaid" / "dist" / MERMAID_ENTRY
    if mermaid.is_file():  # diagrams (docs/architecture.md) draw offline; Material uses a loaded Mermaid instead of a CDN's
        files.append(File.generated(config, f"assets/mermaid/{MERMAID_ENTRY}", abs_src_path=str(mermaid)))
    return files


def _figures(cache: Path, root: Path) -> list[Path]:
    """The figures under cache/ (not in dot, staging or old folders), each checked to lie in cache/ with its links
    followed; folders are walked without following links, and a link among them is checked too."""
    if not cache.is_dir():
        return []
    inside(cache, root)
    found = []
    for folder, dirnames, filenames in os.walk(cache):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not d.endswith((".new", ".old")))
        for name in dirnames:
            if (Path(folder) / name).is_symlink():
                inside(Path(folder) / name, cache)
        for name in sorted(filenames):
            path = Path(folder) / name
            if path.suffix in (".png", ".gif", ".svg") and not name.startswith(".") and inside(path, cache).is_file():
                found.append(path)
    return found
