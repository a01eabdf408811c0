"""One writer per result: concurrent builds of the same result wait for each other, builds of different results run
side by side, and what dead builds leave is cleared by the next build under the result's lock."""

from __future__ import annotations

import hashlib
import json
import os
import signal

from conftest import blocking_body, section_source, wait_for


def test_a_second_build_of_the_same_result_waits_says_so_and_then_finds_it_fresh(project, tmp_path):
    project.gen("build", "--no-site")
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body=blocking_body(tmp_path, "b3")))
    first = project.start("build", "--no-site", "--force", "--section", "2.3", output=tmp_path / "first.out")
    assert wait_for((tmp_path / "b3.started").exists)
    second = project.start("build", "--no-site", "--force", "--section", "2.3", output=tmp_path / "second.out")
    assert wait_for(lambda: "waiting" in (tmp_path / "second.out").read_text())
    (tmp_path / "b3.release").touch()
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    out = (tmp_path / "second.out").read_text()
    assert len([line for line in out.splitlines() if "waiting" in line]) == 1
    assert "2.3 [quick]: another build is computing it; waiting for it to finish" in out
    assert "computed 0 · fresh 1" in out  # it did not compute the result again
    assert "computed 1" in (tmp_path / "first.out").read_text()


def test_builds_of_different_results_run_at_the_same_time_and_leave_each_other_alone(project, tmp_path):
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body=blocking_body(tmp_path, "b3")))
    slow = project.start("build", "--no-site", "--section", "2.3", output=tmp_path / "slow.out")
    assert wait_for((tmp_path / "b3.started").exists)
    staging = project.root / "cache/2.3/none/quick.new"
    assert staging.is_dir()
    # 2.1 builds while 2.3 is being computed; its leftover sweep leaves the live writer's staging folder alone.
    assert "computed 1" in project.gen("build", "--no-site", "--section", "2.1").stdout
    assert staging.is_dir() and slow.poll() is None
    (tmp_path / "b3.release").touch()
    assert slow.wait(timeout=60) == 0
    assert json.loads((project.root / "cache/2.3/none/quick/manifest.json").read_text())["metrics"] == {"value": 6.0}


def test_leftovers_of_dead_builds_are_cleared_by_the_next_build_and_status_never_touches_them(project):
    project.gen("build", "--no-site")
    leftovers = [
        project.write("cache/2.1/none/quick.new/half.png", "half"),
        project.write("cache/2.3/none/quick.old/manifest.json", "{}"),
        project.write("artifacts/2.1/none/quick.new/model.bin", "half"),
        project.write("cache/2.1/none/quick/.manifest.json.4242.tmp", "{"),
    ]
    before = project.snapshot("cache", "artifacts")
    project.gen("status")
    assert project.snapshot("cache", "artifacts") == before  # status only reads
    out = project.gen("build", "--no-site").stdout
    assert "computed 0 · fresh 3" in out
    assert not any(path.exists() for path in leftovers)
    assert not (project.root / "cache/2.1/none/quick.new").exists() and not (project.root / "artifacts/2.1/none/quick.new").exists()


def test_a_swap_interrupted_by_a_kill_is_finished_by_the_next_build(project):
    project.gen("build", "--no-site")
    final = project.root / "cache/2.1/none/quick"
    manifest = (final / "manifest.json").read_bytes()
    final.rename(final.with_name("quick.new"))  # killed after moving the old result away, before the new one moved in
    assert json.loads(project.gen("status", "--json").stdout)[0]["state"] == "interrupted"  # the build restores it, computing nothing
    assert "computed 0 · fresh 3" in project.gen("build", "--no-site").stdout
    assert (final / "manifest.json").read_bytes() == manifest


def test_a_waiting_build_leaves_the_writer_alone_and_resumes_its_training_when_the_writer_is_killed(project, tmp_path):
    # The section keeps an "epoch" checkpoint in ctx.work_dir and records whether it found one from an earlier try.
    body = ("import pathlib; checkpoint = ctx.work_dir / 'epoch-1'; ctx.metric('resumed', int(checkpoint.exists()))\n"
            "            ctx.work_dir.mkdir(parents=True, exist_ok=True); checkpoint.write_text('1')\n"
            f"            {blocking_body(tmp_path, 'b3')}")
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body=body))
    writer = project.start("build", "--no-site", "--section", "2.3", output=tmp_path / "writer.out")
    assert wait_for((tmp_path / "b3.started").exists)
    staging = project.root / "cache/2.3/none/quick.new"
    work = list((project.root / "artifacts/.work/2.3/none").glob("quick-*"))
    assert staging.is_dir() and len(work) == 1 and (work[0] / "epoch-1").is_file()
    (tmp_path / "b3.started").unlink()
    waiting = project.start("build", "--no-site", "--section", "2.3", "--force", output=tmp_path / "waiting.out")
    assert wait_for(lambda: "waiting" in (tmp_path / "waiting.out").read_text())
    assert staging.is_dir() and (work[0] / "epoch-1").is_file()  # the writer's staging and checkpoints are its own
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert wait_for((tmp_path / "b3.started").exists)  # the waiting build took over, from the killed one's checkpoint
    (tmp_path / "b3.release").touch()
    assert waiting.wait(timeout=60) == 0
    assert json.loads((project.root / "cache/2.3/none/quick/manifest.json").read_text())["metrics"]["resumed"] == 1
    assert not work[0].exists()  # a finished result drops its checkpoints


STRESS_SECTION = '''\
from generator.engine.section import Section

SECTION = Section(id="2.1", part="B", title="Stress", template="page.md.j2", params={"figures": 15})


def compute(ctx):
    import time

    import numpy as np

    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    for i in range(ctx.params["figures"]):
        (ctx.work_dir / f"epoch-{i:03d}").write_bytes(bytes([i]) * 4096)  # a resumable "training" checkpoint
        ctx.figure(f"figure {i}", np.full((16, 16), i / 15.0), f"figure {i}", value_range=(0.0, 1.0))
        time.sleep(0.01)
    ctx.metric("value", 1.0)
    ctx.artifact("model.bin").write_bytes(b"".join((ctx.work_dir / f"epoch-{i:03d}").read_bytes() for i in range(ctx.params["figures"])))
'''


def _torn(root) -> list[str]:
    """Every way the results on disk differ from what their manifests record."""
    problems = []
    for manifest_path in sorted(root.glob("cache/*/*/*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        folders = [(manifest_path.parent, manifest["figures"], "file")]
        if manifest["artifacts"]:
            folders.append((root / "artifacts" / manifest_path.parent.relative_to(root / "cache"), manifest["artifacts"], "name"))
        for folder, entries, name_key in folders:
            for entry in entries:
                path = folder / entry[name_key]
                if not path.is_file():
                    problems.append(f"missing {path}")
                elif hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"] or path.stat().st_size != entry["bytes"]:
                    problems.append(f"damaged {path}")
    problems += [f"leftover {p}" for p in root.glob("cache/*/*/*.new")] + [f"leftover {p}" for p in root.glob("cache/**/.*.tmp")]
    return problems


def test_twenty_pairs_of_concurrent_forced_builds_never_tear_a_result(project, tmp_path):
    project.write("sections/b1.py", STRESS_SECTION)
    project.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body="assert ctx.upstream_artifact('2.1', 'model.bin').stat().st_size == 15 * 4096"))
    tried, lost, waited = 20, 0, 0
    for pair in range(tried):
        outputs = [tmp_path / f"pair{pair}-{n}.out" for n in (0, 1)]
        builds = [project.start("build", "--profile", "smoke", "--no-site", "--force", output=out) for out in outputs]
        codes = [build.wait(timeout=120) for build in builds]
        texts = [out.read_text() for out in outputs]
        assert codes == [0, 0], texts
        waited += sum("waiting for it to finish" in text for text in texts)
        problems = _torn(project.root)
        lost += bool(problems)
        assert not problems, (pair, problems)
    rows = json.loads(project.gen("status", "--profile", "smoke", "--json").stdout)
    assert {row["state"] for row in rows} == {"fresh"}
    print(f"stress: tried {tried} pairs, survived {tried - lost}, lost {lost}; {waited} of {2 * tried} builds waited for the other")
