"""The published site as a reader sees it: headless Chromium with no network, on the smoke build of the whole report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BROWSER_CHECK = Path(__file__).with_name("browser_check.py")


def test_build_first_line_names_profile_and_backends_and_why(smoke_site):
    first = smoke_site.build_output.stdout.splitlines()[0]
    assert "profile smoke (--profile)" in " ".join(smoke_site.build_output.stdout.split())
    assert first.startswith("gen build · profile smoke")


def test_every_section_has_a_page_in_the_nav(smoke_site):
    modules = sorted(p.stem for p in (smoke_site.root / "sections").glob("*.py") if not p.name.startswith("_"))
    pages = sorted(smoke_site.root.glob("docs/part-*/*.md"))
    assert len(pages) == len(modules)
    home = (smoke_site.root / "site/index.html").read_text()
    for page in pages:
        assert f'href="{page.parent.name}/{page.stem}/"' in home


@pytest.mark.skipif(shutil.which("chromium") is None and not os.environ.get("CI"), reason="Chromium is not installed (apt-get install chromium); CI installs it")
def test_site_renders_math_and_images_with_no_network(smoke_site, tmp_path):
    result = subprocess.run(
        ["unshare", "-n", sys.executable, str(BROWSER_CHECK), str(smoke_site.root / "site"), str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["external_requests"] == []
    assert report["failed_requests"] == []
    pages = report["pages"]
    assert len(pages) >= 3
    section_pages = {name: facts for name, facts in pages.items() if name.startswith("part-")}
    assert section_pages, pages.keys()
    for name, facts in section_pages.items():
        assert facts["mathjax"] > 0 and facts["mathjax"] == facts["arithmatex"], (name, facts)
        assert not facts["rawMath"], name
        assert facts["images"], name
        assert all(image["ok"] for image in facts["images"]), (name, [i for i in facts["images"] if not i["ok"]])


def test_manifests_hold_no_machine_specific_paths(smoke_site):
    # A committed manifest must not churn from machine to machine (the mnist backend names its UNet file).
    manifests = list((smoke_site.root / "cache").rglob("manifest.json"))
    assert manifests
    for manifest in manifests:
        assert str(smoke_site.root) not in manifest.read_text(), manifest
