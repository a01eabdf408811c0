"""Open every page of a built site in headless Chromium and report what a reader would see, as JSON.

Run inside `unshare -n` (a network namespace with nothing but loopback), so any request that
would leave the machine fails and is recorded. Usage: python browser_check.py SITE_DIR [SCREENSHOT_DIR]
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PAGE_FACTS = """() => {
  const all = Array.from(document.querySelectorAll("*"));
  const attrs = all.flatMap(e => Array.from(e.attributes).map(a => ({tag: e.tagName, name: a.name, value: a.value})));
  const texts = sel => Array.from(document.querySelectorAll(sel)).map(e => e.textContent.replace(/¶$/, "").replace(/\\s+/g, " ").trim());
  const article = document.querySelector("article") || document.body;
  return {
    title: document.title,
    mathjax: document.querySelectorAll("mjx-container").length,
    arithmatex: document.querySelectorAll(".arithmatex").length,
    rawMath: article.innerText.includes("\\\\("),
    images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    // What user text must never become: javascript: URLs, event handlers, scripts, formatting or code elements.
    jsUrls: attrs.filter(a => /^\\s*javascript:/i.test(a.value)).map(a => `${a.tag} ${a.name}=${a.value}`),
    handlers: attrs.filter(a => a.name.startsWith("on") && a.value.includes("alert(")).map(a => `${a.tag} ${a.name}`),
    userScripts: Array.from(document.scripts).filter(s => s.textContent.includes("alert(")).map(s => s.textContent),
    userElements: all.filter(e => ["EM", "STRONG", "B", "I", "CODE", "A", "IMG"].includes(e.tagName)
      && (["bold", "note", "x", "code", "click", "home"].includes(e.textContent.trim()) || e.getAttribute("src") === "x")).map(e => e.outerHTML),
    figcaptions: texts("figcaption"),
    headings: texts("article h1, article h2, article h3"),
    tabLabels: texts(".tabbed-labels label"),
    nav: texts(".md-nav__link"),
    text: article.textContent.replace(/\\s+/g, " ") + " " + document.body.innerText.replace(/\\s+/g, " "),
  };
}"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main(site: Path, shots: Path | None) -> dict:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    pages = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html") if "assets" not in p.parts and "search" not in p.parts)
    report = {"pages": {}, "external_requests": [], "failed_requests": [], "dialogs": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else report["external_requests"].append(r.url))
        page.on("requestfailed", lambda r: report["failed_requests"].append(r.url))
        page.on("dialog", lambda d: (report["dialogs"].append(d.message), d.dismiss()))
        for rel in pages:
            url = base + ("" if rel == "." else rel + "/")
            page.goto(url, wait_until="networkidle")
            # MathJax typesets asynchronously after load; lazy images load when scrolled into view.
            page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
            page.evaluate("async () => { for (const i of document.images) { i.loading = 'eager'; } window.scrollTo(0, document.body.scrollHeight); }")
            page.wait_for_load_state("networkidle")
            page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=15000)
            report["pages"][rel] = page.evaluate(PAGE_FACTS)
            if page.locator("a.glightbox:visible").count():  # the lightbox shows a figure again: it must not run anything either
                page.locator("a.glightbox:visible").first.click()
                page.wait_for_timeout(500)
                report["pages"][rel]["lightbox"] = page.evaluate(PAGE_FACTS)
                page.keyboard.press("Escape")
                page.wait_for_timeout(300)
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(shots / f"{'home' if rel == '.' else rel.replace('/', '_')}.png"), full_page=True)
        browser.close()
    server.shutdown()
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)))
