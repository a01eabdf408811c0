"""`gen serve` under hostile requests and signals.

A bad request gets a 4xx and one log line, never a traceback or a dropped connection, and nothing outside the preview
folder is served (not even through a link inside it). SIGINT (Ctrl+C), SIGTERM or SIGHUP, idle or while a
rebuild computes, stops serve within seconds with one line and exit 128 + the signal's number (130, 143, 129), leaving
no worker process, no preview folder, and the result being computed as its last good version. A port in use is one
line and exit 1, before any build.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import GenProject, section_source, wait_for

STOP_WITHIN_S = 8  # serve's own bound is ~5 s (a worker that will not end is killed); slack for a loaded machine

# (method, request target, status): each sent raw, as a hostile client would, not as urllib would escape it
HOSTILE = [
    ("GET", "/%00/etc/passwd", 400),
    ("HEAD", "/index.html%00.png", 400),
    ("GET", "/%ff%fe/", 400),  # not UTF-8
    ("GET", "/" + "a" * 10_000, 414),
    ("GET", "/" + "n" * 300 + "/index.html", 404),  # a name longer than the file system allows
    ("GET", "/../../etc/passwd", 404),
    ("GET", "/%2e%2e/%2e%2e/etc/passwd", 404),
    ("GET", "/part-b/..%2f..%2f..%2f..%2fetc/passwd", 404),
    ("GET", "/outside/passwd", 404),  # a link in the preview folder that points out of it
    ("GET", "/no/such/page/", 404),
]


def previews() -> set[Path]:
    return {*Path("/dev/shm").glob("gen-serve-*"), *Path(tempfile.gettempdir()).glob("gen-serve-*")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raw_request(port: int, method: str, target: str) -> tuple[int, bytes]:
    """Send one request as written; the status and the whole response (status 0 when the server dropped it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1"))
        response = b""
        while chunk := connection.recv(65536):  # the server closes after one response (Connection: close)
            response += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
    return (int(match.group(1)) if match else 0), response


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return {p for p in found if alive(p)}


class Serve:
    """`gen serve` on a free port of the project, started and waited for until it serves its first page."""

    def __init__(self, project: GenProject, output: Path):
        self.port = free_port()
        self.output = output
        self.process = project.start("serve", "--port", str(self.port), output=output)
        deadline = time.time() + 90
        while True:
            try:
                self.page("/part-b/2.1/")
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    self.kill()
                    raise AssertionError(f"gen serve did not start:\n{self.log()}") from None
                time.sleep(0.3)
        # its own preview, named by its first build's summary (other tests may run a gen serve at the same time)
        self.preview = Path(re.search(r"site: (\S+gen-serve-[^/\s]+)/index\.html", self.log()).group(1))

    def page(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.read().decode()

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self, signum: int) -> tuple[int, float]:
        """Send the signal; the exit code and how long serve took to exit."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = -1
        return code, time.monotonic() - sent

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def test_hostile_requests_get_a_4xx_and_one_log_line_and_nothing_outside_the_preview_is_served(project, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwd").write_text("SECRET-OUTSIDE-THE-PREVIEW\n")
    serve = Serve(project, tmp_path / "serve.log")
    try:
        # MkDocs copies files into the preview, so it never holds a link; one planted there must not lead out either
        (serve.preview / "outside").symlink_to(secret, target_is_directory=True)
        for _ in range(3):  # bounded: three rounds of every hostile request
            for method, target, status in HOSTILE:
                got, response = raw_request(serve.port, method, target)
                assert got == status, (method, target[:80], got, response[:300])
                assert b"SECRET-OUTSIDE" not in response and b"root:" not in response
        assert "value = 2.0" in serve.page("/part-b/2.1/")  # still serving, and the pages as before
        assert serve.page("/part-b/2.1") == serve.page("/part-b/2.1/")  # a folder without its slash is redirected to it
        assert "EventSource" in serve.page("/index.html?from=%00")  # a query is not part of the path
    finally:
        serve.stop(signal.SIGTERM)
        serve.kill()
    log = serve.log()
    assert "Traceback" not in log, log
    refusals = [line for line in log.splitlines() if re.match(r"(400|404|414) (GET|HEAD) /", line)]
    assert len(refusals) == 3 * len(HOSTILE), log  # one line each
    assert any(line.startswith("414 GET /aaaa") and len(line) < 200 for line in refusals), log  # shortened, not 10,000 characters


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "stopped (Ctrl+C)"), (signal.SIGTERM, 143, "stopped (SIGTERM)"),
                                                     (signal.SIGHUP, 129, "stopped (SIGHUP)")], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_idle_stops_serve_in_seconds_with_one_line_and_no_worker_or_preview_left(project, tmp_path, signum, code, said):
    serve = Serve(project, tmp_path / "serve.log")
    try:
        children = descendants(serve.process.pid)
        assert children, "the warm worker process runs while serve is idle"
        exited, seconds = serve.stop(signum)
    finally:
        serve.kill()
    log = serve.log()
    assert (exited, "Traceback" not in log) == (code, True), log
    assert seconds < STOP_WITHIN_S, seconds
    assert [line for line in log.splitlines() if line.startswith("stopped")] == [said], log
    assert "changed:" not in log, log  # nothing was edited: the folders gen's first build created are no edit to rebuild for
    assert wait_for(lambda: not any(alive(p) for p in children), 5), "a process of serve outlived it"
    assert serve.preview not in previews() and not serve.preview.exists()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_rebuild_stops_serve_and_the_result_keeps_its_last_good_version(project, tmp_path, signum, code):
    started = tmp_path / "computing.pid"
    serve = Serve(project, tmp_path / "serve.log")
    worker = 0
    try:
        body = (f"import os, time; open({str(started)!r}, 'w').write(str(os.getpid())); deadline = time.time() + 120\n"
                "            while time.time() < deadline: time.sleep(0.05)")
        project.write("sections/b1.py", section_source("2.1", params="{'scale': 4.0}", body=body))
        assert wait_for(lambda: started.is_file() and started.read_text().isdigit(), 60), f"the rebuild did not start:\n{serve.log()}"
        worker = int(started.read_text())
        children = descendants(serve.process.pid)
        assert worker in children
        exited, seconds = serve.stop(signum)
    finally:
        serve.kill()
        if worker and alive(worker):  # the compute only waits 120 s; never leave it behind a failed test
            subprocess.run(["kill", "-KILL", str(worker)], check=False)
    log = serve.log()
    assert (exited, "Traceback" not in log) == (code, True), log
    assert seconds < STOP_WITHIN_S, seconds
    assert len([line for line in log.splitlines() if line.startswith("stopped")]) == 1, log
    assert wait_for(lambda: not any(alive(p) for p in children), 5), "the warm worker outlived serve"
    assert not serve.preview.exists()
    [manifest] = (project.root / "cache/2.1").glob("*/*/manifest.json")  # one result, not a torn or second one
    assert json.loads(manifest.read_text())["metrics"] == {"value": 2.0}  # the last good result, not the abandoned one
    assert not list((project.root / "artifacts").glob(".failures/2.1/**/*.json")), "an interrupted compute is not a failure"


def test_a_port_in_use_is_one_line_and_exit_1_before_any_build(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = project.gen("serve", "--port", str(port), check=1, timeout=60)
    out = result.stdout + result.stderr
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use" in out and "choose another port with --port" in out, out
    assert "Traceback" not in out and "gen build" not in out and not (project.root / "cache").exists(), out
