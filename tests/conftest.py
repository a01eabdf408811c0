"""Shared fixtures: a small throwaway gen project, and running `gen` in it as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# One torch thread: with two, a tiny UNet call spins for ~20x longer when another process holds a core.
def gen_env() -> dict[str, str]:
    """The environment `gen` runs in: this process's (as a test has set it) with plain, wide output."""
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "OMP_NUM_THREADS": "1"}

PYPROJECT = """\
[tool.gen]
backends = ["deepfloyd", "mnist"]
code_packages = ["sections", "lib"]
"""

MKDOCS = f"""\
site_name: test report
docs_dir: docs
site_dir: site
strict: true
hooks:
  - {REPO / "generator" / "site" / "hooks.py"}
theme:
  name: material
  font: false
markdown_extensions:
  - attr_list
  - md_in_html
  - tables
  - pymdownx.superfences
  - pymdownx.arithmatex:
      generic: true
  - pymdownx.tabbed:
      alternate_style: true
"""

TEMPLATE = """\
{% extends "_base.md.j2" %}
{% block approach %}Approach of {{ section.title }}: \\(x_t = \\sqrt{\\bar\\alpha_t} x_0\\).{% endblock %}
{% block results %}
{% call(r) m.backend_tabs(results) %}
{{ m.grid(r.figures) }}
value = {{ r.metrics.value }}
{% endcall %}
{% endblock %}
"""


def section_source(section_id: str, *, params: str = "{'scale': 1.0}", upstream: str = "()", extra: str = "", body: str = "") -> str:
    """A Part B section that writes one figure and a metric, importing lib.maths inside compute."""
    return textwrap.dedent(
        f"""\
        from generator.engine.section import Section

        SECTION = Section(id={section_id!r}, part="B", title="Section {section_id}", template="page.md.j2",
                          params={params}, upstream={upstream}{extra})


        def compute(ctx):
            import numpy as np

            from lib.maths import double

            {body or "pass"}
            value = double(ctx.params["scale"])
            ctx.metric("value", value)
            ctx.figure("square", np.full((8, 8), value / 10.0), "a square of value " + str(value), value_range=(0.0, 1.0))
        """
    )


def part_a_source(section_id: str, extra: str = "", prompts: str = "{'tiny': ['a photo']}") -> str:
    """A Part A section on the tiny backend that never calls the model: it writes one figure per prompt."""
    return textwrap.dedent(
        f"""\
        from generator.engine.section import Section

        SECTION = Section(id={section_id!r}, part="A", title="Section {section_id}", template="page.md.j2",
                          backends=["tiny"], uses_model=False, prompts={prompts}{extra})


        def compute(ctx):
            import numpy as np

            for i, prompt in enumerate(ctx.prompts):
                ctx.figure(f"p{{i}}", np.zeros((8, 8)), str(prompt), value_range=(0.0, 1.0))
        """
    )


def blocking_body(folder: Path, name: str) -> str:
    """A compute body that marks `name`.started in `folder`, then waits until `name`.release exists there."""
    started, release = folder / f"{name}.started", folder / f"{name}.release"
    return (f"import os, time; open({str(started)!r}, 'w').close(); deadline = time.time() + 120\n"
            f"            while not os.path.exists({str(release)!r}) and time.time() < deadline: time.sleep(0.05)")


def wait_for(predicate, seconds: float = 60) -> bool:
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@dataclass
class GenProject:
    root: Path

    def gen(self, *args: str, check: bool | int = True, timeout: float = 120, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """Run `gen ARGS` in the project (under `wrapper`, a command prefix, if given) and check its exit code."""
        result = subprocess.run([*wrapper, sys.executable, "-m", "generator.cli", *args], cwd=self.root, capture_output=True, text=True, env=gen_env(), timeout=timeout)
        expected = 0 if check is True else check
        if check is not False and result.returncode != expected:
            raise AssertionError(f"gen {' '.join(args)} exited {result.returncode}, expected {expected}\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, *args: str, output: Path) -> subprocess.Popen:
        """Start `gen ARGS` in the background, its stdout and stderr going to `output`."""
        handle = open(output, "w")
        return subprocess.Popen([sys.executable, "-m", "generator.cli", *args], cwd=self.root, stdout=handle, stderr=subprocess.STDOUT, env=gen_env())

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def snapshot(self, *folders: str) -> dict[str, tuple[int, bytes]]:
        """Every file under the folders with its mtime and bytes."""
        files = {}
        for folder in folders:
            for path in sorted((self.root / folder).rglob("*")):
                if path.is_file():
                    files[str(path.relative_to(self.root))] = (path.stat().st_mtime_ns, path.read_bytes())
        return files


@pytest.fixture
def project(tmp_path: Path) -> GenProject:
    """Three Part B sections (2.1 ← 2.2 reads it; 2.3 independent) that need no torch."""
    p = GenProject(tmp_path)
    p.write("pyproject.toml", PYPROJECT)
    p.write("mkdocs.yml", MKDOCS)
    p.write("lib/__init__.py", "")
    p.write("lib/maths.py", "def double(x):\n    return 2 * x\n")
    p.write("lib/unrelated.py", "def triple(x):\n    return 3 * x\n")
    for name in ("_macros.md.j2", "_base.md.j2", "_report.md.j2", "index.md.j2"):
        p.write(f"templates/{name}", (REPO / "templates" / name).read_text())
    p.write("templates/page.md.j2", TEMPLATE)
    p.write("sections/b1.py", section_source("2.1"))
    p.write("sections/b2.py", section_source("2.2", upstream='("2.1",)'))
    p.write("sections/b3.py", section_source("2.3", params="{'scale': 3.0}"))
    p.write("docs/architecture.md", "# Architecture\n")
    p.write("docs/credits.md", "# Credits\n")
    (tmp_path / "node_modules").symlink_to(REPO / "node_modules")
    return p


PROJECT_FILES = ("pyproject.toml", "mkdocs.yml", "package.json", "sections", "templates", "docs", "inputs")


def copy_project(destination: Path) -> GenProject:
    """A copy of this repository's report (sections, templates, hand-written docs) without its cache."""
    import shutil

    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "part-a", "part-b", "index.md", "overview-part-a.md", "closing.md")
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, destination / name)
    text = (destination / "mkdocs.yml").read_text().replace("  - generator/site/hooks.py", f"  - {REPO / 'generator' / 'site' / 'hooks.py'}")
    (destination / "mkdocs.yml").write_text(text)
    (destination / "node_modules").symlink_to(REPO / "node_modules")
    # The copy's own modules are sections/ only; generator/ is the installed package.
    pyproject = (destination / "pyproject.toml").read_text().replace("[tool.gen]\n", '[tool.gen]\ncode_packages = ["sections"]\n', 1)
    (destination / "pyproject.toml").write_text(pyproject)
    return GenProject(destination)


@pytest.fixture(scope="session")
def smoke_site(tmp_path_factory) -> GenProject:
    """The whole report built once with the smoke profile on the tiny backend: every section, every page, the site."""
    project = copy_project(tmp_path_factory.mktemp("report"))
    project.build_output = project.gen("build", "--profile", "smoke", "--backend", "tiny", "--backend", "mnist", timeout=900)
    return project
