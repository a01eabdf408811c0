"""`git push` publishes every section: the results a default build makes are committed (.gitignore lets exactly them into
git, scripts/freeze_quick stages them when they are fresh), and the Pages workflow's steps, played in a clone on a
machine where importing torch fails, publish every section page with its figures."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from conftest import REPO, GenProject, gen_env, section_source

WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"
FREEZE = REPO / "scripts" / "freeze_quick"
# A reference to a published figure in a page: src, href, srcset entries, CSS url(), data attributes.
FIGURE_REF = re.compile(r"""(?<![\w/.-])((?:\.\.?/)*/?figures/[^"'\s<>(),]+)""")
IMG_SRC = re.compile(r"""<img\b[^>]*?\bsrc="([^"]+)\"""")
NO_RESULTS = re.compile(r"No ([^<.:]*?)results yet")


def git(cwd: Path, *args: str) -> str:
    """Run git in cwd with a fixed identity and no user or system configuration; return its stdout."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "gen tests",
           "GIT_AUTHOR_EMAIL": "tests@gen.invalid", "GIT_COMMITTER_NAME": "gen tests", "GIT_COMMITTER_EMAIL": "tests@gen.invalid"}
    result = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def init_repository(root: Path) -> None:
    """A git repository of the project with this repository's .gitignore; node_modules is a link here, npm ci's there."""
    shutil.copy2(REPO / ".gitignore", root / ".gitignore")
    git(root, "init", "--quiet")
    (root / ".git" / "info" / "exclude").write_text("/node_modules\n")


def workflow_lines() -> list[str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["build"]["steps"]
    return [line.strip() for step in steps for line in step.get("run", "").splitlines() if line.strip()]


def tracked_results(root: Path) -> set[str]:
    """The files in cache/ that git tracks or has staged."""
    return set(git(root, "ls-files", "cache").split())


def cache_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "cache").rglob("*") if p.is_file()}


def freeze(root: Path) -> subprocess.CompletedProcess:
    """scripts/freeze_quick, copied into the project, run as a maintainer would (gen found on PATH)."""
    script = root / "scripts" / "freeze_quick"
    script.parent.mkdir(exist_ok=True)
    shutil.copy2(FREEZE, script)
    env = {**gen_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(script)], cwd=root, capture_output=True, text=True, env=env, timeout=120)


def publish_in_clone(origin: Path, runner: Path) -> subprocess.CompletedProcess:
    """The Pages workflow in a clone of `origin`: checkout, MathJax and Mermaid (npm ci: here a link to this
    repository's node_modules), then its `gen` step, on a machine that has only what the workflow installs: every
    other package of this environment (torch first) fails on import, in gen and in the MkDocs process it starts. The
    MNIST fetch step needs the network; the results here were computed on the bundled subset, which the clone sees too."""
    git(origin.parent, "clone", "--quiet", str(origin), str(runner))
    (runner / "node_modules").symlink_to(REPO / "node_modules")
    poison = runner.parent / "not-installed"
    missing = not_installed_by_the_workflow()
    assert {"torch", "diffusers", "transformers"} <= missing
    for name in missing:
        (poison / name).mkdir(parents=True)
        (poison / name / "__init__.py").write_text(f"raise ModuleNotFoundError('the Pages workflow does not install {name}', name={name!r})\n")
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin", "PYTHONPATH": str(poison), "HOME": str(runner.parent),
           "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    [command] = [shlex.split(line) for line in workflow_lines() if line.startswith("gen ")]
    assert command == ["gen", "build", "--no-compute"]
    result = subprocess.run([sys.executable, "-m", "generator.cli", *command[1:]], cwd=runner, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def not_installed_by_the_workflow() -> set[str]:
    """The top-level modules of this environment that the workflow's pip step does not install (with their
    dependencies; pip and setuptools come with setup-python, the project itself is installed --no-deps)."""
    from test_workflow import _closure, _distribution, pip_requirements

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
    installed = _closure(pip_requirements()) | {"pip", "setuptools", "wheel", _distribution(project)}
    return {top for top, distributions in metadata.packages_distributions().items()
            if top.isidentifier() and not top.startswith("_") and top not in sys.stdlib_module_names
            and not any(_distribution(d) in installed for d in distributions)}


def committed_results(root: Path) -> dict[str, set[tuple[str, str]]]:
    """Section id -> the (backend, profile) of each result in the clone's cache."""
    found: dict[str, set[tuple[str, str]]] = {}
    for manifest in (root / "cache").glob("*/*/*/manifest.json"):
        profile_dir = manifest.parent
        found.setdefault(profile_dir.parent.parent.name, set()).add((profile_dir.parent.name, profile_dir.name))
    return found


def check_every_section_page(root: Path, sections: int) -> list[str]:
    """Every section page of the built site shows each committed result's figures, every figure it names is in the
    site, and none says its committed results are missing or stale. Returns what is wrong, one line each."""
    from generator.diffusion.backends import BACKENDS

    site = root / "site"
    pages = sorted(site.glob("part-*/*/index.html"))
    problems = [] if len(pages) == sections else [f"{len(pages)} section pages for {sections} sections"]
    committed = committed_results(root)
    for page in pages:
        section, html = page.parent.name, page.read_text()
        where = page.parent.relative_to(site).as_posix()
        for ref in FIGURE_REF.findall(html):
            path = ref.split("#")[0].split("?")[0]
            target = posixpath.normpath(path.lstrip("/") if path.startswith("/") else posixpath.join(where, path))
            if target.startswith("..") or not (site / target).is_file():
                problems.append(f"{where}: {ref} is not in the site")
        shown = {posixpath.normpath(posixpath.join(where, src)) for src in IMG_SRC.findall(html)}
        missing_labels = {label.strip() for label in NO_RESULTS.findall(html)}
        for backend, profile in sorted(committed.get(section, ())):
            if not any(src.startswith(f"figures/{section}/{backend}/{profile}/") for src in shown):
                problems.append(f"{where}: no <img> of its committed result {backend}/{profile}")
            label = BACKENDS[backend].label if backend in BACKENDS else ""
            if label in missing_labels:
                problems.append(f"{where}: says 'No {label + ' ' if label else ''}results yet' though {backend}/{profile} is committed")
        if section not in committed:
            problems.append(f"{where}: no committed result")
        if 'class="gen-stale"' in html:
            problems.append(f"{where}: a committed result is published as stale")
    return problems


# ------------------------------------------------------------------ what git takes


def test_gitignore_commits_quick_and_full_results_and_keeps_smoke_staging_old_temporary_and_stray_files_out(tmp_path: Path) -> None:
    init_repository(tmp_path)
    kept = ["cache/1.7.1/mnist/quick/manifest.json", "cache/1.7.1/mnist/quick/1-seed-1729.png", "cache/2.3/none/full/manifest.json",
            "cache/2.3/none/full/loss.png", "cache/2.3/none/quick/manifest.json", "cache/1.1/deepfloyd/quick/forward.gif"]
    ignored = ["cache/2.3/none/smoke/manifest.json", "cache/2.3/none/quick.new/manifest.json", "cache/2.3/none/quick.old/manifest.json",
               "cache/2.3/none/full.new/loss.png", "cache/2.3/none/quick/.loss.png.tmp", "cache/stray.txt", "cache/2.3/stray.txt",
               "cache/2.3/none/notes.md", "cache/2.3/none/draft/manifest.json", "cache/.DS_Store", "artifacts/2.3/none/quick/unet.pt"]
    for rel in kept + ignored:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    checked = subprocess.run(["git", "check-ignore", "--stdin"], cwd=tmp_path, input="\n".join(kept + ignored) + "\n", capture_output=True, text=True)
    assert sorted(checked.stdout.split()) == sorted(ignored)
    git(tmp_path, "add", ".")  # what a maintainer's `git add .` takes
    assert sorted(git(tmp_path, "ls-files", "cache", "artifacts").split()) == sorted(kept)


# ------------------------------------------------------------------ scripts/freeze_quick


@pytest.fixture
def built(project: GenProject) -> GenProject:
    """The three-section project of conftest built by a default `gen build`, in a git repository, with leftovers that
    are never committed: a smoke result, a staging folder, a killed write's temporary file and stray files."""
    project.gen("build")
    project.gen("build", "--profile", "smoke", "--section", "2.1", "--no-site")
    results = sorted((project.root / "cache").glob("*/none/*/manifest.json"))
    profile = next(p.parent.name for p in results if p.parent.name != "smoke")
    project.write(f"cache/2.3/none/{profile}/.square.png.tmp", "half a write")
    project.write(f"cache/2.3/none/{profile}.new/square.png", "a staging folder's file")
    project.write("cache/2.3/none/notes.md", "stray")
    project.write("cache/stray.txt", "stray")
    init_repository(project.root)
    git(project.root, "add", "--", ".", ":(exclude)cache")  # the project is committed; its results are freeze_quick's to stage
    git(project.root, "commit", "--quiet", "-m", "the project")
    project.profile = profile
    return project


def staged(root: Path) -> set[str]:
    return set(git(root, "diff", "--cached", "--name-only").split())


def test_freeze_quick_stages_exactly_the_fresh_results_of_the_default_build(built: GenProject) -> None:
    result = freeze(built.root)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = {f for f in cache_files(built.root) if re.fullmatch(rf"cache/2\.[123]/none/{built.profile}/[^./][^/]*", f)}
    assert len(expected) >= 6 and all(f.endswith((".png", ".json")) for f in expected)
    assert staged(built.root) == expected
    assert f"staged 3 fresh results (3 {built.profile}) in cache/" in result.stdout


def test_freeze_quick_stages_a_recompute_s_removed_figures_as_removed(built: GenProject) -> None:
    assert freeze(built.root).returncode == 0
    git(built.root, "commit", "--quiet", "-m", "freeze")
    figures = built.root / "cache" / "2.3" / "none" / built.profile
    (figures / "extra.png").write_bytes((figures / "square.png").read_bytes())
    git(built.root, "add", "--", str(figures / "extra.png"))
    git(built.root, "commit", "--quiet", "-m", "a figure an older compute wrote")
    (figures / "extra.png").unlink()
    assert freeze(built.root).returncode == 0
    assert git(built.root, "diff", "--cached", "--name-status").split() == ["D", f"cache/2.3/none/{built.profile}/extra.png"]


def test_freeze_quick_refuses_in_one_sentence_and_stages_nothing_when_a_result_is_stale_interrupted_or_missing(built: GenProject) -> None:
    built.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}"))
    built.write("sections/b4.py", section_source("2.4"))
    folder = built.root / "cache" / "2.1" / "none" / built.profile
    folder.rename(folder.with_name(f"{built.profile}.old"))  # a swap a killed build left half done
    result = freeze(built.root)
    assert result.returncode == 1
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    line = result.stderr.strip()
    assert line.startswith("freeze_quick: refusing to stage: 3 of the default build's results are not fresh") and line.endswith("run `gen build`, then this again.")
    for named in (f"2.1 [{built.profile}] interrupted", f"2.3 [{built.profile}] stale", f"2.4 [{built.profile}] missing"):
        assert named in line
    assert staged(built.root) == set()


def test_freeze_quick_says_in_one_sentence_when_gen_status_fails(built: GenProject) -> None:
    built.write("sections/b4.py", "from generator.engine.section import Section\nSECTION = Section(id='2.4', part='B', title='x', template='page.md.j2', seeds=[-1])\n")
    result = freeze(built.root)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("freeze_quick: `gen status --json` failed (") and "nothing was staged" in result.stderr
    assert staged(built.root) == set()


# ------------------------------------------------------------------ the workflow in a clone


def test_workflow_fetches_the_mnist_split_before_it_renders_and_installs_no_torch() -> None:
    lines = workflow_lines()
    assert lines.index("python -m generator.mnist.fetch") < lines.index("gen build --no-compute")
    assert "npm ci" in lines
    dependencies = json.loads((REPO / "package.json").read_text())["dependencies"]
    assert {"mathjax", "mermaid"} <= set(dependencies)  # what the site serves itself, installed by `npm ci`
    assert not any(name in " ".join(lines) for name in ("torch", "diffusers", "transformers", "accelerate"))


def test_a_clone_publishes_every_section_with_the_figures_freeze_quick_committed(built: GenProject, tmp_path_factory) -> None:
    assert freeze(built.root).returncode == 0
    git(built.root, "commit", "--quiet", "-m", "Freeze the reference results")
    runner = tmp_path_factory.mktemp("runner") / "report"
    result = publish_in_clone(built.root, runner)
    assert "computed 0 · fresh 3" in result.stdout
    # the clone holds exactly the frozen results: smoke, staging, temporary and stray files stayed behind
    assert cache_files(runner) == tracked_results(built.root)
    assert check_every_section_page(runner, sections=3) == []


def test_the_report_s_committed_results_publish_every_section_page_with_its_figures(smoke_site, tmp_path_factory) -> None:
    """The whole report: its smoke results (the test suite's stand-in for the quick ones a default build makes, built
    with the tiny backend standing in for DeepFloyd IF) committed with `git add -f` (smoke is git-ignored by design),
    cloned and published by the workflow's step without torch: every section page shows the committed figures."""
    origin = tmp_path_factory.mktemp("origin") / "report"
    shutil.copytree(smoke_site.root, origin, symlinks=True, ignore=shutil.ignore_patterns("site", "logs", "artifacts", "node_modules", "__pycache__"))
    # tiny is a test backend that a plain build does not show; name it, as [tool.gen] backends would a real one
    pyproject = (origin / "pyproject.toml").read_text()
    assert 'backends = ["deepfloyd", "mnist"]' in pyproject
    (origin / "pyproject.toml").write_text(pyproject.replace('backends = ["deepfloyd", "mnist"]', 'backends = ["deepfloyd", "tiny", "mnist"]', 1))
    init_repository(origin)
    git(origin, "add", ".")
    assert tracked_results(origin) == set()  # smoke results are ignored by design
    git(origin, "add", "--force", *sorted(str(p.relative_to(origin)) for p in origin.glob("cache/*/*/smoke")))
    git(origin, "commit", "--quiet", "-m", "the report with its smoke results")
    runner = tmp_path_factory.mktemp("runner") / "report"
    result = publish_in_clone(origin, runner)
    sections = len(list((runner / "sections").glob("[!_]*.py")))
    assert re.search(r"computed 0 · fresh \d+", result.stdout), result.stdout
    assert cache_files(runner) == tracked_results(origin) and len(committed_results(runner)) == sections
    assert check_every_section_page(runner, sections) == []
