"""Cheap, stdlib-only checks of whether DeepFloyd IF can run here (no torch import: the CLI's fast path uses them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_STAGE_1 = "DeepFloyd/IF-I-XL-v1.0"
MODEL_CARD = "https://huggingface.co/DeepFloyd/IF-I-XL-v1.0"

NO_CUDA = "DeepFloyd IF needs a CUDA GPU; run on a GPU machine or use --backend mnist."
LOGIN = f"accept the licence on the IF-I-XL model card at {MODEL_CARD} and log in with `huggingface-cli login` (or `hf auth login`)"
NO_TOKEN = f"DeepFloyd IF weights are gated and no Hugging Face token was found: {LOGIN}."
GATED = f"DeepFloyd IF weights are gated and this account may not download them yet: {LOGIN}."

_TRUE = {"1", "true", "yes", "on"}


def cuda_available() -> bool:
    """Whether an NVIDIA driver is present (GEN_ASSUME_CUDA=1/0 overrides), without importing torch."""
    assumed = os.environ.get("GEN_ASSUME_CUDA")
    if assumed is not None:
        return assumed.strip().lower() in _TRUE
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def hf_home() -> Path:
    """The Hugging Face home folder: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface."""
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "huggingface"


def hub_cache() -> Path:
    """The hub's model cache: $HF_HUB_CACHE (or the older $HUGGINGFACE_HUB_CACHE), else <HF home>/hub."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(explicit).expanduser() if explicit else hf_home() / "hub"


def hub_token_available() -> bool:
    """Whether a Hugging Face token is set in the environment or saved by `hf auth login`."""
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return True
    token_file = Path(os.environ["HF_TOKEN_PATH"]).expanduser() if os.environ.get("HF_TOKEN_PATH") else hf_home() / "token"
    try:
        return bool(token_file.read_text().strip())
    except OSError:
        return False


def cached_snapshot(model_id: str, revision: str = "main") -> str | None:
    """The commit hash of `model_id` at `revision` in the local hub cache, or None if it was never downloaded."""
    repo = hub_cache() / ("models--" + model_id.replace("/", "--"))
    ref = repo / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    return commit if (repo / "snapshots" / commit).is_dir() else None


def deepfloyd_unavailable_reason(needs_model: bool, stage_1: str = DEFAULT_STAGE_1) -> str | None:
    """Why the deepfloyd backend can't run its models here (one sentence), or None when it can or needn't."""
    if not needs_model:
        return None
    if not cuda_available():
        return NO_CUDA
    if not hub_token_available() and cached_snapshot(stage_1) is None:
        return NO_TOKEN
    return None
