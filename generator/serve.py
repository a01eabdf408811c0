"""`gen serve`: the authoring loop. Serves site/ on localhost, watches the project with watchdog, rebuilds what an
edit made stale on one warm worker process, and tells the open page to reload (server-sent events, as `mkdocs serve`
does with its livereload). The reload script is added to HTML as it is served, never to the files in site/.
"""

from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from generator.config import Project
from generator.scheduler import WorkerHandle

EVENTS_PATH = "/__gen/events"
RELOAD_SCRIPT = (
    "<script>(() => { let seen = null; const events = new EventSource('" + EVENTS_PATH + "');"
    " events.onmessage = (e) => { if (seen !== null && e.data !== seen) location.reload(); seen = e.data; }; })();</script>"
).encode()
QUIET_S = 0.05  # an editor's save is several file events; rebuild once they stop


class Builds:
    """How many rebuilds have finished; the open pages wait on it."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def finished(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self.changed:
            self.changed.wait_for(lambda: self.count != seen, timeout=timeout)
            return self.count


class _Handler(http.server.SimpleHTTPRequestHandler):
    builds: Builds

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature is http.server's
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == EVENTS_PATH:
            self._events()
            return
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file() or not self.path.split("?")[0].endswith(("/", ".html")):
            super().do_GET()
            return
        body = path.read_bytes().replace(b"</body>", RELOAD_SCRIPT + b"</body>", 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        """A server-sent event with the build count now, and again after every rebuild."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen = self.builds.count
        try:
            self.wfile.write(f"retry: 500\ndata: {seen}\n\n".encode())
            self.wfile.flush()
            while True:
                now = self.builds.wait(seen, timeout=15)
                self.wfile.write(f"data: {now}\n\n".encode() if now != seen else b": keep-alive\n\n")
                self.wfile.flush()
                seen = now
        except OSError:  # the page was closed or reloaded
            return


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


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a terminated serve cleans up as one stopped with Ctrl+C


def serve_forever(project: Project, *, port: int, profile: str | None, backends: Sequence[str], console: Console) -> None:
    """Serve a preview of the site on 127.0.0.1, rebuild on every edit on one warm worker, and reload the open page.

    The preview is built into a temporary folder, as `mkdocs serve` does; site/ stays what `gen build` published."""
    import shutil
    import signal

    signal.signal(signal.SIGTERM, _stop)
    preview = preview_folder()
    try:
        _serve(replace(project, settings={**project.settings, "site_dir": str(preview)}), port=port, profile=profile, backends=backends, console=console)
    finally:
        shutil.rmtree(preview, ignore_errors=True)


def _serve(project: Project, *, port: int, profile: str | None, backends: Sequence[str], console: Console) -> None:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    from generator.executors.local import ProcessWorker

    worker = ProcessWorker(project.root, project.code_packages)
    worker.start()  # it imports the engine while the first build plans

    def rebuild() -> None:
        rebuild_once(project, profile, backends, worker, console)

    generated = generated_paths(project)
    edits: list[Path] = []
    arrived = threading.Condition()

    class OnEdit(FileSystemEventHandler):
        def on_any_event(self, event) -> None:  # noqa: ANN001 - watchdog's event classes
            if event.event_type in ("opened", "closed_no_write"):
                return
            paths = [Path(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
            paths = [p for p in paths if is_edit(project, p, generated)]
            if paths:
                with arrived:
                    edits.extend(paths)
                    arrived.notify_all()

    # Watch before the first build, so that an edit made while it runs, or just after its page is served, is rebuilt
    # too (the watches on a large tree take a while to set up; started later, they could miss such an edit).
    observer = Observer()
    for folder in watched_folders(project):
        observer.schedule(OnEdit(), str(folder), recursive=True)
    observer.schedule(OnEdit(), str(project.root), recursive=False)  # mkdocs.yml, pyproject.toml
    observer.start()
    server = None
    try:
        builds = Builds()
        rebuild()
        builds.finished()
        handler = functools.partial(type("Handler", (_Handler,), {"builds": builds}), directory=str(project.site_dir))
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        http.server.ThreadingHTTPServer.daemon_threads = True
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        console.print(f"serving a preview of the site at http://127.0.0.1:{port}/ (Ctrl+C stops)")
        while True:
            with arrived:
                arrived.wait_for(lambda: bool(edits))
            time.sleep(QUIET_S)
            with arrived:
                changed = sorted(set(edits))
                edits.clear()
            if not changed:
                continue
            console.print(f"changed: {escape(', '.join(str(p.relative_to(project.root)) for p in changed[:5]))}")
            running = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
            mine = [p for p in changed if p.resolve() in running and p.suffix == ".py" and "sections" not in p.parts]
            if mine:  # the worker restarts for them; this process plans and renders with what it loaded
                console.print(f"[yellow]gen's own code changed ({escape(', '.join(p.name for p in mine))}): restart gen serve to plan and render with it[/]")
            rebuild()
            builds.finished()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        observer.stop()
        if server is not None:
            server.shutdown()
        worker.close()


def rebuild_once(project: Project, profile: str | None, backends: Sequence[str], worker: WorkerHandle, console: Console) -> int:
    """One build of serve: the sections as they are now, on the warm worker, the site built in this process."""
    from generator.build import load_sections
    from generator.config import ConfigError
    from generator.plan import UsageError, choose
    from generator.runner import run_build
    from generator.section import DiscoveryError

    started = time.perf_counter()
    try:
        modules = load_sections(project)
        choice = choose(project, profile, backends)
    except (ConfigError, DiscoveryError, UsageError) as error:  # the user is mid-edit: say so and wait for the next one
        console.print(f"[red]✗ {escape(str(error))}[/]")
        return 2
    return run_build(project, modules, choice, sections=[], force=False, dry_run=False, site=True, console=console, started=started,
                     workers=[worker], site_in_process=True)
