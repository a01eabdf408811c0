"""MkDocs hooks: the nav in section order, cached figures served from cache/ (each GIF with its sprite sheet), MathJax
served from node_modules/."""

from __future__ import annotations

import logging
import os
import posixpath
import re
import time
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from generator.disk import StatCache, write_atomic
from generator.engine.files import OutsideProjectError, inside
from generator.site.sprites import sprite_name, sprite_sheet

log = logging.getLogger("mkdocs.hooks.gen")

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


# The links of the interactive figures' raw HTML (templates/_interactive.md.j2): an image of the macros and a scrubber's
# sprite sheet. The renderer writes every figure link relative to the page's Markdown file; MkDocs rewrites those of
# Markdown to the page's URL but leaves raw HTML alone.
_RAW_LINKS = re.compile(r'(<img class="off-glb" src="|data-sprite=")([^"]*)(")')


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """The interactive figures' links made relative to the page's URL, as MkDocs makes a Markdown link (a page
    `part-b/2.2.md` is served as `part-b/2.2/`, one folder deeper)."""
    source = posixpath.dirname(page.file.src_uri)
    served = posixpath.dirname(page.url) or "."

    def relink(match: re.Match) -> str:
        link = match.group(2)
        if not link or link.startswith(("/", "#")) or ":" in link.split("/", 1)[0]:
            return match.group(0)  # absolute, an anchor, or with a scheme (data:, https:)
        target = posixpath.normpath(posixpath.join(source, link))
        return f"{match.group(1)}{posixpath.relpath(target, served)}{match.group(3)}"

    return _RAW_LINKS.sub(relink, html)


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
    """Add the figures of cache/ as figures/… (a GIF's sprite sheet beside it, see _sprite_sheets), MathJax's es5 build
    as assets/mathjax/… and Mermaid as assets/mermaid/…

    Nothing from outside the project is published: a docs/ file that is a link out of the project, or a cache/ file
    or folder that is a link out of cache/ (gen never makes one; cache/ is committed, so anyone could), stops the
    build with one sentence naming it. MathJax comes from node_modules/, wherever npm put it.
    """
    root, docs = _root(config), Path(config.docs_dir)
    try:
        for file in files:  # docs/ as MkDocs walked it (following links), beside the theme's own files
            if file.abs_src_path and docs in Path(file.abs_src_path).parents:
                inside(Path(file.abs_src_path), root)
        figures = _figures(root / "cache", root)
    except OutsideProjectError as error:
        raise PluginError(str(error)) from None
    for path in figures:
        files.append(File.generated(config, f"figures/{path.relative_to(root / 'cache').as_posix()}", abs_src_path=str(path)))
    for gif, sheet in _sprite_sheets([path for path in figures if path.suffix == ".gif"], root / "artifacts" / SPRITES):
        uri = f"figures/{gif.relative_to(root / 'cache').with_name(sprite_name(gif.name)).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(sheet)))
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


# Sprite sheets are made at site-build time, never in cache/ (a result holds what its compute wrote), into this folder of
# artifacts/: `<SHA-256 of the GIF>.png`, so a GIF whose bytes did not change costs a stat (its hash is remembered by
# stat, as the engine's are) and one that changed gets a new sheet. Sheets that no build has used for SPRITES_KEEP_S are
# deleted; one in use is touched by every build that publishes it, so a build running beside this one keeps its sheets.
SPRITES = ".sprites"
SPRITES_KEEP_S = 600


def _sprite_sheets(gifs: list[Path], folder: Path) -> list[tuple[Path, Path]]:
    """Each GIF with its sprite sheet (generator/site/sprites.py), made once per GIF content. A GIF that cannot be read,
    or a sheet that cannot be written (a read-only project), is left without one: the page then shows the GIF itself."""
    if not gifs:
        return []
    hashes = StatCache(folder / "stat-cache.json")
    sheets = []
    for gif in gifs:
        try:
            sheet = folder / f"{hashes.sha256(gif, gif.stat())}.png"
            if sheet.is_file():
                os.utime(sheet)
            else:
                write_atomic(sheet, sprite_sheet(gif)[0])
        except (OSError, ValueError) as error:
            log.info("no sprite sheet for %s: %s", gif, error)
            continue
        sheets.append((gif, sheet))
    hashes.save()
    _prune(folder, {sheet for _, sheet in sheets})
    return sheets


def _prune(folder: Path, used: set[Path]) -> None:
    cutoff = time.time() - SPRITES_KEEP_S
    for sheet in folder.glob("*.png"):
        try:
            if sheet not in used and sheet.stat().st_mtime < cutoff:
                sheet.unlink()
        except OSError:
            continue
