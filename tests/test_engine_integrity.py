"""Manifests record the size and SHA-256 of every file; a damaged or missing figure makes its result stale, naming the
file, and an upstream artifact that a computation needs is checked the same way."""

from __future__ import annotations

import hashlib
import json
import os
import time

from conftest import section_source


def rows(project) -> dict[str, dict]:
    return {row["section"]: row for row in json.loads(project.gen("status", "--json").stdout)}


WITH_ARTIFACT = "ctx.artifact('model.bin').write_bytes(b'weights' * 100)"
READS_ARTIFACT = "assert ctx.upstream_artifact('2.1', 'model.bin').read_bytes() == b'weights' * 100"


def test_manifest_records_size_and_sha256_of_every_figure_and_artifact(project):
    project.write("sections/b1.py", section_source("2.1", body=WITH_ARTIFACT))
    project.gen("build", "--no-site")
    manifest = json.loads((project.root / "cache/2.1/none/quick/manifest.json").read_text())
    figure, artifact = manifest["figures"][0], manifest["artifacts"][0]
    data = (project.root / "cache/2.1/none/quick" / figure["file"]).read_bytes()
    assert figure["bytes"] == len(data) and figure["sha256"] == hashlib.sha256(data).hexdigest()
    assert artifact == {"name": "model.bin", "bytes": 700, "sha256": hashlib.sha256(b"weights" * 100).hexdigest()}


def test_a_truncated_figure_is_stale_naming_the_file_and_build_recomputes_it(project):
    project.gen("build", "--no-site")
    png = project.root / "cache/2.1/none/quick/square.png"
    good = png.read_bytes()
    os.truncate(png, 20)
    row = rows(project)["2.1"]
    assert row["state"] == "stale" and row["reasons"] == ["damaged: square.png"]
    assert "computed 1 · fresh 2" in project.gen("build", "--no-site").stdout
    assert png.read_bytes() == good and rows(project)["2.1"]["state"] == "fresh"


def test_a_figure_changed_in_place_at_the_same_size_is_damaged(project):
    project.gen("build", "--no-site")
    project.gen("build", "--no-site")  # the stat cache now knows the figure
    png = project.root / "cache/2.3/none/quick/square.png"
    data = bytearray(png.read_bytes())
    data[-20] ^= 0xFF
    png.write_bytes(bytes(data))
    assert rows(project)["2.3"]["reasons"] == ["damaged: square.png"]


def test_a_deleted_figure_is_missing_and_recomputed(project):
    project.gen("build", "--no-site")
    (project.root / "cache/2.3/none/quick/square.png").unlink()
    assert rows(project)["2.3"]["reasons"] == ["missing: square.png"]
    assert "computed 1" in project.gen("build", "--no-site").stdout
    assert (project.root / "cache/2.3/none/quick/square.png").is_file()


def test_a_missing_artifact_alone_keeps_a_result_fresh_until_a_reader_needs_it(project):
    project.write("sections/b1.py", section_source("2.1", body=WITH_ARTIFACT))
    project.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body=READS_ARTIFACT))
    project.gen("build", "--no-site")
    (project.root / "artifacts/2.1/none/quick/model.bin").unlink()  # as in a clone of committed results
    assert {row["state"] for row in rows(project).values()} == {"fresh"}
    assert "computed 0" in project.gen("build", "--no-site").stdout
    project.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body=READS_ARTIFACT, params="{'scale': 2.0}"))
    out = project.gen("build", "--no-site").stdout
    assert "artifact missing: model.bin" in out and "computed 2" in out


def test_a_damaged_upstream_artifact_is_recomputed_before_a_reader_uses_it(project):
    project.write("sections/b1.py", section_source("2.1", body=WITH_ARTIFACT))
    project.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body=READS_ARTIFACT))
    project.gen("build", "--no-site")
    (project.root / "artifacts/2.1/none/quick/model.bin").write_bytes(b"weightz" * 100)
    project.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body=READS_ARTIFACT, params="{'scale': 2.0}"))
    out = project.gen("build", "--no-site").stdout
    assert "artifact damaged: model.bin" in out and "computed 2 · fresh 1 · failed 0" in out


def test_the_stat_cache_hashes_only_files_whose_stat_changed(tmp_path, monkeypatch):
    from generator.engine.files import StatCache, check_files

    figure = tmp_path / "a.png"
    figure.write_bytes(b"png")
    old = time.time() - 60
    os.utime(figure, (old, old))  # old enough not to be racy
    entry = {"file": "a.png", "bytes": 3, "sha256": hashlib.sha256(b"png").hexdigest()}
    cache = StatCache(tmp_path / "stat-cache.json")
    assert check_files(tmp_path, [entry], "file", cache) == []
    cache.save()
    monkeypatch.setattr("generator.engine.files.sha256_path", lambda path: (_ for _ in ()).throw(AssertionError(f"hashed {path}")))
    assert check_files(tmp_path, [entry], "file", StatCache(tmp_path / "stat-cache.json")) == []
    figure.write_bytes(b"PNG")  # same size, new mtime: hashed again
    monkeypatch.undo()
    assert check_files(tmp_path, [entry], "file", StatCache(tmp_path / "stat-cache.json")) == ["damaged: a.png"]


def test_a_file_written_just_now_is_hashed_but_not_remembered(tmp_path):
    from generator.engine.files import StatCache

    figure = tmp_path / "a.png"
    figure.write_bytes(b"png")
    cache = StatCache(tmp_path / "stat-cache.json")
    cache.sha256(figure, figure.stat())
    assert cache.entries == {}  # a write within the clock's granularity could keep this stat
