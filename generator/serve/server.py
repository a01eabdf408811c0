"""`gen serve`: the authoring loop. Serves site/ on localhost, watches the project with watchdog, rebuilds what an
edit made stale on one warm worker process, and tells the open page to reload (server-sent events, as `mkdocs serve`
does with its livereload). The reload script is added to HTML as it is served, never to the files in site/.

Only files of the preview folder are served: a request whose path is malformed (not UTF-8, a null byte or another
control character) gets 400, one longer than MAX_TARGET 414, and one that climbs out of the folder, or leads out of it
through a link, or names nothing, 404; each refusal is one log line, never a traceback.

SIGINT (Ctrl+C), SIGTERM and SIGHUP stop serve, idle or mid-rebuild (the compute is stopped and its result keeps its
last good version): the worker process is ended, the preview folder removed, one line says so, and the exit code is
128 + the signal's number (130 for Ctrl+C, 143 for SIGTERM, 129 for SIGHUP), as a shell reports a program that a signal
ended. A port that cannot be served is one line and exit 1, before any build.
"""

from __future__ import annotations

import functools
import http.server
import os
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from generator.engine.config import Project
from generator.run.build import Listener
from generator.run.work import WorkerHandle

EVENTS_PATH = "/__gen/events"
RELOAD_SCRIPT = (
    "<script>(() => { let seen = null; const events = new EventSource('" + EVENTS_PATH + "');"
    " events.onmessage = (e) => { if (seen !== null && e.data !== seen) location.reload(); seen = e.data; }; })();</script>"
).encode()
QUIET_S = 0.05  # an editor's save is several file events; rebuild once they stop
MAX_TARGET = 2048  # characters in a request's path: far beyond the site's longest URL, well below what the OS refuses
STOP_SIGNALS = {signal.SIGINT: "Ctrl+C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class ServeError(RuntimeError):
    """gen serve cannot start (its port cannot be served); the message is one sentence for the user."""


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


class _Refused(Exception):
    """A request that gets an error status, and why (its log line says)."""

    def __init__(self, status: HTTPStatus, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


def _shown(target: str, limit: int = 80) -> str:
    """A request's path as its log line shows it: control and non-ASCII characters escaped, a long one cut short."""
    text = "".join(c if c.isascii() and c.isprintable() else ascii(c)[1:-1] for c in target[: limit + 1])
    return f"{text[:limit]}…" if len(target) > limit else text


def _inside(root: Path, path: Path) -> Path:
    """`path` with its links resolved, when that lies in `root` (itself resolved); _Refused when it leads out."""
    real = path.resolve()
    if real != root and root not in real.parents:
        raise _Refused(HTTPStatus.NOT_FOUND, "it leads out of the preview folder (through a link)")
    return real


class _Handler(http.server.SimpleHTTPRequestHandler):
    builds: Builds
    console: Console
    root: Path  # the preview folder, its links resolved
    _file: Path | None = None  # the checked file that `translate_path` hands to http.server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature is http.server's
        return  # served requests are not logged; refused ones are, once each, by send_error

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error status (ours, or http.server's for a malformed request line or an unknown method) is one log line."""
        why = message or HTTPStatus(code).phrase
        line = f"{code} {self.command or '-'} {_shown(getattr(self, 'path', '') or '') or '-'}: {why}"
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        super().send_error(code, message, explain)

    def translate_path(self, path: str) -> str:
        return str(self._file)  # http.server serves only the file _respond checked

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == EVENTS_PATH:
            self._events()
            return
        self._respond(body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self._respond(body=False)

    def _respond(self, *, body: bool) -> None:
        try:
            file = self._target()
        except _Refused as refused:
            self.send_error(refused.status, refused.why)
            return
        if file is None:  # a folder named without its slash: its page's relative links need the slash
            parts = urllib.parse.urlsplit(self.path)
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", urllib.parse.urlunsplit(("", "", parts.path + "/", parts.query, parts.fragment)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if file.suffix != ".html":
            self._file = file
            if body:
                super().do_GET()
            else:
                super().do_HEAD()
            return
        try:
            page = file.read_bytes().replace(b"</body>", RELOAD_SCRIPT + b"</body>", 1)
        except OSError:  # removed as we read it: a full rebuild empties the folder and fills it again
            self.send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(page)

    def _target(self) -> Path | None:
        """The file of the preview that the request names (a folder's index.html), None for a folder named without
        its slash; _Refused for a path that is too long, malformed, leads out of the preview folder or names nothing."""
        if len(self.path) > MAX_TARGET:
            raise _Refused(HTTPStatus.REQUEST_URI_TOO_LONG, f"the path is {len(self.path)} characters long; at most {MAX_TARGET} are served")
        raw = self.path.split("?", 1)[0].split("#", 1)[0]
        try:
            route = urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise _Refused(HTTPStatus.BAD_REQUEST, "the path is not UTF-8") from None
        if "\x00" in route:
            raise _Refused(HTTPStatus.BAD_REQUEST, "the path has a null byte")
        if not route.startswith("/") or any(c < " " or c == "\x7f" for c in route):
            raise _Refused(HTTPStatus.BAD_REQUEST, "the path is not an absolute path of printable characters")
        words: list[str] = []
        for word in route.split("/"):
            if word == "..":
                if not words:
                    raise _Refused(HTTPStatus.NOT_FOUND, "it climbs out of the preview folder")
                words.pop()
            elif word not in ("", "."):
                words.append(word)
        try:
            file = _inside(self.root, self.root.joinpath(*words))
            if file.is_dir():
                if not raw.endswith("/"):
                    return None
                file = _inside(self.root, file / "index.html")
            found = file.is_file()
        except (OSError, ValueError):  # a name the file system refuses (too long, say): it names nothing here
            found = False
        if not found:
            raise _Refused(HTTPStatus.NOT_FOUND, "not found")
        return file

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


class _PreviewServer(http.server.ThreadingHTTPServer):
    """The preview's HTTP server; a request that fails in a way the handler did not foresee is one log line."""

    allow_reuse_address = True
    daemon_threads = True  # an open page's event stream never ends: it must not keep serve from exiting
    console: Console

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):  # the browser closed the connection mid-response (a reload, a new page)
            return
        self.console.print(f"a request failed: {type(error).__name__}: {error}", markup=False, highlight=False, soft_wrap=True)


def preview_server(site_dir: Path, port: int, builds: Builds, console: Console) -> http.server.ThreadingHTTPServer:
    """The preview's HTTP server for the files of `site_dir`, bound to 127.0.0.1:`port` (0: a free one), not yet serving.
    Raises OSError or OverflowError when the port cannot be bound."""
    handler = type("Handler", (_Handler,), {"builds": builds, "console": console, "root": site_dir.resolve()})
    server = _PreviewServer(("127.0.0.1", port), functools.partial(handler, directory=str(site_dir)))
    server.console = console
    return server


def _serve(project: Project, *, port: int, profile: str | None, backends: Sequence[str], console: Console, stop: _Stop | None = None,
           listener: Callable[[], Listener] = lambda: lambda event: None) -> None:
    """serve_forever's loop, until a signal (or a KeyboardInterrupt) stops it; the worker, watches and server end with it."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    from generator.run.executors.local import ProcessWorker

    stop = stop or _Stop()
    builds = Builds()
    try:  # bound before the first build, so that a port in use is said at once rather than after that build
        server = preview_server(project.site_dir, port, builds, console)
    except (OSError, OverflowError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ServeError(f"cannot serve on 127.0.0.1:{port}: {reason}; choose another port with --port") from None
    worker = ProcessWorker(project.root, project.code_packages)

    def rebuild() -> None:
        rebuild_once(project, profile, backends, worker, console, listener())
        builds.finished()
        stop.check()

    generated = generated_paths(project)
    edits: list[Path] = []
    arrived = threading.Condition()

    class OnEdit(FileSystemEventHandler):
        def on_any_event(self, event) -> None:  # noqa: ANN001 - watchdog's event classes
            if event.event_type in ("opened", "closed_no_write") or (event.is_directory and event.event_type == "modified"):
                return  # a folder's own "modified" only says that its entries changed, and their events come too
            paths = [Path(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
            paths = [p for p in paths if is_edit(project, p, generated)]
            if paths:
                with arrived:
                    edits.extend(paths)
                    arrived.notify_all()

    observer = Observer()
    serving: threading.Thread | None = None
    try:
        worker.start()  # it imports the engine while the first build plans
        # Watch before the first build, so that an edit made while it runs, or just after its page is served, is rebuilt
        # too (the watches on a large tree take a while to set up; started later, they could miss such an edit).
        for folder in watched_folders(project):
            observer.schedule(OnEdit(), str(folder), recursive=True)
        observer.schedule(OnEdit(), str(project.root), recursive=False)  # mkdocs.yml, pyproject.toml
        observer.start()
        rebuild()
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
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
    except KeyboardInterrupt:
        pass  # a stop signal (serve_forever says which) or Ctrl+C: what follows ends everything serve started
    finally:
        if observer.is_alive():
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
