"""Time a no-op `gen build` (site included) and `gen status` at several commits in one run, process start included.

Usage: .venv/bin/python bench/noop_build.py [--revs ec4302b HEAD] [--runs 7] [--args "--profile smoke"]

Each commit is checked out as a git worktree under /tmp/gen-bench/ (kept, so that the next run starts at once), with
this checkout's data/ and node_modules/ linked in, and built once so that everything is fresh there. Each worktree runs
its own generator/ (PYTHONPATH) with this checkout's interpreter and packages. The runs take turns between the commits,
each in turn first, so that a change in the machine's load falls on all of them alike. The table gives the medians of
the wall time and of the CPU time (user + system, which the load of other processes changes less); then what a no-op
build imports at each commit (`python -X importtime`): the import time of generator/'s own modules, and the modules
outside generator/ that one commit imports and the other does not, where a slower start shows first.

The default commits: before the layering (ec4302b) and HEAD (the layering's own commit, 42911a5, cannot build: a section
there still imports generator.section). So that each commit builds the same report, the section modules that the
first commit lacks are removed from the others' worktrees (HEAD's 2.4-2.6), unless --all-sections is given.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = Path("/tmp/gen-bench")
LINKED = ("data", "node_modules")  # not in git: the MNIST files and MathJax/Mermaid


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def worktree(rev: str) -> Path:
    """A worktree of `rev` under /tmp/gen-bench/, made once, with data/ and node_modules/ linked from this checkout."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = TREES / commit[:10]
    if not (tree / ".git").exists():
        TREES.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--detach", str(tree), commit)
    for name in LINKED:
        if (ROOT / name).exists() and not (tree / name).exists():
            (tree / name).symlink_to(ROOT / name)
    return tree


def prune(keep: list[Path]) -> None:
    """Remove the bench's worktrees of commits not timed now (an earlier HEAD)."""
    for tree in TREES.glob("*") if TREES.is_dir() else []:
        if tree not in keep and (tree / ".git").exists():
            git("worktree", "remove", "--force", str(tree))


def run(tree: Path, *args: str, check: bool = True) -> tuple[float, float, subprocess.CompletedProcess]:
    """`python ARGS` in `tree` with its own generator/ first on the path: the wall time (process start included), the
    CPU time (user + system, which another process's load changes less) and the result."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "200", "NO_COLOR": "1"}
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} in {tree} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, cpu, result


def prepare(rev: str, extra: list[str], sections: set[str] | None) -> tuple[Path, int]:
    """The worktree of `rev`, built until a build is a no-op (the first build there computes everything once), and
    how many results are fresh there. With `sections` (file names), the worktree's other section modules are removed."""
    tree = worktree(rev)
    for module in section_files(tree) - (sections if sections is not None else section_files(tree)):
        (tree / "sections" / module).unlink()
    *_, imported = run(tree, "-c", "import generator; print(generator.__file__)")
    assert imported.stdout.strip().startswith(str(tree)), f"{rev} runs {imported.stdout.strip()}, not its own generator/"
    for _ in range(2):
        seconds, _, built = run(tree, "-m", "generator.cli", "build", *extra, check=False)
        print(f"{rev}: {built.stdout.strip().splitlines()[-1] if built.stdout.strip() else built.stderr[-300:]} ({seconds:.1f} s)", flush=True)
    *_, status = run(tree, "-m", "generator.cli", "status", "--json", *extra)
    results = json.loads(status.stdout)
    assert all(r["state"] == "fresh" or r["frozen"] or r["unavailable"] for r in results), f"{rev}: not everything is fresh after two builds"
    fresh = sum(1 for r in results if r["state"] == "fresh")
    print(f"{rev}: {len(results)} results, {fresh} fresh", flush=True)
    return tree, fresh


def section_files(tree: Path) -> set[str]:
    """The section modules of a worktree (not the _shared ones)."""
    return {p.name for p in (tree / "sections").glob("*.py") if not p.name.startswith("_")}


def imports(tree: Path, extra: list[str], tries: int = 3) -> dict[str, int]:
    """Every module a no-op build imports, with its own import time in µs (the least of `tries` runs)."""
    own: dict[str, int] = {}
    for _ in range(tries):
        *_, result = run(tree, "-X", "importtime", "-m", "generator.cli", "build", *extra)
        for line in result.stderr.splitlines():
            if line.startswith("import time:") and "self [us]" not in line:
                us, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
                own[name] = min(int(us), own.get(name, int(us)))
    return own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revs", nargs="+", default=["ec4302b", "HEAD"])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--args", default="--profile smoke", help="arguments for gen build / gen status in every worktree")
    parser.add_argument("--all-sections", action="store_true", help="keep the sections that the first commit lacks (by default removed from the others' worktrees)")
    options = parser.parse_args()
    extra = shlex.split(options.args)
    prune([worktree(rev) for rev in options.revs])
    first = worktree(options.revs[0])
    prepared = {rev: prepare(rev, extra, None if options.all_sections else section_files(first)) for rev in options.revs}
    trees = {rev: tree for rev, (tree, _) in prepared.items()}
    commands = {"gen build (no-op, site included)": ("-m", "generator.cli", "build", *extra),
                "gen status": ("-m", "generator.cli", "status", *extra),
                "python -c pass": ("-c", "pass")}
    times: dict[tuple[str, str], list[tuple[float, float]]] = {(name, rev): [] for name in commands for rev in trees}
    for round_ in range(options.runs):
        for name, args in commands.items():
            for rev, tree in (list(trees.items()) if round_ % 2 == 0 else list(trees.items())[::-1]):  # neither always goes first
                seconds, cpu, result = run(tree, *args)
                if name.startswith("gen build"):
                    assert "computed 0" in result.stdout and "(unchanged)" in result.stdout, f"{rev}: not a no-op build:\n{result.stdout}"
                times[(name, rev)].append((seconds, cpu))
    print(f"\nmedians of {options.runs} runs, {' '.join(extra)}: wall time / CPU time (user + system)")
    print(f"{'':34s}" + "".join(f"{rev:>22s}" for rev in trees))
    print(f"{'fresh results':34s}" + "".join(f"{fresh:>22d}" for _, fresh in prepared.values()))
    for name in commands:
        cells = [f"{statistics.median(w for w, _ in times[(name, rev)]):.3f} / {statistics.median(c for _, c in times[(name, rev)]):.3f} s" for rev in trees]
        print(f"{name:34s}" + "".join(f"{cell:>22s}" for cell in cells))
    imported = {rev: imports(tree, extra) for rev, tree in trees.items()}
    for rev, own in imported.items():
        slow = sorted(((us, name) for name, us in own.items() if us >= 10_000), reverse=True)
        print(f"{rev}: a no-op build imports {len(own)} modules in {sum(own.values()) / 1000:.0f} ms of their own; over 10 ms: "
              + (", ".join(f"{name} {us / 1000:.0f}" for us, name in slow) or "none"))
    for rev, own in imported.items():
        mine = {name: us for name, us in own.items() if name.startswith("generator")}
        print(f"{rev}: {len(mine)} modules of generator/ import in {sum(mine.values()) / 1000:.0f} ms of their own")
    head, *others = imported
    for rev in others:
        for one, other in ((rev, head), (head, rev)):
            added = sorted((n for n in set(imported[one]) - set(imported[other]) if not n.startswith("generator")), key=lambda n: -imported[one][n])
            print(f"{one} imports, outside generator/, what {other} does not: "
                  + (f"{len(added)} modules, {sum(imported[one][n] for n in added) / 1000:.0f} ms: {', '.join(added[:12])}" if added else "nothing"))

if __name__ == "__main__":
    main()
