"""User text (titles, summaries, prompts, captions, notes) is shown verbatim and stays inert on the built site,
checked in headless Chromium: no script runs, no element or link is made from it, no math is typeset from it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

BROWSER_CHECK = REPO / "tests" / "browser_check.py"

# The payloads an adversary tried, plus Markdown, math and template syntax that must show as typed.
PROMPTS = [
    "](javascript:alert(1)) [click](javascript:alert(2)) ![x](javascript:alert(3))",
    "<script>alert(4)</script>",
    '<img src=x onerror="alert(5)">',
    "{{ 7*7 }} {% raw %}",
    "*bold* $\\alpha$ \\(x^2\\)",
    "- a list? 1. no",
]
TITLE = "</title><script>alert(6)</script> *bold* {{ 7*7 }}"
SUMMARY = "[home](javascript:alert(7)) <b>x</b> $y$"
NOTE = "**note** <i>x</i> `code`"

SECTION = f'''\
from generator.engine.section import Section

PROMPTS = {PROMPTS!r}

SECTION = Section(id="1.1", part="A", title={TITLE!r}, summary={SUMMARY!r}, template="payload.md.j2",
                  backends=["tiny"], uses_model=False, prompts={{"tiny": PROMPTS}})


def compute(ctx):
    import numpy as np

    for prompt in ctx.prompts:
        ctx.figure(prompt, np.full((8, 8), 0.5), prompt, value_range=(0.0, 1.0))
    ctx.note("data", {NOTE!r})
'''

# User text in every place a template author might print it: headings, tab labels, captions, prose.
TEMPLATE = """\
{% extends "_base.md.j2" %}
{% block approach %}The approach, with math that must be typeset: \\(x_t = \\sqrt{\\bar\\alpha_t} x_0\\).{% endblock %}
{% block results %}
{% call(r) m.backend_tabs(results) %}
{% for f in r.figures %}
### {{ f.caption }}

/// tab | {{ f.caption }}

{{ m.wide(f) }}

///

{% endfor %}
{{ r.notes.data }}

Data: {{ r.notes.data }}, prompts: {{ r.figures | map(attribute="caption") | join(" / ") }}.
{% endcall %}
{% endblock %}
"""


@pytest.fixture(scope="module")
def payload_site(tmp_path_factory):
    from conftest import GenProject, section_source

    root = tmp_path_factory.mktemp("payload")
    project = GenProject(root)
    project.write("pyproject.toml", '[tool.gen]\nbackends = ["deepfloyd", "mnist"]\ncode_packages = ["sections", "lib"]\n')
    project.write("lib/__init__.py", "")
    project.write("lib/maths.py", "def double(x):\n    return 2 * x\n")
    for name in ("_macros.md.j2", "_base.md.j2", "_report.md.j2", "index.md.j2"):
        project.write(f"templates/{name}", (REPO / "templates" / name).read_text())
    project.write("templates/page.md.j2", "{% extends \"_base.md.j2\" %}{% block results %}{% call(r) m.backend_tabs(results) %}{{ m.grid(r.figures) }}{% endcall %}{% endblock %}\n")
    project.write("templates/payload.md.j2", TEMPLATE)
    project.write("sections/a1.py", SECTION)
    project.write("sections/b1.py", section_source("2.1"))
    # The real site configuration: its MathJax settings, hooks and lightbox are what is under test.
    shutil.copytree(REPO / "docs" / "javascripts", root / "docs" / "javascripts")
    shutil.copytree(REPO / "docs" / "stylesheets", root / "docs" / "stylesheets")
    project.write("docs/architecture.md", "# Architecture\n")
    project.write("mkdocs.yml", (REPO / "mkdocs.yml").read_text().replace("  - generator/site/hooks.py", f"  - {REPO / 'generator' / 'site' / 'hooks.py'}"))
    (root / "node_modules").symlink_to(REPO / "node_modules")
    project.gen("build", "--profile", "smoke", "--backend", "tiny")
    return project


def test_the_built_site_has_no_javascript_url_and_no_markup_from_user_text(payload_site):
    for page in (payload_site.root / "site").rglob("*.html"):
        html = page.read_text()
        assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", html, re.I), page
        assert "<script>alert(" not in html and "<img src=x" not in html and "<b>x</b>" not in html, page
        assert "<em>bold</em>" not in html and "<strong>note</strong>" not in html, page


@pytest.mark.skipif(shutil.which("chromium") is None and not os.environ.get("CI"), reason="Chromium is not installed (apt-get install chromium); CI installs it")
def test_user_text_is_verbatim_and_inert_in_chromium(payload_site, tmp_path):
    result = subprocess.run(
        ["unshare", "-n", sys.executable, str(BROWSER_CHECK), str(payload_site.root / "site")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["dialogs"] == []  # no alert() ran, even after opening the lightbox
    page, home = report["pages"]["part-a/1.1"], report["pages"]["."]
    assert "lightbox" in page  # a figure was opened in the lightbox, which shows its caption again
    for facts in (page, page["lightbox"], home):
        assert facts["jsUrls"] == [] and facts["handlers"] == [] and facts["userScripts"] == []
        assert facts["userElements"] == [], facts["userElements"]
    # Verbatim wherever it is shown: captions, headings, tab labels, the page title, the nav, the home table.
    assert page["figcaptions"] == PROMPTS
    assert [h for h in page["headings"] if h in PROMPTS] == PROMPTS
    assert [label for label in page["tabLabels"] if label in PROMPTS] == PROMPTS
    assert page["headings"][0] == TITLE
    assert page["title"].startswith(f"1.1 {TITLE} - ")
    assert f"1.1 {TITLE}" in page["nav"] and f"1.1 {TITLE}" in home["nav"]
    assert f"{TITLE}: {SUMMARY}" in home["text"]
    assert f"Data: {NOTE}, prompts: {' / '.join(PROMPTS)}." in page["text"]
    # Only the template's own math is typeset: not $\alpha$, \(x^2\) or $y$ from user text.
    assert page["mathjax"] == page["arithmatex"] == 1
    assert home["mathjax"] == home["arithmatex"]
    assert "$\\alpha$ \\(x^2\\)" in page["text"] and "$y$" in home["text"]
