"""`gen serve`: after each rebuild the open page is told to reload (server-sent events), the reload script is only in
what is served, and a section that fails shows its error on its page while the worker lives on."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from conftest import gen_env, section_source


def previews() -> set[Path]:
    return {*Path("/dev/shm").glob("gen-serve-*"), *Path(tempfile.gettempdir()).glob("gen-serve-*")}


def test_serve_reloads_the_open_page_after_each_rebuild_and_a_failed_section_shows_its_error(project):
    before = previews()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "generator.cli", "serve", "--port", str(port)], cwd=project.root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=gen_env())
    base = f"http://127.0.0.1:{port}"

    def page() -> str:
        with urllib.request.urlopen(f"{base}/part-b/2.1/", timeout=10) as response:
            return response.read().decode()

    deadline = time.time() + 90
    while True:
        try:
            first = page()
            break
        except OSError:
            assert time.time() < deadline, "gen serve did not start"
            time.sleep(0.3)
    try:
        events = urllib.request.urlopen(f"{base}/__gen/events", timeout=90)

        def next_build() -> str:
            while True:
                line = events.readline().decode().strip()
                if line.startswith("data:"):
                    return line

        seen = next_build()
        assert "EventSource" in first and "value = 2.0" in first
        assert not (project.root / "site").exists()  # the preview is built elsewhere: site/ is what gen build publishes
        [preview] = previews() - before
        assert "EventSource" not in (preview / "part-b/2.1/index.html").read_text()  # the script is added as pages are served
        project.write("sections/b1.py", section_source("2.1", body="raise ValueError('broken on purpose')"))
        assert next_build() != seen
        broken = page()
        assert "failed" in broken and "ValueError: broken on purpose" in broken and "value = 2.0" in broken  # the last good result stays
        project.write("sections/b1.py", section_source("2.1", params="{'scale': 4.0}"))
        next_build()
        fixed = page()
        assert "value = 8.0" in fixed and "broken on purpose" not in fixed  # the same warm worker computed it
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert previews() == before, "a terminated gen serve removes its preview"
