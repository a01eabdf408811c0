"""Words a reader meets before each page's first figure, words on the whole page, and tables wider than the text column.

Opens every page of a built site (or those named) in headless Chromium from a loopback server, with every request
that would leave the machine refused, lets MathJax typeset, and measures the rendered article (`article`), in
document order:

- words before the first figure: the text before the first <figure> or <img>, leaving out display equations
  (`div.arithmatex`) and algorithm boxes (admonitions of class `abstract`);
- words on the page: the same count over the whole article, every tab and every collapsed block included;
- tables wider than the text column, with every tab shown and every collapsed block open, at 1280 px and at 390 px
  (Material lets such a table scroll sideways: the reader has to scroll to read it).

A word is a run of characters between white space, as issue 21's table counted them (an inline formula counts as
the words of its typeset text, a dash or a slash between spaces as one).

Usage: .venv/bin/python bench/page_words.py SITE_DIR [PAGE ...] [--json]
       (PAGE as the site's folder, e.g. part-a/1.8; default: every page)
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = (1280, 390)

COUNT_WORDS = """() => {
  const article = document.querySelector("article") || document.body;
  const skipped = "div.arithmatex, .admonition.abstract, details.abstract, .headerlink, script, style, noscript";
  const before = [], all = [];
  let figure = false;
  const push = (text) => { all.push(text); if (!figure) before.push(text); };
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return push(node.data);
    if (node.nodeType !== Node.ELEMENT_NODE || node.matches(skipped)) return;
    if (node.matches("figure, img")) figure = true;
    for (const child of node.childNodes) walk(child);
  };
  walk(article);
  const words = (parts) => parts.join(" ").split(/\\s+/).filter((w) => w !== "").length;
  return {before_first_figure: words(before), on_page: words(all), figures: article.querySelectorAll("figure, img").length};
}"""

WIDE_TABLES = """() => {
  const style = document.createElement("style");
  style.textContent = ".tabbed-block { display: block !important; }";
  document.head.append(style);
  for (const details of document.querySelectorAll("article details")) details.open = true;
  const article = document.querySelector("article") || document.body;
  const column = article.clientWidth;
  return Array.from(article.querySelectorAll("table"), (table) => ({
    head: (table.querySelector("tr") || table).textContent.replace(/\\s+/g, " ").trim().slice(0, 60),
    width: Math.ceil(Math.max(table.scrollWidth, table.getBoundingClientRect().width)), column,
  })).filter((t) => t.width > t.column + 1);
}"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a page left while its images still load closes their connections


def site_pages(site: Path) -> list[str]:
    """Every page folder of a built MkDocs site ("." for the home page)."""
    return sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html") if not {"assets", "search", "figures"} & set(p.parts))


def measure(site: Path, pages: list[str]) -> dict[str, dict]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    report: dict[str, dict] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith((base, "data:", "blob:")) else route.abort())
                for rel in pages:
                    page.goto(base + ("" if rel == "." else rel + "/"), wait_until="load")
                    page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
                    facts = report.setdefault(rel, {})
                    if width == WIDTHS[0]:
                        facts.update(page.evaluate(COUNT_WORDS))
                    facts[f"wide_tables_{width}"] = page.evaluate(WIDE_TABLES)
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("pages", nargs="*", help="page folders, e.g. part-a/1.8 (default: every page)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    options = parser.parse_args()
    report = measure(options.site, options.pages or site_pages(options.site))
    if options.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{'page':<28} {'before 1st figure':>17} {'on page':>8}  tables wider than the column")
    for rel, facts in report.items():
        wide = "; ".join(f"{w} px: {t['head']!r} {t['width']} > {t['column']}" for w in WIDTHS for t in facts[f"wide_tables_{w}"]) or "none"
        print(f"{rel:<28} {facts['before_first_figure']:>17} {facts['on_page']:>8}  {wide}")


if __name__ == "__main__":
    main()
