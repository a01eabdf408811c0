"""docs/architecture.md as a newcomer meets it: its layer diagram drawn by the site's own Mermaid, offline, and every
file that it and the README name present in the repository.

The pytest side builds the site of a scratch copy of the report with `gen build --no-compute --profile smoke` (nothing
is computed), then runs this file as a script under `unshare -n` (only loopback exists), which opens the architecture
page in headless Chromium and prints what it saw as JSON; the tests below judge that.

Material draws a `<pre class="mermaid">` into a *closed* shadow root, which page scripts cannot see into, so the
browser side reads the drawn diagram through the DevTools protocol (DOM.getDocument with `pierce`), as an observer.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "README.md", REPO / "docs" / "architecture.md")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MERMAID_ASSET = "assets/mermaid/mermaid.min.js"
# The layers the diagram must show, by the folder or file each one is.
LAYER_PATHS = ("generator/cli.py", "generator/console.py", "generator/serve/", "generator/run/", "generator/site/", "generator/engine/",
               "generator/mnist/", "generator/diffusion/", "generator/disk.py")


# ---------------------------------------------------------------- the browser side (this file run as a script, in the namespace)

def _nodes(node: dict):
    """Every node of a DOM.getDocument tree, shadow roots included."""
    yield node
    for key in ("children", "shadowRoots"):
        for child in node.get(key, []):
            yield from _nodes(child)
    if "contentDocument" in node:
        yield from _nodes(node["contentDocument"])


def _attributes(node: dict) -> dict:
    values = node.get("attributes", [])
    return dict(zip(values[::2], values[1::2], strict=True))


def _texts(node: dict) -> list[str]:
    """The text a node shows: its text nodes, outside <style> and <script>."""
    if node.get("nodeName", "").lower() in ("style", "script"):
        return []
    if node.get("nodeType") == 3:
        return [node.get("nodeValue", "")]
    return [text for key in ("children", "shadowRoots") for child in node.get(key, []) for text in _texts(child)]


def _drawn_diagrams(page) -> list[dict]:
    """Each Mermaid host element on the page: whether its shadow root holds an <svg>, and the labels drawn in it."""
    session = page.context.new_cdp_session(page)
    tree = session.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    found = []
    for node in _nodes(tree):
        if node.get("nodeName") == "DIV" and "mermaid" in _attributes(node).get("class", "").split():
            roots = node.get("shadowRoots", [])
            found.append({"shadow_roots": [r.get("shadowRootType") for r in roots],
                          "svgs": sum(n.get("nodeName", "").lower() == "svg" for root in roots for n in _nodes(root)),
                          "texts": " ".join(" ".join(text for root in roots for text in _texts(root)).split())})
    session.detach()
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def browse(site: Path, shots: Path | None = None) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    report: dict = {"base": base, "requests": [], "external_requests": [], "failed_requests": [], "console": []}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: report["console"].append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: report["console"].append(f"pageerror: {e}"))
            page.on("request", lambda r: report["requests"].append(r.url) if r.url.startswith(base)
                    else None if r.url.startswith(("data:", "blob:")) else report["external_requests"].append(r.url))
            page.on("requestfailed", lambda r: report["failed_requests"].append(r.url))
            page.on("response", lambda r: report["failed_requests"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(base + "architecture/", wait_until="networkidle")
            # Material swaps the <pre class="mermaid"> for a <div class="mermaid"> once the diagram is drawn; without a
            # loaded Mermaid it asks a CDN for one instead, which fails here and is recorded above.
            try:
                page.wait_for_selector("article div.mermaid", state="attached", timeout=20000)
            except PlaywrightTimeout:
                pass
            page.wait_for_load_state("networkidle")
            report["mermaid_loaded"] = page.evaluate("typeof window.mermaid !== 'undefined' && typeof window.mermaid.render === 'function'")
            # (Material takes the class off a <pre> while it waits for Mermaid, so the source is found by its text.)
            report["undrawn"] = page.evaluate("Array.from(document.querySelectorAll('article pre')).filter(p => /^\\s*flowchart/.test(p.textContent)).length")
            report["host_box"] = page.locator("article div.mermaid").first.bounding_box() if page.locator("article div.mermaid").count() else None
            if shots is not None:
                page.locator("article div.mermaid, article pre").first.screenshot(path=str(shots / "architecture-diagram.png"))
            report["diagrams"] = _drawn_diagrams(page)
            browser.close()
    finally:
        server.shutdown()
    return report


# ---------------------------------------------------------------- the pytest side

@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    from conftest import copy_project

    if shutil.which("chromium") is None and not os.environ.get("CI"):
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    project = copy_project(tmp_path_factory.mktemp("docs-diagram"))
    project.gen("build", "--no-compute", "--profile", "smoke", timeout=600)
    site = project.root / "site"
    assert (site / "architecture" / "index.html").is_file(), "the architecture page was not published"
    isolated = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    command = [sys.executable, __file__, str(site)]
    result = subprocess.run((["unshare", "-n"] if isolated else []) + command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-5000:]
    return {**json.loads(result.stdout), "isolated": isolated, "site": site}


def test_architecture_diagram_renders_as_svg_with_every_layer(report):
    assert report["undrawn"] == 0, f"the diagram was left as text; requests that left loopback: {report['external_requests']}"
    assert len(report["diagrams"]) == 1, report["diagrams"]
    diagram = report["diagrams"][0]
    assert diagram["svgs"] >= 1, diagram
    for path in LAYER_PATHS:
        assert path in diagram["texts"], (path, diagram["texts"][:2000])
    assert report["host_box"]["width"] > 300 and report["host_box"]["height"] > 300, report["host_box"]


def test_diagram_uses_the_sites_own_mermaid_and_no_request_leaves_loopback(report):
    assert report["mermaid_loaded"]
    assert report["base"] + MERMAID_ASSET in report["requests"]
    assert report["external_requests"] == [], report["external_requests"]
    assert report["failed_requests"] == [], report["failed_requests"]
    assert report["console"] == [], report["console"]


def test_published_page_loads_mermaid_from_the_site_before_the_diagram(report):
    html = (report["site"] / "architecture" / "index.html").read_text()
    script = html.index(f'<script src="../{MERMAID_ASSET}"></script>')
    assert script < html.index('<pre class="mermaid">')
    assert (report["site"] / MERMAID_ASSET).is_file()
    assert "unpkg.com/mermaid" not in html and "cdn.jsdelivr.net" not in html


def test_mkdocs_config_stays_plain_yaml():
    """The diagram is raw HTML in the page, not a superfences custom fence, so mkdocs.yml needs no !!python tags."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    assert "architecture.md" in config["not_in_nav"]


# A path the two documents name: generator/…, sections/…, templates/…, docs/…, tests/…, bench/…, scripts/….
NAMED_PATH = re.compile(r"(?<![\w./-])((?:generator|sections|templates|docs|tests|bench|scripts)/[\w./-]*)")
# What a build writes (git-ignored), and the placeholders of a pattern such as sections/<file>.py.
GENERATED = ("docs/index.md", "docs/part-a/", "docs/part-b/")
# The files the README's "Adding a section" asks the reader to write.
EXAMPLES = ("sections/a1_10_my_trick.py", "templates/a1_10_my_trick.md.j2")


def named_paths(text: str) -> set[str]:
    found = set()
    for match in NAMED_PATH.finditer(text):
        path = match.group(1).rstrip(".")
        following = text[match.end():match.end() + 1]
        if following in ("<", "*", "{") or path.startswith(GENERATED) or path in EXAMPLES:
            continue
        found.add(path)
    return found


@pytest.mark.parametrize("document", DOCS, ids=lambda p: p.name)
def test_every_path_the_documents_name_exists(document):
    paths = named_paths(document.read_text())
    assert any(p.startswith("generator/") for p in paths)
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert missing == [], f"{document.name} names paths that do not exist: {missing}"


def test_where_do_i_change_x_has_its_six_rows_each_naming_files():
    text = (REPO / "docs" / "architecture.md").read_text()
    table = text.split("## Where do I change X", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| **")]
    names = [re.match(r"\| \*\*(.+?)\*\*", row).group(1) for row in rows]
    assert names == ["a section", "a formula", "a backend", "the cache rule", "a page", "the CLI"]
    for row in rows:
        layer = row.split(" | ")[1]
        assert layer.strip(), row
        assert any(p.startswith("generator/") for p in named_paths(row)), row


if __name__ == "__main__":
    print(json.dumps(browse(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)))
