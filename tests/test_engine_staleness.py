"""The staleness semantics of `gen build` and `gen status`, proved on a throwaway project."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from conftest import section_source


def states(project) -> dict[str, dict]:
    rows = json.loads(project.gen("status", "--json").stdout)
    return {row["section"]: row for row in rows}


def test_first_build_computes_everything_and_second_is_fresh(project):
    first = project.gen("build", "--no-site")
    assert "computed 3" in first.stdout
    assert all(row["state"] == "fresh" for row in states(project).values())
    second = project.gen("build", "--no-site")
    assert "computed 0 · fresh 3" in second.stdout


def test_params_change_makes_section_and_its_readers_stale_and_nothing_else(project):
    project.gen("build", "--no-site")
    source = project.root / "sections/b1.py"
    source.write_text(source.read_text().replace("{'scale': 1.0}", "{'scale': 2.0}"))
    rows = states(project)
    assert rows["2.1"]["state"] == "stale" and rows["2.1"]["reasons"] == ["params.scale: 1.0 → 2.0"]
    assert rows["2.2"]["state"] == "stale" and rows["2.2"]["reasons"] == ["upstream: 2.1"]
    assert rows["2.3"]["state"] == "fresh"
    out = project.gen("build", "--no-site").stdout
    assert "computed 2 · fresh 1" in out
    assert states(project)["2.1"]["metrics"]["value"] == 4.0


def test_seed_and_prompt_changes_are_reasons(project):
    project.gen("build", "--no-site")
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}", extra=", seeds=[1730]"))
    assert states(project)["2.3"]["reasons"] == ["seeds: [1729] → [1730]"]


def test_changing_an_imported_module_makes_the_section_stale_but_an_unrelated_one_does_not(project):
    project.gen("build", "--no-site")
    project.write("lib/unrelated.py", "def triple(x):\n    return x * 3\n")
    assert all(row["state"] == "fresh" for row in states(project).values())
    project.write("lib/maths.py", "def double(x):\n    return x + x\n")
    rows = states(project)
    assert rows["2.1"]["reasons"] == ["code: lib/maths.py"]
    assert rows["2.3"]["reasons"] == ["code: lib/maths.py"]
    # 2.2 imports lib.maths too and also reads 2.1: one reason per changed input.
    assert rows["2.2"]["reasons"] == ["code: lib/maths.py", "upstream: 2.1"]


def test_transitive_import_is_part_of_the_fingerprint(project):
    project.write("lib/maths.py", "from lib.deep import factor\n\n\ndef double(x):\n    return factor() * x\n")
    project.write("lib/deep.py", "def factor():\n    return 2\n")
    project.gen("build", "--no-site")
    project.write("lib/deep.py", "def factor():\n    return 2  # same value, new bytes\n")
    assert states(project)["2.1"]["reasons"] == ["code: lib/deep.py"]


def test_template_and_docs_edits_rerender_but_never_recompute(project):
    project.gen("build", "--no-site")
    before = project.snapshot("cache")
    template = project.root / "templates/page.md.j2"
    template.write_text(template.read_text().replace("value =", "the value is"))
    out = project.gen("build", "--no-site").stdout
    assert "computed 0" in out and "pages changed 3" in out
    assert project.snapshot("cache") == before
    assert "the value is 2" in (project.root / "docs/part-b/2.1.md").read_text()


def test_failing_section_keeps_its_last_result_and_the_build_goes_on(project):
    project.gen("build", "--no-site")
    manifest = project.root / "cache/2.3/none/quick/manifest.json"
    before = manifest.read_bytes()
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}", body="raise RuntimeError('the GPU caught fire')"))
    source = project.root / "sections/b1.py"
    source.write_text(source.read_text().replace("{'scale': 1.0}", "{'scale': 7.0}"))
    result = project.gen("build", "--no-site", check=1)
    assert manifest.read_bytes() == before
    lines = [line for line in result.stdout.splitlines() if "the GPU caught fire" in line]
    assert len(lines) == 1 and "failed" in lines[0]
    log = re.search(r"traceback: (\S+\.log)", result.stdout).group(1)
    assert "Traceback" in open(log).read() and "RuntimeError" in open(log).read()
    assert "computed 2" in result.stdout and "failed 1" in result.stdout
    assert states(project)["2.1"]["metrics"]["value"] == 14.0
    assert states(project)["2.3"]["state"] == "stale"


def test_a_failed_build_says_so_on_the_page_when_and_where_the_log_is_and_keeps_the_last_good_result(project):
    project.gen("build", "--no-site")
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}", body="raise RuntimeError('the GPU caught fire')"))
    result = project.gen("build", "--no-site", check=1)
    log = next(project.root.glob("logs/gen-build-*.log")).relative_to(project.root).as_posix()
    page = (project.root / "docs/part-b/2.3.md").read_text()
    assert "The last quick build of this result failed (" in page and "RuntimeError: the GPU caught fire" in page
    assert f"The traceback is in <code>{log}</code>" in page and "Shown below is the last good result." in page
    assert "figures/2.3/none/quick/square.png" in page and "gen-stale" in page
    assert "failed 1" in result.stdout
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}"))
    project.gen("build", "--no-site")
    page = (project.root / "docs/part-b/2.3.md").read_text()
    assert "failed" not in page and "gen-stale" not in page


def test_clean_removes_results_checkpoints_and_the_folders_it_empties(project):
    project.gen("build", "--no-site")
    project.write("artifacts/.work/2.1/none/quick-0123456789ab/epoch-001.safetensors", "checkpoint")
    project.write("artifacts/.work/2.3/none/quick-0123456789ab/epoch-001.safetensors", "checkpoint")
    project.gen("clean", "--section", "2.1")
    assert not (project.root / "cache/2.1").exists() and not (project.root / "artifacts/.work/2.1").exists()
    assert (project.root / "cache/2.3/none/quick/manifest.json").is_file()
    out = project.gen("clean", "--keep-checkpoints").stdout
    assert "training checkpoints kept" in out
    assert (project.root / "artifacts/.work/2.3/none/quick-0123456789ab/epoch-001.safetensors").is_file()
    assert not list((project.root / "cache").iterdir())


def test_sigkill_mid_section_leaves_the_cache_valid_and_only_that_section_recomputes(project, tmp_path):
    project.gen("build", "--no-site")
    marker = tmp_path / "started"
    slow = f"open({str(marker)!r}, 'w').close(); import time; time.sleep(60)"
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 4.0}", body=slow))
    before = project.snapshot("cache/2.3")
    process = subprocess.Popen([sys.executable, "-m", "generator.cli", "build", "--no-site"], cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert marker.exists()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert project.snapshot("cache/2.3") == before  # the previous result is intact
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 4.0}"))
    rows = states(project)
    assert [sid for sid, row in rows.items() if row["state"] != "fresh"] == ["2.3"]
    out = project.gen("build", "--no-site").stdout
    assert "computed 1 · fresh 2" in out
    assert not list((project.root / "cache").rglob("*.new"))


def test_section_option_runs_only_that_section_plus_stale_upstream(project):
    out = project.gen("build", "--no-site", "--section", "2.2").stdout
    assert "computed 2" in out  # 2.2 and the upstream 2.1 it reads
    assert states(project)["2.3"]["state"] == "missing"


def test_dry_run_prints_the_plan_and_computes_nothing(project):
    out = project.gen("build", "--dry-run").stdout
    assert "would compute 2.1" in out and "never computed" in out
    assert not (project.root / "cache").exists()


def test_force_recomputes_a_fresh_result(project):
    project.gen("build", "--no-site")
    out = project.gen("build", "--no-site", "--force", "--section", "2.3").stdout
    assert "computed 1" in out


def test_clean_drops_results(project):
    project.gen("build", "--no-site")
    project.gen("clean", "--section", "2.1")
    assert states(project)["2.1"]["state"] == "missing"
    assert states(project)["2.3"]["state"] == "fresh"


def test_status_json_has_the_documented_keys(project):
    project.gen("build", "--no-site")
    row = states(project)["2.1"]
    assert {"section", "title", "backend", "profile", "state", "reasons", "seconds", "metrics"} <= set(row)
    assert row["metrics"] == {"value": 2.0} and row["reasons"] == [] and row["seconds"] >= 0


def test_noop_build_rewrites_nothing_and_skips_mkdocs(project):
    first = project.gen("build")
    assert "site:" in first.stdout and "(unchanged)" not in first.stdout
    before = project.snapshot("cache", "docs", "site")
    second = project.gen("build")
    assert "computed 0" in second.stdout and "pages changed 0" in second.stdout and "(unchanged)" in second.stdout
    assert project.snapshot("cache", "docs", "site") == before


def test_noop_build_and_status_import_no_heavy_library(project):
    project.gen("build")
    for command in (["build"], ["status"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "generator.cli", *command], cwd=project.root, capture_output=True, text=True)
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
        assert not imported & {"torch", "diffusers", "transformers", "matplotlib", "mkdocs", "pydantic"}, command


def test_editing_a_docs_page_rebuilds_the_site_without_recomputing(project):
    project.gen("build")
    project.write("docs/architecture.md", "# Architecture\n\nNew words.\n")
    out = project.gen("build").stdout
    assert "computed 0" in out and "(unchanged)" not in out
    assert "New words." in (project.root / "site/architecture/index.html").read_text()


def test_a_broken_template_is_one_line_and_exit_1_and_keeps_the_page(project):
    project.gen("build", "--no-site")
    page = project.root / "docs/part-b/2.1.md"
    before = page.read_bytes()
    template = project.root / "templates/page.md.j2"
    template.write_text(template.read_text().replace("value = {{ r.metrics.value }}", "value = {{ r.metrics.nope.deeper }}"))
    result = project.gen("build", "--no-site", check=1)
    assert "a page failed to render" in result.stdout and "templates/page.md.j2" in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert page.read_bytes() == before


def test_a_broken_home_page_template_is_one_line_and_the_section_pages_still_render(project):
    project.gen("build", "--no-site")
    index = project.root / "templates/index.md.j2"
    index.write_text(index.read_text() + "\n{{ pages[0].nope.deeper }}\n")
    project.write("sections/b1.py", section_source("2.1", params="{'scale': 2.5}"))
    result = project.gen("build", "--no-site", check=1)
    assert "a page failed to render" in result.stdout and "templates/index.md.j2" in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert "value = 5.0" in (project.root / "docs/part-b/2.1.md").read_text()


def test_serve_serves_the_site_and_rebuilds_an_edited_page(project):
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "generator.cli", "serve", "--port", str(port)],
                              cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def page() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/part-b/2.1/", timeout=5) as response:
            return response.read().decode()

    def wait_for(predicate, seconds: float = 60) -> bool:
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if predicate():
                    return True
            except OSError:
                pass
            time.sleep(0.3)
        return False

    try:
        assert wait_for(lambda: "value = 2.0" in page())
        template = project.root / "templates/page.md.j2"
        template.write_text(template.read_text().replace("value =", "the value served is"))
        assert wait_for(lambda: "the value served is 2.0" in page())
    finally:
        server.terminate()
        server.wait(timeout=10)
