"""`gen`: build, status, clean and serve the report site."""

from __future__ import annotations

import time

# A build's wall time counts from here, so the summary includes importing the CLI and the engine.
STARTED = time.perf_counter()

import json
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from generator.engine.config import ConfigError, Project
from generator.engine.discovery import load_sections
from generator.engine.plan import Choice, UsageError, check_profile, choose, plan
from generator.engine.section import DiscoveryError
from generator.run.project import open_project

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Build the 'Fun With Diffusion Models' report: compute stale sections, render pages, publish the site.",
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

SectionOpt = typer.Option(None, "--section", "-s", help="A section id such as 1.9 (repeatable). Default: every section.")
ProfileOpt = typer.Option(None, "--profile", "-p", help="smoke (tests, seconds), quick (CPU, minutes) or full (SPEC, GPU). Default: full with CUDA, else quick.")
BackendOpt = typer.Option(None, "--backend", "-b", help="deepfloyd, mnist or tiny (repeatable). Default: the backends that can run here.")


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _choose(project: Project, profile: str | None, backend: list[str] | None) -> Choice:
    """The profile and backends of a command, or exit 2 with why they cannot be."""
    try:
        return choose(project, profile, backend or [])
    except UsageError as error:
        _fail(str(error))


def _load(sections: list[str] | None) -> tuple[Project, list]:
    try:
        project = open_project()
        modules = load_sections(project)
    except (ConfigError, DiscoveryError) as error:
        _fail(str(error))
    known = {m.spec.id for m in modules}
    for section_id in sections or []:
        if section_id not in known:
            _fail(f"unknown section {section_id!r}; known sections: {', '.join(sorted(known, key=lambda s: [int(p) for p in s.split('.')]))}")
    return project, modules


@app.command()
def build(
    section: list[str] | None = SectionOpt,
    force: bool = typer.Option(False, "--force", help="Recompute the chosen results even when they are fresh."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and why each result is stale; compute nothing."),
    profile: str | None = ProfileOpt,
    backend: list[str] | None = BackendOpt,
    no_site: bool = typer.Option(False, "--no-site", help="Render the pages but skip MkDocs."),
    no_compute: bool = typer.Option(False, "--no-compute", help="Compute nothing: render the pages from what is cached and publish the site (imports no torch)."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="Compute independent results in parallel on N warm workers (each its own GPU where there are several); default [tool.gen] jobs."),
    executor: str = typer.Option("local", "--executor", help="local (this machine) or ray (a Ray cluster; pip install -e '.[ray]')."),
    address: str | None = typer.Option(None, "--address", help="With --executor ray: the cluster's address (default: RAY_ADDRESS, else a local Ray)."),
) -> None:
    """Compute what is stale, render the pages into docs/ and publish the site into site/."""
    from generator.console import ConsoleListener
    from generator.run.build import BuildOptions, run_build
    from generator.run.executors import EXECUTORS, ExecutorError

    if executor not in EXECUTORS:
        _fail(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if address and executor != "ray":
        _fail("--address names a Ray cluster; add --executor ray")
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            _fail("--executor ray needs Ray: pip install -e '.[ray]'")
    project, modules = _load(section)
    choice = _choose(project, profile, backend)
    try:
        options = BuildOptions(tuple(section or ()), force, dry_run, site=not no_site, compute=not no_compute, jobs=jobs or project.jobs, executor=executor,
                               address=address, started=STARTED)
        code = run_build(project, modules, choice, options, ConsoleListener(console))
    except ExecutorError as error:
        _fail(str(error))
    raise typer.Exit(code)


@app.command()
def status(
    section: list[str] | None = SectionOpt,
    profile: str | None = ProfileOpt,
    backend: list[str] | None = BackendOpt,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per result."),
) -> None:
    """Show every result: fresh, stale, missing or frozen, and why. Reads only: never writes, renames or deletes."""
    from generator.engine.files import StatCache
    from generator.engine.fingerprints import ParseMemo

    project, modules = _load(section)
    choice = _choose(project, profile, backend)
    # Status only reads: the memos are used, never saved.
    the_plan = plan(project, modules, choice, StatCache(project.artifacts_dir / ".stat-cache.json"), ParseMemo(project.artifacts_dir / ".parse-memo.json"))
    rows = [_status_row(i, the_plan) for i in the_plan.scope if not section or i.key.section in section]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(title=escape(f"profile {choice.profile} ({choice.profile_why}) · backends {', '.join(choice.backends)}"), title_justify="left")
    for column in ("id", "title", "backend", "profile", "state", "why", "last compute"):
        table.add_column(column, overflow="fold")
    colours = {"fresh": "green", "stale": "yellow", "missing": "red", "frozen": "cyan", "interrupted": "magenta"}
    for row in rows:
        when = f"{row['seconds']:.1f} s, {row['computed_at']}" if row["seconds"] is not None else "—"
        why = escape("; ".join(row["reasons"])) + (f" [dim](can't run here: {escape(row['unavailable'])})[/]" if row["unavailable"] else "")
        state = f"frozen ({row['frozen']})" if row["frozen"] else row["state"]
        table.add_row(row["section"], escape(row["title"]), row["backend"] or "—", row["profile"], f"[{colours[row['state']]}]{state}[/]", why, when)
    console.print(table)


def _status_row(item, the_plan) -> dict:
    """One result for `gen status`; a frozen one reports the more thorough result that stands in for it."""
    from generator.engine.store import ResultKey

    shown = the_plan.items[ResultKey(item.key.section, item.key.backend, item.frozen)] if item.frozen else item
    manifest = shown.manifest or {}
    if item.frozen:
        reasons: list[str] = []
    elif item.interrupted:  # what the next build does: put the copy in place, then recompute it only if it is stale
        reasons = ["interrupted: restored on the next build", *item.reasons]
    else:
        reasons = list(item.reasons) if item.reasons or item.manifest else ["never computed"]
    return {
        "section": item.key.section,
        "title": item.module.spec.title,
        "backend": item.key.backend,
        "profile": item.key.profile,
        "state": "frozen" if item.frozen else item.state,
        "frozen": item.frozen,
        "reasons": reasons,
        "seconds": manifest.get("seconds"),
        "computed_at": manifest.get("provenance", {}).get("computed_at"),
        "metrics": manifest.get("metrics", {}),
        "unavailable": item.skip,
    }


@app.command()
def clean(
    section: list[str] | None = SectionOpt,
    profile: str | None = ProfileOpt,
    backend: list[str] | None = BackendOpt,
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints", help="Keep the training checkpoints in artifacts/.work/, so the next build resumes."),
) -> None:
    """Drop cached results, their artifacts and training checkpoints (all of them, or those of --section/--profile/--backend)."""
    from generator.engine.files import FileSystemError
    from generator.engine.section import PROFILES
    from generator.engine.store import ResultKey

    project, modules = _load(section)
    for name in backend or []:
        if name not in project.backends:
            _fail(f"unknown backend {name!r}; choose from {', '.join(project.backends)}")
    try:
        if profile is not None:
            check_profile(profile)
    except UsageError as error:
        _fail(str(error))
    store = project.store()
    dropped = 0
    for module in modules:
        if section and module.spec.id not in section:
            continue
        # Every backend, not only those the section declares now: results of a backend it dropped go too.
        for name in [None] if module.spec.part == "B" else list(project.backends):
            if backend and name not in backend:
                continue
            for prof in [profile] if profile else list(PROFILES):
                key = ResultKey(module.spec.id, name, prof)
                try:
                    if store.holds(key, checkpoints=not keep_checkpoints):
                        with store.lock(key, on_wait=lambda key=key: console.print(f"waiting for the build of {key} to finish")):
                            dropped += store.drop(key, checkpoints=not keep_checkpoints)
                    store.tidy(key)
                except FileSystemError as error:
                    _fail(str(error), code=1)
    console.print(f"dropped {dropped} cached result folder(s)" + (" (training checkpoints kept)" if keep_checkpoints else ""))


@app.command()
def serve(
    port: int = typer.Option(8000, help="Port on localhost."),
    profile: str | None = ProfileOpt,
    backend: list[str] | None = BackendOpt,
) -> None:
    """Serve a preview of the site on localhost (site/ is left as published); on every edit, rebuild what changed on a warm worker and reload the open page."""
    from generator.console import ConsoleListener
    from generator.serve.server import serve_forever

    project, _ = _load(None)
    _choose(project, profile, backend)
    serve_forever(project, port=port, profile=profile, backends=backend or [], console=console, listener=lambda: ConsoleListener(console))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
