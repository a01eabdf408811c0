"""Nothing outside the project is read, published or deleted: a link in cache/ or artifacts/ that leads out, or a
manifest entry that is absolute or climbs out with `..`, is refused in one sentence and never followed; and `gen
status` says what the next build does with a result that a killed build left half swapped."""

from __future__ import annotations

import hashlib
import json
import os

import pytest


def rows(project, *args: str) -> dict[str, dict]:
    return {row["section"]: row for row in json.loads(project.gen("status", "--json", "--profile", "smoke", *args).stdout)}


def test_a_link_in_cache_to_a_file_outside_the_project_is_not_published(project, tmp_path_factory):
    secret = tmp_path_factory.mktemp("outside") / "passwd"
    secret.write_bytes(b"root:x:0:0:secret")
    project.gen("build", "--profile", "smoke", "--section", "2.3", "--no-site")
    (project.root / "cache/2.3/none/smoke/evil.png").symlink_to(secret)
    out = project.gen("build", "--profile", "smoke", "--section", "2.3", check=1)
    assert "cache/2.3/none/smoke/evil.png is a link to" in out.stdout + out.stderr
    published = [p for p in (project.root / "site").rglob("*") if p.is_file()] if (project.root / "site").is_dir() else []
    assert all(b"secret" not in p.read_bytes() for p in published)


@pytest.mark.parametrize(("link", "below"), [("cache/2.1", ""), ("artifacts/.work/2.1", ""), ("cache", "2.1/")])
def test_clean_refuses_a_result_folder_that_links_outside_and_deletes_nothing_there(project, tmp_path_factory, link, below):
    outside = tmp_path_factory.mktemp("elsewhere")
    precious = [f"{below}none/smoke/manifest.json", f"{below}none/smoke-0123456789ab/keep.txt", f"{below}none/smoke.new/keep.txt"]
    for name in precious:
        (outside / name).parent.mkdir(parents=True, exist_ok=True)
        (outside / name).write_text("precious")
    (project.root / link).parent.mkdir(parents=True, exist_ok=True)
    (project.root / link).symlink_to(outside, target_is_directory=True)
    out = project.gen("clean", "--profile", "smoke", "--section", "2.1", check=2 if link == "cache" else 1)  # a linked cache/ is a config error
    said = " ".join(out.stderr.split())  # the console wraps long lines
    assert f"{link} is a link to {outside}" in said and "gen will not follow it" in said
    assert all((outside / name).read_text() == "precious" for name in precious)


@pytest.mark.parametrize("form", ["absolute", "climbing"])
def test_a_manifest_entry_outside_its_folder_is_never_hashed_and_makes_the_result_stale(project, tmp_path_factory, form):
    target = tmp_path_factory.mktemp("outside") / "hostname"
    target.write_bytes(b"a host outside the project\n")
    os.utime(target, (1_000_000_000, 1_000_000_000))  # old enough for the stat cache to remember it
    project.gen("build", "--profile", "smoke", "--section", "2.3", "--no-site")
    folder = project.root / "cache/2.3/none/smoke"
    name = str(target) if form == "absolute" else os.path.relpath(target, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    data = target.read_bytes()
    manifest["figures"][0].update(file=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))
    row = rows(project, "--section", "2.3")["2.3"]
    assert row["state"] == "stale" and row["reasons"] == [f"outside: {name} (not a file of the result's folder; the next build recomputes it)"]
    assert "computed 1" in project.gen("build", "--profile", "smoke", "--section", "2.3", "--no-site").stdout
    memo = project.root / "artifacts/.stat-cache.json"
    assert not memo.exists() or str(target) not in memo.read_text()
    assert rows(project, "--section", "2.3")["2.3"]["state"] == "fresh"


@pytest.mark.parametrize("leftover", ["smoke.new", "smoke.old"])
def test_status_reports_a_half_swapped_result_as_interrupted_and_the_build_restores_it_without_computing(project, leftover):
    project.gen("build", "--profile", "smoke", "--no-site")
    final = project.root / "cache/2.1/none/smoke"
    final.rename(final.with_name(leftover))  # killed between staging and swap (or between the two renames)
    before = project.snapshot("cache", "artifacts")
    row = rows(project)["2.1"]
    assert row["state"] == "interrupted" and row["reasons"] == ["interrupted: restored on the next build"]
    assert project.snapshot("cache", "artifacts") == before  # status only reads
    assert "computed 0 · fresh 3" in project.gen("build", "--profile", "smoke", "--no-site").stdout
    assert (final / "manifest.json").is_file() and rows(project)["2.1"]["state"] == "fresh"
