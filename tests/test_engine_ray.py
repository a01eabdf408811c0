"""`gen build --executor ray`: the same work units on Ray actors, written through the same store; figures
bit-identical to a local build. Skipped only when Ray is not installed (`pip install -e '.[ray]'`; CI installs it)."""

from __future__ import annotations

import json

import pytest
from conftest import copy_project

ray = pytest.importorskip("ray")

SECTIONS = ["--section", "1.1", "--section", "1.3", "--section", "1.4"]


def results(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("cache/*/*/*/*")) if p.name != "manifest.json"}


def test_a_build_on_local_ray_actors_writes_the_figures_a_local_build_writes(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from generator.cli import app

    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    local, on_ray = copy_project(tmp_path / "local"), copy_project(tmp_path / "ray")
    local.gen("build", "--profile", "smoke", "--backend", "tiny", "--no-site", *SECTIONS, timeout=600)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as the local build's (conftest's gen_env)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        monkeypatch.chdir(on_ray.root)
        outcome = CliRunner().invoke(app, ["build", "--executor", "ray", "--jobs", "2", "--profile", "smoke", "--backend", "tiny", "--no-site", *SECTIONS])
    finally:
        ray.shutdown()
    assert outcome.exit_code == 0, outcome.output
    assert "computed 3 · fresh 0 · failed 0" in outcome.output
    expected, got = results(local.root), results(on_ray.root)
    assert expected and got == expected
    for manifest in on_ray.root.glob("cache/*/*/*/manifest.json"):
        twin = json.loads((local.root / manifest.relative_to(on_ray.root)).read_text())
        assert json.loads(manifest.read_text())["fingerprint"] == twin["fingerprint"]
    assert not list(on_ray.root.glob("cache/**/*.new"))


def test_an_actor_killed_mid_result_fails_that_result_in_one_sentence_and_the_build_goes_on(project, monkeypatch):
    from conftest import section_source
    from typer.testing import CliRunner

    from generator.cli import app

    project.gen("build", "--no-site")
    before = project.snapshot("cache/2.1")
    # The actor's process dies under 2.1 as one killed by the OOM killer or `ray kill` would.
    project.write("sections/b1.py", section_source("2.1", params="{'scale': 2.0}", body="import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 4.0}"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        monkeypatch.chdir(project.root)
        outcome = CliRunner().invoke(app, ["build", "--executor", "ray", "--jobs", "1", "--no-site"])
    finally:
        ray.shutdown()
    assert outcome.exit_code == 1, outcome.output
    assert "2.1 Section 2.1 failed: the Ray actor computing it died (killed, out of memory, or its node was lost)" in " ".join(outcome.output.split())
    assert "2.2 Section 2.2: an upstream section failed" in outcome.output
    assert "computed 1 · fresh 0 · failed 2" in outcome.output  # 2.3, on a new actor
    assert project.snapshot("cache/2.1") == before
    assert not list(project.root.glob("cache/**/*.new"))
