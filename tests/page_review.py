"""Every page of a built site as a reader meets it, in headless Chromium, as JSON.

For each page: the words before its first figure and the tables wider than the text column at 1280 px and at 390 px,
both measured as bench/page_words.py measures them (its scripts are run here); with SHOTS_DIR, a full-page screenshot
at both widths. Then the figures a reader handles: on the first page with a GIF scrubber, the frame the scrubber shows
at a few positions (a screenshot of its window) with the label it gives; on the first page with a scrubber over stills,
the still it shows at each position; on the first page with a before/after sweep, what its sliders do. Console errors and every request that leaves the machine are recorded.

Run inside `unshare -n` (only loopback exists), so a request that would leave the machine fails and is recorded.
Usage: python tests/page_review.py SITE_DIR [SHOTS_DIR]
"""

from __future__ import annotations

import base64
import functools
import http.server
import importlib.util
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = (1280, 390)


def page_words():
    """bench/page_words.py as a module: one definition of what a word before the first figure and a wide table are."""
    spec = importlib.util.spec_from_file_location("page_words", REPO / "bench" / "page_words.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a page left while its images still load closes their connections


def _watch(page, report: dict, base: str) -> None:
    page.on("console", lambda m: report["console"].append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: report["console"].append(f"pageerror: {e}"))
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else report["external_requests"].append(r.url))
    # a page left while its lazy images still load aborts them: that is no failure
    page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "") else report["failed_requests"].append(f"{r.failure} {r.url}"))
    page.on("response", lambda r: report["failed_requests"].append(f"{r.status} {r.url}") if r.status >= 400 else None)


def _pages(browser, base: str, pages: list[str], report: dict, shots: Path | None) -> None:
    words = page_words()
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 900})
        _watch(page, report, base)
        for rel in pages:
            page.goto(base + ("" if rel == "." else rel + "/"), wait_until="networkidle")
            facts = report["pages"].setdefault(rel, {})
            page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
            if width == WIDTHS[0]:
                facts.update(page.evaluate(words.COUNT_WORDS))
            if shots is not None:
                page.evaluate("async () => { for (const i of document.images) i.loading = 'eager'; }")
                page.wait_for_load_state("networkidle")
                page.evaluate("""async () => { for (const f of document.querySelectorAll('figure.gen-scrub, figure.gen-compare')) {
                  if (f.getClientRects().length) { f.scrollIntoView(); await new Promise(r => setTimeout(r, 100)); } } }""")
                page.wait_for_load_state("networkidle")  # scrubbers load their sheets as they come into view
                shots.mkdir(parents=True, exist_ok=True)
                name = "home" if rel == "." else rel.replace("/", "_")
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
            facts[f"wide_tables_{width}"] = page.evaluate(words.WIDE_TABLES)  # shows every tab and opens every block
        page.close()


def _scrub(browser, base: str, rel: str, report: dict) -> dict:
    """The first GIF scrubber of the page: at its first, middle and last frame, the label, the slider's value and a
    screenshot of the frame window; and the sheet's URL, so the caller can check the window shows that frame."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    _watch(page, report, base)
    page.goto(base + rel + "/", wait_until="networkidle")
    figure = page.locator("figure.gen-scrub:not(.gen-scrub--stills):visible").first
    figure.scroll_into_view_if_needed()
    figure.locator(".gen-scrub__frame").wait_for()
    slider, view = figure.locator("input[type=range]"), figure.locator(".gen-scrub__frame")
    last = int(slider.get_attribute("max"))
    facts = {"page": rel, "frames": last + 1, "gif_hidden": figure.locator(":scope > img").evaluate("i => i.hidden"),
             "sheet": figure.get_attribute("data-sprite"), "labels": json.loads(figure.get_attribute("data-labels") or "[]"), "shown": []}
    page.evaluate("document.fonts.ready")
    for k in (0, last // 2, last):
        slider.fill(str(k))
        page.wait_for_timeout(100)
        facts["shown"].append({"k": k, "value": slider.input_value(), "label": figure.locator("output").text_content(),
                               "valuetext": slider.get_attribute("aria-valuetext"), "frame": figure.get_attribute("data-frame"),
                               "png": base64.b64encode(view.screenshot()).decode()})
    figure.locator(".gen-scrub__play").click()
    page.wait_for_function("(f) => Number(f.dataset.frame) >= 1", arg=figure.element_handle(), timeout=5000)
    facts["played"] = int(figure.get_attribute("data-frame"))
    page.close()
    return facts


def _stills(browser, base: str, rel: str, report: dict) -> list[dict]:
    """The first scrubber over stills: at each position, the label and the one still that shows."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _watch(page, report, base)
    page.goto(base + rel + "/", wait_until="networkidle")
    figure = page.locator("figure.gen-scrub--stills:visible").first
    figure.scroll_into_view_if_needed()
    figure.locator(".gen-scrub__stack").wait_for()
    slider = figure.locator("input[type=range]")
    shown = []
    for k in range(int(slider.get_attribute("max")) + 1):
        slider.fill(str(k))
        shown.append({"k": k, "label": figure.locator("output").text_content(), "visible": figure.evaluate(
            "f => Array.from(f.querySelectorAll('.gen-scrub__stack img'), i => [i.getAttribute('src'), getComputedStyle(i).visibility])")})
    page.close()
    return shown


def _sweep(browser, base: str, rel: str, report: dict) -> dict:
    """The first before/after sweep of the page: where the edit is clipped, and which edit shows, as its sliders move."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _watch(page, report, base)
    page.goto(base + rel + "/", wait_until="networkidle")
    figure = page.locator("figure.gen-compare--sweep:visible").first
    figure.scroll_into_view_if_needed()
    figure.locator(".gen-compare__stage").wait_for()
    reveal = figure.locator(".gen-compare__controls:not(.gen-compare__levels) input")
    level = figure.locator(".gen-compare__levels input")

    def state() -> dict:
        return figure.evaluate("""f => { const a = f.querySelector('.gen-compare__after');
          return {clip: getComputedStyle(a).clipPath, src: a.getAttribute('src'), visible: getComputedStyle(a).visibility,
                  others: Array.from(f.querySelectorAll('.gen-compare__other'), i => getComputedStyle(i).visibility),
                  names: f.querySelector('.gen-compare__names').innerText.replace(/\\s+/g, ' '), level: f.dataset.level}; }""")

    facts = {"page": rel, "levels": int(level.get_attribute("max")) + 1, "parts": figure.evaluate(
        "f => Array.from(f.querySelectorAll('.gen-compare__stage img'), i => i.getAttribute('src'))"), "initial": state()}
    reveal.fill("30")
    facts["reveal_30"] = state()
    level.focus()
    page.keyboard.press("Home")
    facts["level_first"] = state()
    page.keyboard.press("End")
    facts["level_last"] = state()
    page.close()
    return facts


def review(site: Path, shots: Path | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    report: dict = {"pages": {}, "console": [], "external_requests": [], "failed_requests": []}
    pages = page_words().site_pages(site)
    with_scrub = [rel for rel in pages if 'data-sprite="' in (site / rel / "index.html").read_text()]
    with_sweep = [rel for rel in pages if "gen-compare--sweep" in (site / rel / "index.html").read_text()]
    with_stills = [rel for rel in pages if "gen-scrub--stills" in (site / rel / "index.html").read_text()]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS)
            _pages(browser, base, pages, report, shots)
            part_b = [rel for rel in with_scrub if rel.startswith("part-b/")]
            if part_b:
                report["scrub"] = _scrub(browser, base, part_b[0], report)
            if with_sweep:
                report["sweep"] = _sweep(browser, base, with_sweep[0], report)
            if with_stills:
                report["stills"] = {"page": with_stills[0], "shown": _stills(browser, base, with_stills[0], report)}
            browser.close()
    finally:
        server.shutdown()
    return report


def run_isolated(site: Path, shots: Path | None = None, timeout: float = 1200) -> dict:
    """review() in a network namespace with only loopback (where unshare is allowed), its JSON read back."""
    command = [sys.executable, __file__, str(site)] + ([str(shots)] if shots else [])
    isolated = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    result = subprocess.run((["unshare", "-n"] if isolated else []) + command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-5000:])
    return {**json.loads(result.stdout), "isolated": isolated}


if __name__ == "__main__":
    print(json.dumps(review(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)))
