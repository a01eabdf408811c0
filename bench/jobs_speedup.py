"""`gen build --jobs N` against `--jobs 1`: wall time to recompute Part A on one backend, and whether the figures
are bit-identical. Run in the project root after a build of the same profile and backend (upstream results fresh).

Usage: .venv/bin/python bench/jobs_speedup.py [--jobs 2] [--profile smoke] [--backend mnist] [--runs 1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = [sys.executable, "-m", "generator.cli"]


def part_a_ids() -> list[str]:
    ids = []
    for path in sorted((ROOT / "sections").glob("a*.py")):
        ids.append(".".join(path.stem[1:].split("_")[:3 if path.stem.split("_")[2].isdigit() else 2]))
    return ids


def figure_hashes(backend: str, profile: str) -> dict[str, str]:
    files = sorted(ROOT.glob(f"cache/1.*/{backend}/{profile}/*"))
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.suffix in (".png", ".gif", ".svg")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--backend", default="mnist")
    parser.add_argument("--runs", type=int, default=1)
    options = parser.parse_args()
    sections = [arg for s in part_a_ids() for arg in ("--section", s)]
    command = [*GEN, "build", "--force", "--no-site", "--profile", options.profile, "--backend", options.backend, *sections]
    times: dict[int, list[float]] = {}
    hashes: dict[int, dict[str, str]] = {}
    for _ in range(options.runs):
        for jobs in (1, options.jobs):
            started = time.perf_counter()
            result = subprocess.run([*command, "--jobs", str(jobs)], cwd=ROOT, capture_output=True, text=True)
            times.setdefault(jobs, []).append(time.perf_counter() - started)
            if result.returncode != 0:
                raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
            hashes[jobs] = figure_hashes(options.backend, options.profile)
    one, many = statistics.median(times[1]), statistics.median(times[options.jobs])
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores; Part A ({len(sections) // 2} sections), profile {options.profile}, backend {options.backend}")
    print(f"--jobs 1: {one:.1f} s   --jobs {options.jobs}: {many:.1f} s   speed-up {one / many:.2f}x")
    same = hashes[1] == hashes[options.jobs]
    print(f"figures bit-identical: {same} ({len(hashes[1])} files)")
    if not same:
        print("differ:", ", ".join(k for k in hashes[1] if hashes[1][k] != hashes[options.jobs].get(k)))


if __name__ == "__main__":
    main()
