"""A build that must stop part-way: Ctrl+C, a section past `[tool.gen] section_timeout`, and a section that writes
outside its ctx. Each keeps the last good result of what it stopped, and never publishes half of a result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import blocking_body, gen_env, section_source, wait_for


def leftovers(root) -> list[str]:
    """Staging or swap folders a build left in cache/ or artifacts/."""
    return [str(p.relative_to(root)) for folder in ("cache", "artifacts") for p in (root / folder).rglob("*") if p.name.endswith((".new", ".old"))]


def as_in_a_terminal() -> None:
    """Ctrl+C as a terminal's foreground job meets it: SIGINT at its default. A test run started in the background of a
    non-interactive shell (`cmd &`, nohup) inherits SIGINT ignored, and gen, like any program, keeps an ignored SIGINT
    ignored; without this the build under test would never see the Ctrl+C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_the_build_in_one_line_and_keeps_the_last_good_result(project, tmp_path, jobs):
    project.gen("build", "--no-site")
    before = project.snapshot("cache/2.1")
    marks = tmp_path / "marks"
    marks.mkdir()
    # 2.1 now runs until released (never), in short sleeps, so that even the in-process worker of --jobs 1 can be stopped.
    body = f"open({str(marks / 'pid')!r}, 'w').write(str(__import__('os').getpid()))\n            " + blocking_body(marks, "b1")
    project.write("sections/b1.py", section_source("2.1", params="{'scale': 2.0}", body=body))
    output = tmp_path / "out.txt"
    with open(output, "w") as sink:  # in a session of its own: Ctrl+C in a terminal signals the whole foreground group
        build = subprocess.Popen([sys.executable, "-m", "generator.cli", "build", "--no-site", "--jobs", jobs], cwd=project.root, stdout=sink,
                                 stderr=subprocess.STDOUT, env=gen_env(), start_new_session=True, preexec_fn=as_in_a_terminal)
    try:
        assert wait_for(lambda: (marks / "b1.started").exists(), 60), output.read_text()
        pid = int((marks / "pid").read_text())
        time.sleep(0.3)
        os.killpg(build.pid, signal.SIGINT)
        sent = time.monotonic()
        code = build.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        if build.poll() is None:
            build.kill()
    text = output.read_text()
    assert code == 130, text
    assert took < 8, f"took {took:.1f} s to stop"
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("interrupted:")]
    assert lines == ["interrupted: 0 results computed and kept; 2.1 [quick] stopped, its last good result kept"], text
    assert project.snapshot("cache/2.1") == before  # the old figures and manifest, untouched
    assert leftovers(project.root) == []
    assert wait_for(lambda: not alive(pid), 5), "the worker process outlived the build"
    project.write("sections/b1.py", section_source("2.1"))  # as it was: fresh again, and nothing is in the way
    assert "computed 0 · fresh 3 · failed 0" in project.gen("build", "--no-site", "--jobs", jobs).stdout


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_section_past_its_time_limit_fails_in_one_sentence_and_the_others_still_build(project, jobs):
    project.write("pyproject.toml", project.root.joinpath("pyproject.toml").read_text() + "section_timeout = 2\n")
    project.gen("build", "--no-site")
    before = project.snapshot("cache/2.1")
    # Asleep inside C: only ending the process it runs in stops it, also with --jobs 1.
    project.write("sections/b1.py", section_source("2.1", params="{'scale': 2.0}", body="import time; time.sleep(3600)"))
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 4.0}"))
    started = time.monotonic()
    out = project.gen("build", "--no-site", "--jobs", jobs, check=1, timeout=90).stdout
    assert time.monotonic() - started < 45
    assert ("2.1 Section 2.1 failed: ran past section_timeout = 2 s and was stopped; raise section_timeout in [tool.gen] of pyproject.toml "
            "or fix the section") in out, out
    assert "2.2 Section 2.2: an upstream section failed" in out
    assert "computed 1 · fresh 0 · failed 2" in out
    assert "value = 8.0" in (project.root / "docs/part-b/2.3.md").read_text()
    assert project.snapshot("cache/2.1") == before
    assert leftovers(project.root) == []
    failure = (project.root / "artifacts/.failures/2.1/none/quick.json").read_text()
    assert "section_timeout" in failure


def test_a_section_timeout_that_is_not_a_positive_number_is_one_sentence(project):
    project.write("pyproject.toml", project.root.joinpath("pyproject.toml").read_text() + 'section_timeout = "5"\n')
    result = project.gen("status", check=2)
    assert "[tool.gen] section_timeout must be a number of seconds above 0 (leave it out for no limit), not '5'" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_files_a_section_writes_beside_ctx_are_not_published_and_relative_paths_land_in_scratch(project, tmp_path_factory, monkeypatch, jobs):
    scratch_root = tmp_path_factory.mktemp("tmp") / "a" / "b"
    scratch_root.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(scratch_root))
    body = ("open('stray.png', 'w').write('x'); open('../escape.txt', 'w').write('x')\n"
            "            (ctx._out / 'sneaky.png').write_bytes(b'x'); (ctx._out / 'sub').mkdir()\n"
            "            (ctx.artifact('m.bin').parent / 'extra.bin').write_bytes(b'x'); ctx.artifact('m.bin').write_bytes(b'1')")
    project.write("sections/b1.py", section_source("2.1", body=body))
    out = project.gen("build", "--no-site", "--jobs", jobs).stdout
    assert "2.1 [quick]: not published, written beside its figures without ctx: sneaky.png, sub, extra.bin" in out, out
    assert sorted(p.name for p in (project.root / "cache/2.1/none/quick").iterdir()) == ["manifest.json", "square.png"]
    assert sorted(p.name for p in (project.root / "artifacts/2.1/none/quick").iterdir()) == ["m.bin", "manifest.json"]
    assert not [p for p in project.root.rglob("*") if p.name in ("stray.png", "escape.txt")]
    assert (scratch_root / "escape.txt").exists()  # one level above its scratch folder: outside the project, in the temp folder
    assert not list(scratch_root.glob("gen-compute-*"))  # the scratch folder itself is gone
    with pytest.raises(AssertionError, match="must be a plain file name"):
        project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", body="ctx.artifact('../up.bin')"))
        project.gen("build", "--no-site", "--jobs", jobs)
