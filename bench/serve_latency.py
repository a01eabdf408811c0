"""Edit to page updated, both ways in one run: a fresh `gen build` process per edit (what `gen serve` did before the
warm worker) against `gen serve` with its warm worker (time until its live-reload event says the page is new).

Each edit appends a statement to the section's module, so its code fingerprint changes and the result recomputes.
Run it in the project root after a build of the same profile and backend (so only the edited result is stale);
the module is restored and rebuilt at the end.

Usage: .venv/bin/python bench/serve_latency.py [--sections 1.1 1.8] [--runs 3] [--profile smoke] [--backend mnist]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = [sys.executable, "-m", "generator.cli"]


def module_of(section_id: str) -> Path:
    stem = "a" + section_id.replace(".", "_") + "_"
    return next(p for p in sorted((ROOT / "sections").glob(f"{stem}*.py")) if not p.stem[len(stem):][0].isdigit())


def compute_seconds(section_id: str, backend: str, profile: str) -> float:
    return json.loads((ROOT / "cache" / section_id / backend / profile / "manifest.json").read_text())["seconds"]


class Serve:
    """`gen serve` in the background, and its server-sent events."""

    def __init__(self, args: list[str]):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen([*GEN, "serve", "--port", str(self.port), *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while True:
            try:
                self.events = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__gen/events", timeout=600)
                break
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    raise SystemExit("gen serve did not start") from None
                time.sleep(0.2)
        self.seen = self.next_build()

    def next_build(self) -> str:
        while True:
            line = self.events.readline().decode().strip()
            if line.startswith("data:"):
                self.seen = line
                return line

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["1.1", "1.8"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--backend", default="mnist")
    options = parser.parse_args()
    args = ["--profile", options.profile, "--backend", options.backend]
    originals = {s: module_of(s).read_bytes() for s in options.sections}
    edits = 0

    def edit(section_id: str) -> None:
        nonlocal edits
        edits += 1
        module_of(section_id).write_bytes(originals[section_id] + f"\n_BENCH_EDIT = {edits}\n".encode())

    rows = []
    try:
        subprocess.run([*GEN, "build", *args, "--no-site"], cwd=ROOT, check=True, capture_output=True)
        for section_id in options.sections:
            fresh, computes = [], []
            for _ in range(options.runs):
                edit(section_id)
                started = time.perf_counter()
                subprocess.run([*GEN, "build", *args], cwd=ROOT, check=True, capture_output=True)
                fresh.append(time.perf_counter() - started)
                computes.append(compute_seconds(section_id, options.backend, options.profile))
            rows.append((section_id, "fresh process per edit", fresh, computes))
        serve = Serve(args)
        try:
            for section_id in options.sections:
                warm, computes = [], []
                edit(section_id)  # the first edit loads torch and the backend into the worker: not what an author waits for next
                serve.next_build()
                for _ in range(options.runs):
                    edit(section_id)
                    started = time.perf_counter()
                    serve.next_build()
                    warm.append(time.perf_counter() - started)
                    computes.append(compute_seconds(section_id, options.backend, options.profile))
                rows.append((section_id, "gen serve, warm worker", warm, computes))
        finally:
            serve.stop()
    finally:
        for section_id, data in originals.items():
            module_of(section_id).write_bytes(data)
        subprocess.run([*GEN, "build", *args], cwd=ROOT, capture_output=True)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores; profile {options.profile}, backend {options.backend}")
    for section_id, way, times, computes in rows:
        median, compute = statistics.median(times), statistics.median(computes)
        print(f"{section_id:5s} {way:24s} median {median:6.2f} s  compute {compute:5.2f} s  over compute {median - compute:+6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
