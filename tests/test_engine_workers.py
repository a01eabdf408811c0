"""Work units, the scheduler and warm workers: results in dependency order on N workers, a worker that survives a
failing section and imports only what changed, `--jobs N` bit-identical to `--jobs 1`, and `--no-compute`."""

from __future__ import annotations

import io
import os

import pytest
from conftest import section_source

from generator.engine.store import ResultKey


@pytest.fixture(autouse=True)
def forget_project_modules():
    """Tests that compute in this process import a throwaway project's modules; the next test has its own."""
    import sys

    path = list(sys.path)
    yield
    for name in [n for n in sys.modules if n.split(".")[0] in ("lib", "sections")]:
        del sys.modules[name]
    sys.path[:] = path


def figures(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("cache/*/*/*/*")) if p.suffix in (".png", ".gif", ".svg")}


def plan_of(project, profile: str = "quick"):
    from generator.engine.discovery import load_sections
    from generator.engine.files import StatCache
    from generator.engine.plan import choose, plan, select
    from generator.run.project import open_project

    gen_project = open_project(project.root)
    modules = load_sections(gen_project)
    the_plan = plan(gen_project, modules, choose(gen_project, profile, []), StatCache())
    return gen_project, the_plan, select(the_plan, [], gen_project, StatCache())


def meeting_body(folder, me: str, other: str, seconds: float = 30) -> str:
    """A compute body that says it started and then waits (up to `seconds`) for the other section to start too."""
    return (f"import os, time; open({str(folder / me)!r}, 'w').close(); deadline = time.time() + {seconds}\n"
            f"            while not os.path.exists({str(folder / other)!r}):\n"
            f"                assert time.time() < deadline, 'ran alone'\n"
            f"                time.sleep(0.05)")


def test_jobs_2_runs_independent_results_at_once_and_a_reader_after_what_it_reads(project, tmp_path):
    # 2.1 and 2.3 only finish if they run at the same time; 2.2 asserts that 2.1's artifact is committed.
    project.write("sections/b1.py", section_source("2.1", body=meeting_body(tmp_path, "a", "b") + "\n            ctx.artifact('m.bin').write_bytes(b'1')"))
    project.write("sections/b2.py", section_source("2.2", upstream='("2.1",)', body="assert ctx.upstream_artifact('2.1', 'm.bin').read_bytes() == b'1'"))
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body=meeting_body(tmp_path, "b", "a")))
    out = project.gen("build", "--no-site", "--jobs", "2").stdout
    assert "computed 3 · fresh 0 · failed 0" in out


def test_jobs_1_runs_one_result_at_a_time(project, tmp_path):
    project.write("sections/b1.py", section_source("2.1", body=meeting_body(tmp_path, "a", "b", seconds=3)))
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body=meeting_body(tmp_path, "b", "a", seconds=3)))
    out = project.gen("build", "--no-site", "--jobs", "1", check=1).stdout
    assert "AssertionError: ran alone" in out


def test_the_scheduler_emits_events_and_fails_the_readers_of_a_failed_result(project):
    from generator.engine.files import StatCache
    from generator.run.scheduler import Scheduler
    from generator.run.worker import Worker

    project.write("sections/b1.py", section_source("2.1", body="raise ValueError('bad input')"))
    gen_project, _, todo = plan_of(project)
    events = []
    results = Scheduler(gen_project, [Worker(gen_project.root, gen_project.code_packages)], events.append, StatCache(),
                        lambda: project.root / "logs" / "test.log").run(todo)
    kinds = [(e.kind, e.key.section) for e in events if e.kind in ("queued", "started", "done", "failed")]
    assert kinds[:3] == [("queued", "2.1"), ("queued", "2.2"), ("queued", "2.3")]
    assert ("started", "2.1") in kinds and ("started", "2.2") not in kinds
    assert results[ResultKey("2.1", None, "quick")].message == "ValueError: bad input"
    assert results[ResultKey("2.2", None, "quick")].blocked and results[ResultKey("2.2", None, "quick")].message == "an upstream section failed"
    assert results[ResultKey("2.3", None, "quick")].kind == "done"
    assert "ValueError: bad input" in (project.root / "logs" / "test.log").read_text()


def test_a_warm_worker_survives_a_failing_section_and_reimports_only_the_modules_that_changed(project, tmp_path):
    import sys

    from generator.run.units import unit_for
    from generator.run.work import Reporter, WorkFailed
    from generator.run.worker import Worker

    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body="import lib.unrelated"))
    gen_project, the_plan, _ = plan_of(project)
    worker = Worker(gen_project.root, gen_project.code_packages)
    unit = unit_for(gen_project, the_plan.items[ResultKey("2.3", None, "quick")])

    def run():
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        out.mkdir()
        return worker.compute(unit, out, tmp_path / "artifacts", Reporter())

    assert run().metrics == {"value": 6.0}
    unrelated = sys.modules["lib.unrelated"]
    project.write("lib/maths.py", "raise RuntimeError('half-edited')\n")
    with pytest.raises(WorkFailed, match="RuntimeError: half-edited"):
        run()
    project.write("lib/maths.py", "def double(x):\n    return 20 * x\n")
    assert run().metrics == {"value": 60.0}  # the edit is seen without a new process
    assert sys.modules["lib.unrelated"] is unrelated  # an unchanged module is not imported again


def test_the_console_shows_one_bar_per_running_result_and_every_line_comes_from_an_event():
    from rich.console import Console

    from generator.console import ConsoleListener
    from generator.run.build import Note
    from generator.run.scheduler import Event

    out = io.StringIO()
    listener = ConsoleListener(Console(file=out, width=200))
    a, b = ResultKey("1.8", "mnist", "smoke"), ResultKey("1.9", "mnist", "smoke")
    listener(Note("plan", "gen build · profile smoke"))
    for key in (a, b):
        listener(Event("queued", key, "t"))
    progress = listener.progress
    assert progress is not None and progress.tasks == []  # queued results have no bar yet
    listener(Event("started", a, "A", description="never computed"))
    listener(Event("started", b, "B", description="never computed"))
    listener(Event("progress", a, description="sampling", total=10))
    listener(Event("progress", a, advance=3))
    running = {t.description: t for t in progress.tasks if not t.finished}
    assert len(running) == 2 and running["1.8 · mnist · A · sampling"].completed == 3
    listener(Event("done", a, "A"))
    assert [t.description for t in progress.tasks if t.finished] == ["[green]✓[/] 1.8 · mnist · A"]
    listener(Note("computed", ""))
    assert listener.progress is None  # the bars end with the compute
    listener(Note("summary", "computed 1 · fresh 0"))
    lines = out.getvalue()
    assert lines.index("gen build · profile smoke") < lines.index("computed 1 · fresh 0")


def test_no_compute_renders_pages_and_the_site_from_the_cache_without_torch(project, tmp_path):
    project.gen("build", "--no-site")
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}"))  # now stale: --no-compute leaves it so
    poison = tmp_path / "poison" / "torch"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('gen --no-compute imported torch')\n")
    env = {**os.environ, "PYTHONPATH": str(poison.parent)}
    import subprocess
    import sys

    from conftest import gen_env

    result = subprocess.run([sys.executable, "-m", "generator.cli", "build", "--no-compute"], cwd=project.root, capture_output=True, text=True,
                            env={**gen_env(), **env}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "computed 0 · fresh 2" in result.stdout
    assert (project.root / "site/part-b/2.3/index.html").is_file()
    assert "value = 6.0" in (project.root / "docs/part-b/2.3.md").read_text()  # the cached result, marked stale
    assert "stale" in (project.root / "docs/part-b/2.3.md").read_text()


def test_jobs_are_bit_identical_to_one_job_on_real_sections(tmp_path):
    from conftest import copy_project

    args = ["build", "--profile", "smoke", "--backend", "tiny", "--no-site", "--section", "1.1", "--section", "1.3", "--section", "1.4", "--section", "1.5"]
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = copy_project(tmp_path / "one"), copy_project(tmp_path / "two")
    one.gen(*args, "--jobs", "1", timeout=600)
    two.gen(*args, "--jobs", "2", timeout=600)
    a, b = figures(one.root), figures(two.root)
    assert a and a == b


def test_jobs_2_trains_part_b_to_the_bits_of_jobs_1_with_torch_s_own_thread_count(tmp_path):
    # Without OMP_NUM_THREADS (as in a terminal) torch takes a thread per core with --jobs 1; workers that each took a
    # share of the cores added up in another order (2.1 smoke: final_loss 0.13886967 against 0.13887134).
    import json
    import subprocess
    import sys

    from conftest import copy_project, gen_env

    env = {k: v for k, v in gen_env().items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    runs = {}
    for jobs in ("1", "2"):
        (tmp_path / jobs).mkdir()
        copy = copy_project(tmp_path / jobs)
        result = subprocess.run([sys.executable, "-m", "generator.cli", "build", "--profile", "smoke", "--no-site", "--section", "2.1", "--jobs", jobs],
                                cwd=copy.root, capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        runs[jobs] = (figures(copy.root), json.loads((copy.root / "cache/2.1/none/smoke/manifest.json").read_text())["metrics"])
    assert runs["1"][0] and runs["1"][0] == runs["2"][0]  # loss.png and every grid, byte for byte
    assert runs["1"][1]["final_loss"] == runs["2"][1]["final_loss"] and runs["1"][1] == runs["2"][1]


def test_every_worker_computes_with_the_project_s_thread_count_whatever_jobs_is(project, monkeypatch):
    import json

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    project.write("pyproject.toml", project.root.joinpath("pyproject.toml").read_text() + "threads = 3\n")
    body = "import os, torch; ctx.metric('threads', torch.get_num_threads()); ctx.note('wait', os.environ['OMP_WAIT_POLICY'])"
    project.write("sections/b1.py", section_source("2.1", body=body))
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body=body))
    for jobs, force in (("1", ()), ("2", ("--force",))):
        project.gen("build", "--no-site", "--jobs", jobs, *force)
        for section in ("2.1", "2.3"):
            manifest = json.loads((project.root / f"cache/{section}/none/quick/manifest.json").read_text())
            assert manifest["metrics"]["threads"] == 3, jobs
            assert manifest["notes"]["wait"] == "PASSIVE", jobs  # idle OpenMP threads sleep: spinning, they take cores others need


def test_each_worker_gets_its_own_gpu_on_a_machine_with_several_and_no_share_of_the_cores_without(monkeypatch):
    from generator.run.executors import local

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert local.gpu_assignments(3) == [{"CUDA_VISIBLE_DEVICES": "2"}, {"CUDA_VISIBLE_DEVICES": "5"}, {"CUDA_VISIBLE_DEVICES": "2"}]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert local.gpu_assignments(2) == [{}, {}]  # each computes with the project's thread count, which the worker sets


def test_a_ray_actor_asks_for_the_gpus_its_backend_needs(project):
    from generator.run.executors.ray import num_gpus
    from generator.run.project import open_project

    gen_project = open_project(project.root)
    assert num_gpus(gen_project, "deepfloyd") == 1 and num_gpus(gen_project, "mnist") == 0 and num_gpus(gen_project, None) == 0
    project.write("pyproject.toml", project.root.joinpath("pyproject.toml").read_text() + '\n[tool.gen.backend.mnist]\nnum_gpus = 0.5\n')
    assert num_gpus(open_project(project.root), "mnist") == 0.5
