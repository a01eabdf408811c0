"""Frozen results, as Quarto's _freeze: a page shows the most thorough fresh result; a default build computes no lower
profile where a more thorough result is fresh; an edit unfreezes; upstream artifacts a stale reader needs still build.

Proved with smoke and quick results: the project's default profile is smoke, and quick is the more thorough one."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import REPO, section_source

WITH_ARTIFACT = "ctx.artifact('model.bin').write_bytes(b'weights')"
READS_ARTIFACT = "assert ctx.upstream_artifact('2.1', 'model.bin').read_bytes() == b'weights'"


@pytest.fixture
def frozen(project):
    """The test project with `[tool.gen] profile = "smoke"`, whose results were computed with --profile quick."""
    project.write("pyproject.toml", (project.root / "pyproject.toml").read_text() + 'profile = "smoke"\n')
    project.write("sections/b1.py", section_source("2.1", body=WITH_ARTIFACT))
    project.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body=READS_ARTIFACT))
    assert "computed 3" in project.gen("build", "--no-site", "--profile", "quick").stdout
    return project


def status(project, *args) -> dict[str, dict]:
    return {row["section"]: row for row in json.loads(project.gen("status", "--json", *args).stdout)}


def test_a_default_build_computes_no_lower_profile_where_a_more_thorough_result_is_fresh(frozen):
    out = frozen.gen("build", "--no-site").stdout
    assert "profile smoke ([tool.gen] profile)" in " ".join(out.split())
    assert "computed 0 · fresh 0 · frozen 3" in out
    assert not list(frozen.root.glob("cache/*/none/smoke"))
    rows = status(frozen)
    assert {(row["state"], row["frozen"], row["profile"]) for row in rows.values()} == {("frozen", "quick", "smoke")}
    assert rows["2.1"]["metrics"] == {"value": 2.0}  # the metrics of the result in force
    assert "frozen (quick)" in frozen.gen("status").stdout


def test_an_explicit_profile_computes_what_it_asks_for(frozen):
    assert "computed 3" in frozen.gen("build", "--no-site", "--profile", "smoke").stdout
    assert {row["state"] for row in status(frozen, "--profile", "smoke").values()} == {"fresh"}


def test_editing_a_section_unfreezes_it_and_the_default_profile_computes_it(frozen):
    frozen.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}"))
    rows = status(frozen)
    assert rows["2.3"]["state"] == "missing" and rows["2.1"]["state"] == "frozen"
    out = frozen.gen("build", "--no-site").stdout
    assert "computed 1 · fresh 0 · frozen 2" in out
    assert (frozen.root / "cache/2.3/none/smoke/manifest.json").is_file()


def test_frozen_results_need_no_artifacts_but_a_stale_reader_builds_its_upstream_at_the_build_profile(frozen):
    shutil.rmtree(frozen.root / "artifacts")  # a clone of committed results: artifacts are never committed
    assert "computed 0 · fresh 0 · frozen 3" in frozen.gen("build", "--no-site").stdout
    frozen.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body=READS_ARTIFACT, params="{'scale': 2.0}"))
    out = frozen.gen("build", "--no-site").stdout
    assert "computed 2" in out  # 2.2 at smoke, and the smoke 2.1 whose artifact it reads
    assert (frozen.root / "artifacts/2.1/none/smoke/model.bin").is_file()
    assert not (frozen.root / "artifacts/2.1/none/quick").exists()


def test_a_page_shows_the_most_thorough_fresh_result(frozen):
    frozen.gen("build", "--no-site", "--profile", "smoke")
    page = (frozen.root / "docs/part-b/2.1.md").read_text()
    assert "figures/2.1/none/quick/square.png" in page and "/smoke/" not in page
    # An edit makes quick stale; the smoke build's fresh result is now the one to show.
    frozen.write("sections/b1.py", section_source("2.1", body=WITH_ARTIFACT, params="{'scale': 4.0}"))
    frozen.gen("build", "--no-site")
    page = (frozen.root / "docs/part-b/2.1.md").read_text()
    assert "figures/2.1/none/smoke/square.png" in page and "gen-stale" not in page


def test_a_page_with_no_fresh_result_shows_the_newest_and_says_it_is_stale(frozen):
    frozen.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}"))
    frozen.gen("build", "--no-site", "--section", "2.1")
    page = (frozen.root / "docs/part-b/2.3.md").read_text()
    assert "figures/2.3/none/quick/square.png" in page
    assert 'class="gen-stale"' in page and "This quick result is stale (params.scale: 3.0 → 5.0)" in page


def test_committed_results_are_the_full_and_quick_manifests_and_figures_without_scratch():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO).returncode == 0

    assert not ignored("cache/2.3/none/full/manifest.json") and not ignored("cache/1.9/deepfloyd/full/1-seed-1729-far.png")
    assert not ignored("cache/2.3/none/quick/manifest.json") and ignored("cache/2.3/none/smoke/loss.png")  # quick: the reference results
    assert ignored("cache/2.3/none/full.new/loss.png") and ignored("cache/2.3/none/full.old/loss.png")
    assert ignored("artifacts/2.3/none/full/unet.safetensors") and ignored("artifacts/.stat-cache.json")
