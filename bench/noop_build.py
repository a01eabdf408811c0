"""Time a no-op `gen build` (site included) and `gen status`, process start included; median of N runs.

Usage: .venv/bin/python bench/noop_build.py [--runs 5] [--args "--profile quick"]
Run it in the project root after a build, so that everything is fresh.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = [sys.executable, "-m", "generator.cli"]


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--args", default="", help="extra arguments for gen build / gen status")
    options = parser.parse_args()
    extra = shlex.split(options.args)
    _, out = timed([*GEN, "build", *extra])  # make sure everything is fresh
    results = {}
    for name, command in {
        "gen build (no-op, site included)": [*GEN, "build", *extra],
        "gen status": [*GEN, "status", *extra],
        "python -c pass (interpreter start)": [sys.executable, "-c", "pass"],
        "mkdocs build (reference)": [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", "/tmp/gen-bench-site"],
    }.items():
        times = []
        for _ in range(options.runs):
            seconds, stdout = timed(command)
            times.append(seconds)
            if name.startswith("gen build"):
                assert "computed 0" in stdout and "(unchanged)" in stdout, f"not a no-op build:\n{stdout}"
        results[name] = times
        print(f"{name:40s} median {statistics.median(times):.3f} s  (runs: {', '.join(f'{t:.3f}' for t in times)})")
    imported = subprocess.run([*GEN[:1], "-X", "importtime", "-m", "generator.cli", "build", *extra], cwd=ROOT, capture_output=True, text=True).stderr
    heavy = [m for m in ("torch", "diffusers", "matplotlib", "transformers", "pydantic") if f"| {m}\n" in imported or f"|   {m}\n" in imported]
    print(f"heavy modules imported by a no-op build: {heavy or 'none'}")


if __name__ == "__main__":
    main()
