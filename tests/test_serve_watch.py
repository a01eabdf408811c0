"""gen serve watches the project from before its first build, so that no edit falls between that build and the watch."""

from __future__ import annotations

import io
import socket
import threading

from rich.console import Console

import generator.run.executors.local as local
import generator.serve.server as serve
from generator.run.project import open_project


class _IdleWorker:
    def __init__(self, *args: object) -> None:
        pass

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_an_edit_made_during_the_first_build_is_rebuilt(project, monkeypatch):
    template = project.root / "templates/page.md.j2"
    calls: list[int] = []

    def rebuild_once(*args: object) -> int:
        calls.append(len(calls))
        if len(calls) == 1:
            # the first build has read the templates; the author saves an edit before the preview is served
            template.write_text(template.read_text() + "\nedited\n")
            return 0
        raise KeyboardInterrupt  # the rebuild for that edit came: stop serve as Ctrl+C does

    monkeypatch.setattr(local, "ProcessWorker", _IdleWorker)
    monkeypatch.setattr(serve, "rebuild_once", rebuild_once)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    console = Console(file=io.StringIO())
    thread = threading.Thread(target=serve._serve, args=(open_project(project.root),), kwargs={"port": port, "profile": None, "backends": (), "console": console}, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and calls == [0, 1], (calls, console.file.getvalue())
    assert "changed: templates/page.md.j2" in console.file.getvalue()
