"""Cheap facts about this machine, answered without importing torch."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def cuda_available() -> bool:
    """An NVIDIA driver is loaded (GEN_ASSUME_CUDA=1/0 overrides, for tests)."""
    forced = os.environ.get("GEN_ASSUME_CUDA")
    if forced is not None:
        return forced == "1"
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None
