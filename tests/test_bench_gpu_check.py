"""bench/gpu_check.py rehearsed on a CPU, so that its one run on a GPU machine works the first time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import gpu_check  # noqa: E402


@pytest.mark.parametrize(("size", "billions"), [("XL", 4.30), ("L", 0.94), ("M", 0.37)])
def test_the_if_i_unet_configs_have_the_published_parameter_counts(size: str, billions: float) -> None:
    """IF-I-XL's published config is 4.3B parameters; the derived L and M match DeepFloyd's 900M and 400M."""
    with torch.device("meta"):
        unet = UNet2DConditionModel(**gpu_check.unet_config(size))
    assert sum(p.numel() for p in unet.parameters()) / 1e9 == pytest.approx(billions, abs=0.01)
    assert unet.config.out_channels == 6 and unet.config.encoder_hid_dim == 4096


def test_the_cpu_rehearsal_runs_every_part_and_writes_json_and_markdown(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OUT": str(tmp_path / "out")}
    command = [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--device", "cpu", "--sizes", "tiny", "--stride", "990", "--batches", "1", "--repeats", "1", "--no-compile", "--budget-s", "240"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert {row["option"]: row["result"] for row in data["hub_layout"]} == {
        "plain": "ok", "cpu_offload": "skipped: cpu_offload needs CUDA", "t5_8bit": "skipped: bitsandbytes not installed"}
    variants = {row["variant"]: row for row in data["timing"]}
    assert list(variants) == ["stock IFPipeline", "ours, 2 UNet passes (as sections run)", "ours, batched CFG pass", "ours, batched + channels_last"]
    assert all(row["it_s"] > 0 and "note" not in row for row in variants.values())
    assert variants["stock IFPipeline"]["vs_stock"] == 1.0
    table = (tmp_path / "out" / "gpu_check.md").read_text()
    assert "| tiny (0.00B) | 1 | ours, batched CFG pass |" in table and "best speed-up over stock IFPipeline" in table
    assert table.strip() in result.stdout
