"""The preview's HTTP side: the files of the preview folder, the reload script added to each HTML page as it is served,
and a server-sent event stream that tells the open page when a rebuild finished (as `mkdocs serve` does with its
livereload). The files in the preview folder are never changed.

Only files of the preview folder are served: a request whose path is malformed (not UTF-8, a null byte or another
control character) gets 400, one longer than MAX_TARGET 414, and one that climbs out of the folder, or leads out of it
through a link, or names nothing, 404; each refusal is one log line, never a traceback.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
import urllib.parse
from http import HTTPStatus
from pathlib import Path

from rich.console import Console

EVENTS_PATH = "/__gen/events"
RELOAD_SCRIPT = (
    "<script>(() => { let seen = null; const events = new EventSource('" + EVENTS_PATH + "');"
    " events.onmessage = (e) => { if (seen !== null && e.data !== seen) location.reload(); seen = e.data; }; })();</script>"
).encode()
MAX_TARGET = 2048  # characters in a request's path: far beyond the site's longest URL, well below what the OS refuses


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
