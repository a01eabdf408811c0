"""`gen serve`: the authoring loop. Serves a preview of the site on localhost (http_handler.py), watches the project
with watchdog, rebuilds what an edit made stale on one warm worker process, and tells the open page to reload.

SIGINT (Ctrl+C), SIGTERM and SIGHUP stop serve, idle or mid-rebuild (the compute is stopped and its result keeps its
last good version): the worker process is ended, the preview folder removed, one line says so, and the exit code is
128 + the signal's number (130 for Ctrl+C, 143 for SIGTERM, 129 for SIGHUP), as a shell reports a program that a signal
ended. A port that cannot be served is one line and exit 1, before any build.
"""

from __future__ import annotations

import http.server
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from generator.engine.config import Project
from generator.run.build import Listener
from generator.run.work import WorkerHandle
from generator.serve.http_handler import Builds, preview_server

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

QUIET_S = 0.05  # an editor's save is several file events; rebuild once they stop
STOP_SIGNALS = {signal.SIGINT: "Ctrl+C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class ServeError(RuntimeError):
    """gen serve cannot start (its port cannot be served); the message is one sentence for the user."""


def generated_paths(project: Project) -> list[Path]:
    """Files gen itself writes under docs/: editing them is not the user's edit."""
    pages = [project.docs_dir / p.name.removesuffix(".j2") for p in (project.templates_dir / "pages").glob("*.md.j2")]
    return [project.docs_dir / "index.md", project.docs_dir / "part-a", project.docs_dir / "part-b", *pages]


def is_edit(project: Project, path: Path, generated: Sequence[Path]) -> bool:
    """Whether a file event is an edit that may change the site (not gen's own output, caches or editor scratch)."""
    name = path.name
    if path.parent == project.root:
        return name in ("mkdocs.yml", "pyproject.toml")
    if "__pycache__" in path.parts or name.startswith((".#", ".")) or name.endswith(("~", ".swp", ".tmp")):
        return False
    return not any(g == path or g in path.parents for g in generated)


def watched_folders(project: Project) -> list[Path]:
    """Sections, templates, hand-written docs, inputs, and the project's code packages (gen's own included)."""
    folders = [project.sections_dir, project.templates_dir, project.docs_dir, project.root / "inputs"]
    folders += [project.root / name for name in project.code_packages]
    return [f for f in dict.fromkeys([*folders, project.root / "generator"]) if f.is_dir()]


def preview_folder() -> Path:
    """A private folder for the preview site, in memory where the system has one: MkDocs empties and refills its
    site folder on every build, which costs a third of a second on disk and a few milliseconds in /dev/shm."""
    import tempfile

    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="gen-serve-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))


class _Stop:
    """The handler of the stop signals: the first raises KeyboardInterrupt in the main thread, wherever it is (idle,
    or in a rebuild, which then stops its compute and keeps the last good result) and is remembered; later ones are
    ignored, so that a second Ctrl+C cannot cut the clean-up (a few seconds) short with a traceback."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt again when a signal came and the code it interrupted swallowed it (a section's
        module being imported turns it into an error of that section)."""
        if self.signum is not None:
            raise KeyboardInterrupt


def serve_forever(project: Project, *, port: int, profile: str | None, backends: Sequence[str], console: Console, listener: Callable[[], Listener]) -> None:
    """Serve a preview of the site on 127.0.0.1, rebuild on every edit on one warm worker, and reload the open page.

    The preview is built into a temporary folder, as `mkdocs serve` does; site/ stays what `gen build` published.
    Stopped by a signal (module docstring), it exits with 128 + the signal's number; with 1 when the port cannot be served."""
    import shutil

    stop = _Stop()
    for signum in STOP_SIGNALS:  # not restored: the process exits after this, and a late signal must stay harmless
        signal.signal(signum, stop)
    preview: Path | None = None
    failure = ""
    try:
        preview = preview_folder()
        _serve(replace(project, settings={**project.settings, "site_dir": str(preview)}), port=port, profile=profile, backends=backends,
               console=console, stop=stop, listener=listener)
    except KeyboardInterrupt:  # a signal before _serve was under way
        pass
    except ServeError as error:
        failure = str(error)
    finally:
        if preview is not None:
            shutil.rmtree(preview, ignore_errors=True)
    if failure:
        console.print(f"[red]✗ {escape(failure)}[/]")
        raise SystemExit(1)
    console.print(f"stopped ({STOP_SIGNALS[stop.signum]})" if stop.signum is not None else "stopped")
    if stop.signum is not None:
        raise SystemExit(128 + stop.signum)


class _Edits:
    """The edits that file events report, collected from watchdog's thread until the loop takes them."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.generated = generated_paths(project)
        self.paths: list[Path] = []
        self.arrived = threading.Condition()

    def add(self, paths: Iterable[Path]) -> None:
        edited = [p for p in paths if is_edit(self.project, p, self.generated)]
        if edited:
            with self.arrived:
                self.paths.extend(edited)
                self.arrived.notify_all()

    def take(self) -> list[Path]:
        """The files edited, once the events stop for QUIET_S (an editor's save is several); waits for the first."""
        with self.arrived:
            self.arrived.wait_for(lambda: bool(self.paths))
        time.sleep(QUIET_S)
        with self.arrived:
            changed = sorted(set(self.paths))
            self.paths.clear()
        return changed


def _watch(project: Project, edits: _Edits) -> BaseObserver:
    """Watch the project's folders, and its root's own files (mkdocs.yml, pyproject.toml), for edits; started."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class OnEdit(FileSystemEventHandler):
        def on_any_event(self, event) -> None:  # noqa: ANN001 - watchdog's event classes
            if event.event_type in ("opened", "closed_no_write") or (event.is_directory and event.event_type == "modified"):
                return  # a folder's own "modified" only says that its entries changed, and their events come too
            edits.add(Path(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p)

    observer = Observer()
    for folder in watched_folders(project):
        observer.schedule(OnEdit(), str(folder), recursive=True)
    observer.schedule(OnEdit(), str(project.root), recursive=False)
    observer.start()
    return observer


def _bind(site_dir: Path, port: int, builds: Builds, console: Console) -> http.server.ThreadingHTTPServer:
    """The preview's server, bound before the first build, so that a port in use is said at once, not after that build."""
    try:
        return preview_server(site_dir, port, builds, console)
    except (OSError, OverflowError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ServeError(f"cannot serve on 127.0.0.1:{port}: {reason}; choose another port with --port") from None


def _say_changed(project: Project, changed: list[Path], console: Console) -> None:
    """Name the edited files, and warn when gen's own code is among them (this process plans and renders with what it
    loaded; the worker restarts for them)."""
    console.print(f"changed: {escape(', '.join(str(p.relative_to(project.root)) for p in changed[:5]))}")
    running = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    mine = [p for p in changed if p.resolve() in running and p.suffix == ".py" and "sections" not in p.parts]
    if mine:
        console.print(f"[yellow]gen's own code changed ({escape(', '.join(p.name for p in mine))}): restart gen serve to plan and render with it[/]")


def _serve(project: Project, *, port: int, profile: str | None, backends: Sequence[str], console: Console, stop: _Stop | None = None,
           listener: Callable[[], Listener] = lambda: lambda event: None) -> None:
    """serve_forever's loop, until a signal (or a KeyboardInterrupt) stops it; the worker, watches and server end with it."""
    from generator.run.executors.local import ProcessWorker

    stop = stop or _Stop()
    builds = Builds()
    server = _bind(project.site_dir, port, builds, console)
    worker = ProcessWorker(project.root, project.code_packages)

    def rebuild() -> None:
        rebuild_once(project, profile, backends, worker, console, listener())
        builds.finished()
        stop.check()

    edits = _Edits(project)
    observer = serving = None
    try:
        worker.start()  # it imports the engine while the first build plans
        # Watch before the first build, so that an edit made while it runs, or just after its page is served, is rebuilt
        # too (the watches on a large tree take a while to set up; started later, they could miss such an edit).
        observer = _watch(project, edits)
        rebuild()
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        console.print(f"serving a preview of the site at http://127.0.0.1:{port}/ (Ctrl+C stops)")
        while True:
            changed = edits.take()
            if changed:
                _say_changed(project, changed, console)
                rebuild()
    except KeyboardInterrupt:
        pass  # a stop signal (serve_forever says which) or Ctrl+C: what follows ends everything serve started
    finally:
        if observer is not None and observer.is_alive():
            observer.stop()
            observer.join(timeout=2)
        if serving is not None:  # shutdown() waits for serve_forever, so only once that runs
            server.shutdown()
        server.server_close()
        worker.close()


def rebuild_once(project: Project, profile: str | None, backends: Sequence[str], worker: WorkerHandle, console: Console, listener: Listener) -> int:
    """One build of serve: the sections as they are now, on the warm worker, the site built in this process."""
    from generator.engine.config import ConfigError
    from generator.engine.discovery import load_sections
    from generator.engine.plan import UsageError, choose
    from generator.engine.section import DiscoveryError
    from generator.run.build import BuildOptions, run_build
    from generator.serve.preview import PREVIEW

    started = time.perf_counter()
    try:
        modules = load_sections(project)
        choice = choose(project, profile, backends)
    except (ConfigError, DiscoveryError, UsageError) as error:  # the user is mid-edit: say so and wait for the next one
        console.print(f"[red]✗ {escape(str(error))}[/]")
        return 2
    return run_build(project, modules, choice, BuildOptions(workers=[worker], mkdocs=PREVIEW.build, started=started), listener)
