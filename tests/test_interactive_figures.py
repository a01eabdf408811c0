"""The interactive figures (templates/_interactive.md.j2, docs/javascripts/figures.js, docs/stylesheets/figures.css) as a
reader meets them: macro output through the site's Markdown, on a plain page and on a Material site with instant
navigation, in headless Chromium with no network.

The pytest side makes the images (each anagram's second reading by the project's own view), renders the macros, builds
the Material site, then runs this file as a script under `unshare -n` (only loopback exists), which drives Chromium and
prints what it measured as JSON; the tests below judge those measurements.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from markupsafe import Markup

from generator.site import media, sprites
from generator.site.render import Figure, Renderer

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TURN_VIEWS = ("rot90", "rot180", "rot270", "flip", "mirror", "transpose", "antitranspose")  # figures.js turns these; the rest crossfade
SIDE = 32  # anagram images are SIDE × SIDE pixels, shown enlarged with crisp pixels
SCRUB_FRAMES = [(230, 40, 40), (40, 200, 60), (40, 70, 230), (240, 200, 30), (150, 40, 200), (30, 200, 210), (250, 250, 250)]
SCRUB_LABELS = [f"t = {t}" for t in (990, 825, 660, 495, 330, 165, 0)]
BEFORE, AFTER = (30, 60, 200), (250, 140, 20)
MATERIAL_SITE_URL = "http://127.0.0.1/figures-test/"


# ---------------------------------------------------------------- the browser side (this file run as a script, in the namespace)

# Where the corners of a centred square go under an element's computed transform: where[i] is the corner (0 top left,
# 1 top right, 2 bottom left, 3 bottom right) that corner i lands on.
CORNERS_JS = """(element) => {
  const m = new DOMMatrix(getComputedStyle(element).transform);
  return [[-1, -1], [1, -1], [-1, 1], [1, 1]].map(([x, y]) => {
    const p = m.transformPoint(new DOMPoint(100 * x, 100 * y, 0, 1));
    return (p.x / p.w > 0 ? 1 : 0) + (p.y / p.w > 0 ? 2 : 0);
  });
}"""
STATE_JS = """(figure) => {
  const button = figure.querySelector('.gen-anagram__turn');
  const card = figure.querySelector('.gen-anagram__card');
  const imgs = card.querySelectorAll('img');
  return {pressed: button.getAttribute('aria-pressed'), shown: figure.dataset.shown, motion: figure.dataset.motion,
          transform: getComputedStyle(card).transform, secondOpacity: getComputedStyle(imgs[1]).opacity,
          running: card.getAnimations({subtree: true}).length,
          durations: [getComputedStyle(card).transitionDuration, getComputedStyle(imgs[1]).transitionDuration],
          now: figure.querySelector('.gen-anagram__now').textContent, label: button.getAttribute('aria-label')};
}"""
SETTLED_JS = "(figure) => figure.querySelectorAll('.gen-anagram__card, .gen-hybrid__stage img').length > 0 && figure.getAnimations({subtree: true}).length === 0"


def _pixels(page, box: dict, samples: int) -> list:
    """The colours at the centres of a samples × samples grid over `box` of a screenshot."""
    from PIL import Image

    shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
    step_x, step_y = shot.width / samples, shot.height / samples
    return [[list(shot.getpixel((int((i + 0.5) * step_x), int((j + 0.5) * step_y)))) for i in range(samples)] for j in range(samples)]


def _settle(page, figure) -> None:
    figure.evaluate("f => f.scrollIntoView({block: 'center'})")
    page.wait_for_function(SETTLED_JS, arg=figure.element_handle(), timeout=10000)


def _anagrams_moving(page, views: list[str]) -> dict:
    """Normal motion: the mouse, Enter and Space each turn a figure, with a transition, to where its view sends it."""
    facts = {}
    for view in views:
        figure = page.locator(f"#views figure.gen-anagram[data-view='{view}']")
        button = figure.locator(".gen-anagram__turn")
        card = figure.locator(".gen-anagram__card")
        _settle(page, figure)
        steps = {"before": figure.evaluate(STATE_JS)}
        button.click()
        steps["click_started"] = figure.evaluate(STATE_JS)
        page.mouse.move(1, 1)
        _settle(page, figure)
        steps["click"] = figure.evaluate(STATE_JS)
        steps["click_corners"] = card.evaluate(CORNERS_JS)
        button.focus()
        page.keyboard.press("Enter")
        _settle(page, figure)
        steps["enter"] = figure.evaluate(STATE_JS)
        steps["enter_corners"] = card.evaluate(CORNERS_JS)
        page.keyboard.press("Space")
        _settle(page, figure)
        steps["space"] = figure.evaluate(STATE_JS)
        steps["space_corners"] = card.evaluate(CORNERS_JS)
        facts[view] = steps
    # Hovering with a mouse previews the second reading without keeping it.
    figure = page.locator("#views figure.gen-anagram[data-view='rot180']")
    button = figure.locator(".gen-anagram__turn")
    button.focus()
    page.keyboard.press("Enter")  # rot180 was left pressed above: back to its first reading
    _settle(page, figure)
    button.hover()
    _settle(page, figure)
    hovered = figure.evaluate(STATE_JS)
    page.mouse.move(1, 1)
    _settle(page, figure)
    facts["hover"] = {"hovered": hovered, "left": figure.evaluate(STATE_JS)}
    return facts


def _anagrams_still(page, views: list[str]) -> dict:
    """Reduced motion: no transition, and the turned image, pixel for pixel, is the second reading."""
    facts = {}
    for view in views:
        figure = page.locator(f"#views figure.gen-anagram[data-view='{view}']")
        figure.evaluate("f => f.scrollIntoView({block: 'center'})")
        page.wait_for_function("(f) => !!f.querySelector('.gen-anagram__turn')", arg=figure.element_handle())
        page.wait_for_function("(f) => Array.from(f.querySelectorAll('img')).every(i => i.complete || !i.getClientRects().length)", arg=figure.element_handle())
        button = figure.locator(".gen-anagram__turn")
        box = figure.locator(".gen-anagram__card > img").first.bounding_box()
        before = figure.evaluate(STATE_JS)
        pixels_before = _pixels(page, box, SIDE)
        button.click()
        page.mouse.move(1, 1)
        after = figure.evaluate(STATE_JS)
        facts[view] = {"before": before, "after": after, "pixels_before": pixels_before, "pixels_after": _pixels(page, box, SIDE)}
    return facts


def _autoplay(page, wait_ms: int) -> list:
    """The readings the off-screen anagram shows once it is scrolled into view, in order."""
    page.evaluate("""() => { window.genShown = [];
      const f = document.querySelector('#autoplay figure.gen-anagram');
      new MutationObserver(() => window.genShown.push(f.dataset.shown)).observe(f, {attributes: true, attributeFilter: ['data-shown']}); }""")
    page.locator("#autoplay figure").evaluate("f => f.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(wait_ms)
    return page.evaluate("window.genShown")


def _hybrid(page) -> dict:
    figure = page.locator("figure.gen-hybrid").first
    stage = figure.locator(".gen-hybrid__stage")
    image = figure.locator(".gen-hybrid__stage img")
    slider = figure.locator("input[type=range]")
    _settle(page, figure)
    facts = {"label": figure.evaluate("f => f.querySelector('label').textContent + ' → ' + f.querySelector('label').htmlFor + ' / ' + f.querySelector('input').id"),
             "stage": stage.bounding_box()["width"], "near": image.bounding_box()["width"]}
    slider.focus()
    page.keyboard.press("End")
    _settle(page, figure)
    facts["far"] = image.bounding_box()["width"]
    facts["far_text"] = figure.locator("output").text_content()
    facts["far_valuetext"] = slider.get_attribute("aria-valuetext")
    page.keyboard.press("Home")
    _settle(page, figure)
    facts["home"] = image.bounding_box()["width"]
    stage.hover()
    _settle(page, figure)
    facts["hovered"] = image.bounding_box()["width"]
    page.mouse.move(1, 1)
    _settle(page, figure)
    facts["left"] = image.bounding_box()["width"]
    facts["duration"] = image.evaluate("i => getComputedStyle(i).transitionDuration")
    return facts


def _scrub(page, selector: str) -> dict:
    figure = page.locator(selector)
    figure.evaluate("f => f.scrollIntoView({block: 'center'})")
    page.wait_for_selector(f"{selector} .gen-scrub__frame")
    frame = figure.locator(".gen-scrub__frame")
    slider = figure.locator("input[type=range]")
    facts = {"gif_hidden": figure.locator(":scope > img").evaluate("i => i.hidden && getComputedStyle(i).display === 'none'"),
             "download": figure.locator("a.gen-scrub__download").get_attribute("href"), "max": slider.get_attribute("max"), "frames": []}
    slider.focus()
    page.keyboard.press("Home")
    for k in range(int(facts["max"]) + 1):
        if k:
            page.keyboard.press("ArrowRight")
        box = frame.bounding_box()
        centre = {"x": box["x"] + box["width"] / 2 - 1, "y": box["y"] + box["height"] / 2 - 1, "width": 2, "height": 2}
        facts["frames"].append({
            "value": slider.input_value(), "position": frame.evaluate("e => getComputedStyle(e).backgroundPosition"),
            "label": figure.locator("output").text_content(), "valuetext": slider.get_attribute("aria-valuetext"),
            "colour": _pixels(page, centre, 1)[0][0]})
    page.keyboard.press("Home")
    play = figure.locator(".gen-scrub__play")
    play.click()
    facts["playing"] = play.get_attribute("aria-pressed")
    page.wait_for_function(f"() => Number(document.querySelector({json.dumps(selector)}).dataset.frame) >= 3", timeout=5000)
    facts["played_to"] = int(figure.get_attribute("data-frame"))
    page.wait_for_function(f"() => document.querySelector({json.dumps(selector)} + ' .gen-scrub__play').getAttribute('aria-pressed') === 'false'", timeout=5000)
    facts["stopped_at"] = int(figure.get_attribute("data-frame"))
    return facts


def _compare(page) -> dict:
    figure = page.locator("figure.gen-compare").first
    figure.evaluate("f => f.scrollIntoView({block: 'center'})")
    slider = figure.locator("input[type=range]")
    after = figure.locator(".gen-compare__after")
    page.wait_for_function("() => Array.from(document.querySelectorAll('figure.gen-compare img')).every(i => i.complete)")
    box = figure.locator(".gen-compare__stage").bounding_box()

    def at(fraction: float) -> list:
        return _pixels(page, {"x": box["x"] + fraction * box["width"] - 1, "y": box["y"] + box["height"] / 2 - 1, "width": 2, "height": 2}, 1)[0][0]

    facts = {"initial": after.evaluate("i => getComputedStyle(i).clipPath"), "names": " ".join(figure.locator(".gen-compare__names").inner_text().split())}
    slider.fill("30")
    facts["at_30"] = {"clip": after.evaluate("i => getComputedStyle(i).clipPath"), "left": at(0.15), "right": at(0.6),
                      "valuetext": slider.get_attribute("aria-valuetext")}
    slider.focus()
    page.keyboard.press("ArrowRight")
    facts["arrow"] = after.evaluate("i => getComputedStyle(i).clipPath")
    page.keyboard.press("End")
    facts["end"] = {"clip": after.evaluate("i => getComputedStyle(i).clipPath"), "right": at(0.95)}
    return facts


def _plain_page(browser, base: str, views: list[str], report: dict) -> None:
    watch = _watcher(report, base)
    moving = browser.new_page(viewport={"width": 1000, "height": 900}, device_scale_factor=1)
    watch(moving)
    moving.goto(base + "plain/page.html", wait_until="networkidle")
    report["static_count"] = moving.evaluate("document.querySelectorAll('figure[data-enhanced]').length")
    report["autoplay"] = _autoplay(moving, 4000)
    report["moving"] = _anagrams_moving(moving, views)
    report["hybrid"] = _hybrid(moving)
    report["scrub_labelled"] = _scrub(moving, "#scrub-labelled figure")
    report["scrub_measured"] = _scrub(moving, "#scrub-measured figure")
    report["compare"] = _compare(moving)
    moving.close()

    still_context = browser.new_context(viewport={"width": 1000, "height": 900}, device_scale_factor=1, reduced_motion="reduce")
    still = still_context.new_page()
    watch(still)
    still.goto(base + "plain/page.html", wait_until="networkidle")
    for _ in range(5):  # past the heading's permalink to the first figure
        still.keyboard.press("Tab")
        if still.evaluate("document.activeElement.classList.contains('gen-anagram__turn')"):
            break
    report["focus"] = still.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
      return {className: e.className, outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }""")
    report["still_autoplay"] = _autoplay(still, 3500)
    report["still"] = _anagrams_still(still, views)
    report["still_hybrid"] = _hybrid(still)
    still_context.close()

    phone_context = browser.new_context(viewport={"width": 390, "height": 844}, reduced_motion="reduce")  # no turn caught halfway
    phone = phone_context.new_page()
    watch(phone)
    phone.goto(base + "plain/page.html", wait_until="networkidle")
    for figure in phone.locator("figure[data-enhanced]").all():
        figure.evaluate("f => f.scrollIntoView()")
        phone.wait_for_timeout(50)
    phone.wait_for_selector("#scrub-measured .gen-scrub__frame")
    report["phone"] = phone.evaluate("""() => ({width: document.documentElement.scrollWidth,
      widest: Math.max(...Array.from(document.querySelectorAll('figure[data-enhanced], figure[data-enhanced] *'), e => e.getBoundingClientRect().right))})""")
    phone_context.close()

    no_script = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 900})
    page = no_script.new_page()
    watch(page)
    page.goto(base + "plain/page.html", wait_until="networkidle")
    report["no_script"] = page.evaluate("""() => ({enhanced: document.querySelectorAll('[data-enhanced], button, input').length,
      anagramImages: Array.from(document.querySelectorAll('figure.gen-anagram[data-view="flip"] img'), i => i.getBoundingClientRect().width > 0),
      gifShown: document.querySelector('#scrub-labelled figure > img').getBoundingClientRect().width > 0})""")
    no_script.close()


def _material_site(browser, base: str, root: Path, report: dict) -> None:
    # Material's instant navigation takes only links its sitemap lists, at the site's own URL: here, this server's.
    sitemap = root / "material/site/sitemap.xml"
    sitemap.write_text(sitemap.read_text().replace(MATERIAL_SITE_URL, base + "material/site/"))
    watch = _watcher(report, base)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    watch(page)
    page.goto(base + "material/site/", wait_until="networkidle")
    page.wait_for_selector("figure.gen-anagram .gen-anagram__turn")
    facts = {"lightboxed": page.evaluate("document.querySelectorAll('figure[class^=gen-] a.glightbox').length")}
    page.evaluate("window.genSamePage = true")
    page.get_by_role("link", name="to the second page").click()
    page.wait_for_url("**/second/")
    page.wait_for_selector("figure.gen-compare .gen-compare__stage")
    page.locator("figure.gen-scrub").evaluate("f => f.scrollIntoView()")
    page.wait_for_selector("figure.gen-scrub .gen-scrub__frame")
    facts["instant"] = page.evaluate("window.genSamePage === true")
    facts["enhanced"] = page.evaluate("Array.from(document.querySelectorAll('figure[data-enhanced]'), f => f.className)")
    facts["schemes"] = {}
    for scheme in ("default", "slate"):
        page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
        facts["schemes"][scheme] = page.evaluate("""() => {
          const colour = (e) => getComputedStyle(e).color;
          const probe = document.createElement('div');
          probe.style.background = 'var(--md-default-bg-color)';
          document.body.append(probe);
          const background = getComputedStyle(probe).backgroundColor;
          probe.remove();
          return {background, texts: ['.gen-scrub__label', '.gen-scrub__play', '.gen-compare__controls label', '.gen-compare__names', '.gen-hybrid__controls output']
            .map(s => [s, colour(document.querySelector(s))])};
        }""")
    report["material"] = facts
    page.close()


def _watcher(report: dict, base: str):
    def watch(page) -> None:
        page.on("console", lambda m: report["console"].append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: report["console"].append(f"pageerror: {e}"))
        page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else report["external_requests"].append(r.url))
        page.on("requestfailed", lambda r: report["failed_requests"].append(r.url))
        page.on("response", lambda r: report["failed_requests"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return watch


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def browse(root: Path, views: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    report: dict = {"console": [], "external_requests": [], "failed_requests": []}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS)
            _plain_page(browser, base, views, report)
            _material_site(browser, base, root, report)
            browser.close()
    finally:
        server.shutdown()
    return report


# ---------------------------------------------------------------- the pytest side

HOSTILE = "<b>x</b> *em* \\(x\\) {{ 1 }} ' \" &amp;"


def _anagram_views() -> list[str]:
    from generator.diffusion.reflections import ANAGRAM_VIEW_NAMES

    return [name for name in ANAGRAM_VIEW_NAMES if name != "identity"]


def _seen(view: str, image: np.ndarray) -> np.ndarray:
    """`image` (H × W × 3 uint8) through the project's own view, as section 1.8 saves its second reading."""
    import torch

    from generator.diffusion.reflections import anagram_view

    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
    return media.to_uint8(anagram_view(view).apply(x)[0])


def _corner_moves(view: str) -> list[int]:
    """Where each corner of the image goes under `view`: moves[i] is the corner that corner i lands on."""
    import torch

    from generator.diffusion.reflections import anagram_view

    seen = anagram_view(view).apply(torch.arange(4.0).reshape(1, 1, 2, 2)).flatten().tolist()
    return [seen.index(float(i)) for i in range(4)]


def _figure(folder: Path, name: str, data: bytes, caption: str, **meta) -> Figure:
    (folder / name).write_bytes(data)
    return Figure(kind="image", name=name, src=Markup(name), caption=caption, meta=meta)


def _solid(colour: tuple[int, int, int], side: int = SIDE) -> bytes:
    return media.png_bytes(np.full((side, side, 3), colour, dtype=np.uint8))


def _markdown_extensions() -> tuple[list, dict]:
    """The site's Markdown extensions, as mkdocs.yml lists them."""
    names, configs = [], {}
    for entry in yaml.safe_load((REPO / "mkdocs.yml").read_text())["markdown_extensions"]:
        name, config = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        names.append(name)
        configs[name] = config or {}
    return names, configs


def _render(folder: Path, views: list[str], first: np.ndarray, macro_source: str) -> str:
    """The macros' Markdown for the page, with figures written into `folder`."""
    fig = functools.partial(_figure, folder)
    context = {"first": fig("first.png", media.png_bytes(first), f"as it is: {HOSTILE}"), "views": views}
    context["seen"] = {view: fig(f"seen-{view}.png", media.png_bytes(_seen(view, first)), f"{view}: {HOSTILE}") for view in views}
    rng = np.random.default_rng(1)
    context["hybrid"] = fig("hybrid.png", media.png_bytes(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), f"a hybrid {HOSTILE}")
    context["before"] = fig("before.png", _solid(BEFORE), "original")
    context["after"] = fig("after.png", _solid(AFTER), "edited")
    gif = folder / "trajectory.gif"
    gif.write_bytes(media.gif_bytes([np.full((16, 20, 3), colour, dtype=np.uint8) for colour in SCRUB_FRAMES], duration_ms=60))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sprites, "MAX_SHEET_WIDTH", 60)  # three frames a row, so the sheet wraps into rows
        sheet, meta = sprites.sprite_sheet(gif)
    (folder / sprites.sprite_name(gif.name)).write_bytes(sheet)
    context["gif"] = Figure(kind="gif", name="trajectory", src=Markup(gif.name), caption=f"every step {HOSTILE}", meta={"frames": len(SCRUB_FRAMES)})
    context["sheet"] = meta
    context["labels"] = SCRUB_LABELS
    return Renderer(REPO / "templates").env.from_string(macro_source).render(**context)


PLAIN_SOURCE = """{% import "_interactive.md.j2" as i %}
# Interactive figures

<div id="views" markdown>
{% for view in views %}
{{ i.anagram(first, seen[view], view, "an anagram " ~ view) }}

{% endfor %}
</div>

{{ i.hybrid(hybrid) }}

<div id="scrub-labelled" markdown>
{{ i.scrub(gif, labels, sheet) }}
</div>

<div id="scrub-measured" markdown>
{{ i.scrub(gif) }}
</div>

{{ i.compare(before, after, "before and after") }}

<div style="height: 200vh"></div>

<div id="autoplay" markdown>
{{ i.anagram(first, seen["rot180"], "rot180", "seen once on arrival") }}
</div>
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>figures</title><link rel="icon" href="data:,"><link rel="stylesheet" href="figures.css">
<style>body {{ font-family: sans-serif; max-width: 40rem; margin: 0 auto; padding: 0 0.5rem; }}</style>
</head><body><article class="md-typeset">
{body}
</article><script src="figures.js"></script></body></html>
"""


def _write_plain(folder: Path, views: list[str], first: np.ndarray) -> None:
    import markdown

    folder.mkdir(parents=True)
    text = _render(folder, views, first, PLAIN_SOURCE)
    names, configs = _markdown_extensions()
    (folder / "page.md").write_text(text)
    html = markdown.markdown(text, extensions=names, extension_configs=configs)
    (folder / "page.html").write_text(PAGE.format(body=html))
    shutil.copy(REPO / "docs/javascripts/figures.js", folder)
    shutil.copy(REPO / "docs/stylesheets/figures.css", folder)


MATERIAL_INDEX = """{% import "_interactive.md.j2" as i %}
# Home

An anagram of a flip.

{{ i.anagram(first, seen["flip"], "flip", "an anagram") }}

[to the second page](second.md)
"""

MATERIAL_SECOND = """{% import "_interactive.md.j2" as i %}
# Second

{{ i.compare(before, after, "before and after") }}

{{ i.hybrid(hybrid) }}

<div style="height: 120vh"></div>

{{ i.scrub(gif, labels, sheet) }}
"""


def _write_material(folder: Path, first: np.ndarray) -> None:
    """A Material site configured like ours (theme, palette, Markdown, lightbox) plus instant navigation."""
    docs = folder / "docs"
    figures = docs / "figures"
    (docs / "javascripts").mkdir(parents=True)
    (docs / "stylesheets").mkdir()
    figures.mkdir()
    shutil.copy(REPO / "docs/javascripts/figures.js", docs / "javascripts")
    shutil.copy(REPO / "docs/stylesheets/figures.css", docs / "stylesheets")
    for name, source in (("index.md", MATERIAL_INDEX), ("second.md", MATERIAL_SECOND)):
        text = _render(figures, ["flip"], first, source)
        # figures are linked relative to the page: index.md sits beside figures/, second.md's page is one level down
        prefix = "figures/" if name == "index.md" else "../figures/"
        (docs / name).write_text(_relink(text, prefix))
    project = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    theme = {**project["theme"], "features": [*project["theme"].get("features", []), "navigation.instant"]}
    config = {
        "site_name": "figures", "site_url": MATERIAL_SITE_URL, "docs_dir": "docs", "site_dir": "site", "strict": True,
        "theme": theme, "plugins": [p for p in project["plugins"] if "glightbox" in (p if isinstance(p, str) else next(iter(p)))],
        "markdown_extensions": project["markdown_extensions"], "nav": [{"Home": "index.md"}, {"Second": "second.md"}],
        "extra_css": ["stylesheets/figures.css"], "extra_javascript": ["javascripts/figures.js"],
    }
    (folder / "mkdocs.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(folder / "mkdocs.yml")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def _relink(text: str, prefix: str) -> str:
    for attribute in ('src="', 'data-sprite="'):
        text = text.replace(attribute, attribute + prefix)
    return text


@pytest.fixture(scope="module")
def fixture_images() -> dict:
    rng = np.random.default_rng(0)
    return {"first": rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8), "views": _anagram_views()}


@pytest.fixture(scope="module")
def report(tmp_path_factory, fixture_images) -> dict:
    if shutil.which("chromium") is None and not os.environ.get("CI"):
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    root = tmp_path_factory.mktemp("interactive")
    _write_plain(root / "plain", fixture_images["views"], fixture_images["first"])
    _write_material(root / "material", fixture_images["first"])
    command = [sys.executable, __file__, str(root), ",".join(fixture_images["views"])]
    isolated = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    result = subprocess.run((["unshare", "-n"] if isolated else []) + command, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-5000:]
    return {**json.loads(result.stdout), "isolated": isolated, "root": root}


def _close(a, b, tolerance: float = 0.02) -> bool:
    return abs(a - b) <= tolerance * max(abs(a), abs(b), 1)


def _same_colour(pixel, colour, tolerance: int = 10) -> bool:
    return max(abs(int(p) - int(c)) for p, c in zip(pixel, colour, strict=True)) <= tolerance


def _match(pixels: list, image: np.ndarray) -> float:
    """The share of sampled pixels within 24 levels of `image` (its pixel centres, as the screenshot sampled them)."""
    shown = np.asarray(pixels, dtype=int)
    return float((np.abs(shown - image.astype(int)).max(axis=-1) <= 24).mean())


def test_anagram_turns_on_click_enter_and_space_with_aria_pressed(report, fixture_images):
    for view in fixture_images["views"]:
        steps = report["moving"][view]
        assert steps["before"]["pressed"] == "false", view
        assert (steps["click"]["pressed"], steps["click"]["shown"]) == ("true", "second"), view
        assert (steps["enter"]["pressed"], steps["enter"]["shown"]) == ("false", "first"), view
        assert (steps["space"]["pressed"], steps["space"]["shown"]) == ("true", "second"), view
        assert steps["click_started"]["running"] > 0, view  # it moves, not jumps
        assert steps["click"]["now"] == f"{view}: {HOSTILE}" and steps["enter"]["now"] == f"as it is: {HOSTILE}", view
        assert steps["click"]["label"].startswith("Show the image "), view
        if view in TURN_VIEWS:
            assert steps["click"]["motion"] == "turn", view
            assert float(steps["click"]["durations"][0].rstrip("s")) > 0, view
            # the turn ends where the view's definition sends each corner, and rests where it started
            assert steps["click_corners"] == steps["space_corners"] == _corner_moves(view), view
            assert steps["enter_corners"] == [0, 1, 2, 3], view
        else:
            assert steps["click"]["motion"] == "fade", view
            assert float(steps["click"]["durations"][1].rstrip("s")) > 0, view
            assert (steps["click"]["secondOpacity"], steps["enter"]["secondOpacity"], steps["space"]["secondOpacity"]) == ("1", "0", "1"), view


def test_anagram_second_reading_on_screen_is_the_view_of_the_first_pixel_for_pixel(report, fixture_images):
    first = fixture_images["first"]
    for view in fixture_images["views"]:
        facts = report["still"][view]
        assert _match(facts["pixels_before"], first) > 0.97, view
        assert _match(facts["pixels_after"], _seen(view, first)) > 0.97, view
        assert (facts["after"]["pressed"], facts["after"]["shown"]) == ("true", "second"), view


def test_hovering_previews_the_second_reading_without_keeping_it(report):
    hover = report["moving"]["hover"]
    assert (hover["hovered"]["shown"], hover["hovered"]["pressed"]) == ("second", "false")
    assert (hover["left"]["shown"], hover["left"]["pressed"]) == ("first", "false")


def test_anagram_plays_once_in_view_and_never_under_reduced_motion(report, fixture_images):
    assert report["autoplay"] == ["second", "first"]
    assert report["still_autoplay"] == []
    for view in fixture_images["views"]:
        facts = report["still"][view]
        assert facts["after"]["durations"] == ["0s", "0s"] and facts["after"]["running"] == 0, view


def test_hybrid_slider_and_hover_change_the_rendered_width(report):
    hybrid = report["hybrid"]
    assert _close(hybrid["near"], hybrid["stage"])
    assert _close(hybrid["far"], hybrid["near"] / 6.5, 0.03)
    assert hybrid["far_text"] == hybrid["far_valuetext"] == "from 6.5× as far: 15% of its size"
    assert _close(hybrid["home"], hybrid["near"]) and _close(hybrid["left"], hybrid["near"])
    assert _close(hybrid["hovered"], hybrid["far"], 0.03)
    assert hybrid["duration"] != "0s" and report["still_hybrid"]["duration"] == "0s"
    label, target = hybrid["label"].split(" → ")
    assert label == "Viewing distance" and target.split(" / ")[0] == target.split(" / ")[1]


@pytest.mark.parametrize("which", ["scrub_labelled", "scrub_measured"])
def test_scrubber_shows_the_frame_it_names(report, which):
    facts = report[which]
    assert facts["gif_hidden"] and facts["download"] == "trajectory.gif"
    assert facts["max"] == str(len(SCRUB_FRAMES) - 1)
    cols = rows = 3  # seven 20 px frames in a sheet at most 60 px wide
    for k, frame in enumerate(facts["frames"]):
        label = SCRUB_LABELS[k] if which == "scrub_labelled" else f"step {k + 1} of {len(SCRUB_FRAMES)}"
        assert frame["value"] == str(k)
        assert frame["position"] == f"{100 * (k % cols) / (cols - 1):g}% {100 * (k // cols) / (rows - 1):g}%", k
        assert frame["label"] == frame["valuetext"] == label
        assert _same_colour(frame["colour"], SCRUB_FRAMES[k]), (k, frame["colour"])


def test_scrubber_play_advances_frames_and_stops_on_the_last(report):
    facts = report["scrub_labelled"]
    assert facts["playing"] == "true"
    assert facts["played_to"] >= 3
    assert facts["stopped_at"] == len(SCRUB_FRAMES) - 1


def test_compare_slider_clips_the_edit_over_the_original(report):
    facts = report["compare"]
    assert facts["initial"] == "inset(0px 50% 0px 0px)"
    assert facts["at_30"]["clip"] == "inset(0px 70% 0px 0px)"
    assert _same_colour(facts["at_30"]["left"], AFTER) and _same_colour(facts["at_30"]["right"], BEFORE)
    assert facts["at_30"]["valuetext"] == "30% edited"
    assert facts["names"] == "◂ edited original ▸"
    assert facts["arrow"] == "inset(0px 69% 0px 0px)"  # the keyboard moves it too
    assert _same_colour(facts["end"]["right"], AFTER)


def test_keyboard_focus_is_visible(report):
    assert "gen-anagram__turn" in report["focus"]["className"]
    assert report["focus"]["outline"] == "solid" and report["focus"]["width"] > 0


def test_figures_fit_a_390_px_screen(report):
    assert report["phone"]["width"] <= 390
    assert report["phone"]["widest"] <= 390


def test_without_javascript_every_image_shows_as_it_is(report, fixture_images):
    assert report["static_count"] == len(fixture_images["views"]) + 5  # every figure survived Markdown and was found
    assert report["no_script"] == {"enhanced": 0, "anagramImages": [True, True], "gifShown": True}


def test_material_instant_navigation_enhances_the_next_page(report):
    material = report["material"]
    assert material["instant"], "the link reloaded the page instead of Material's instant navigation"
    assert sorted(material["enhanced"]) == ["gen-compare", "gen-hybrid", "gen-scrub"]
    assert material["lightboxed"] == 0


def _luminance(rgb) -> float:
    channels = [c / 255 for c in rgb]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _rgba(css: str) -> list[float]:
    values = [float(v) for v in css[css.index("(") + 1:-1].replace("/", ",").split(",")]
    return values + [1.0] * (4 - len(values))


def test_controls_are_legible_in_light_and_dark_schemes(report):
    for scheme, facts in report["material"]["schemes"].items():
        background = _rgba(facts["background"])[:3]
        for selector, colour in facts["texts"]:
            *rgb, alpha = _rgba(colour)
            shown = [alpha * c + (1 - alpha) * b for c, b in zip(rgb, background, strict=True)]
            lighter, darker = sorted([_luminance(shown), _luminance(background)], reverse=True)
            assert (lighter + 0.05) / (darker + 0.05) >= 4.5, (scheme, selector, colour, facts["background"])


def test_no_console_errors_and_no_request_leaves_loopback(report):
    assert report["console"] == []
    assert report["external_requests"] == [] and report["failed_requests"] == []


def test_macros_print_user_text_inert_and_labels_as_json(tmp_path):
    figure = Figure(kind="gif", name="g", src=Markup("a.gif"), caption=HOSTILE, meta={"frames": 2})
    html = Renderer(REPO / "templates").env.from_string(
        '{% import "_interactive.md.j2" as i %}{{ i.scrub(f, labels) }}{{ i.anagram(f, f, "flip", caption) }}{{ i.hybrid(f) }}{{ i.compare(f, f, caption) }}'
    ).render(f=figure, labels=["t = 990", "<b>'x</b>"], caption=HOSTILE)
    assert "<b>" not in html and "*em*" not in html and "{{" not in html and "\\(" not in html
    assert "data-labels='[\"t = 990\", \"\\u003cb\\u003e\\u0027x\\u003c/b\\u003e\"]'" in html
    assert 'data-sprite="a.sprite.png" data-frames="2"' in html
    assert html.count('class="off-glb"') == 6


if __name__ == "__main__":
    print(json.dumps(browse(Path(sys.argv[1]), sys.argv[2].split(","))))
