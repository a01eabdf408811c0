"""Cheap, stdlib-only checks of whether DeepFloyd IF can run here (no torch import: the CLI's fast path uses them)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_STAGE_1 = "DeepFloyd/IF-I-XL-v1.0"
DEFAULT_STAGE_2 = "DeepFloyd/IF-II-L-v1.0"
MODEL_CARD = "https://huggingface.co/DeepFloyd/IF-I-XL-v1.0"
CONFIG_TABLE = "[tool.gen.backend.deepfloyd]"
# the diffusers pipeline class each stage's model_index.json names
PIPELINE_CLASSES = {"stage_1": "IFPipeline", "stage_2": "IFSuperResolutionPipeline"}
DEFAULT_MODELS = {"stage_1": DEFAULT_STAGE_1, "stage_2": DEFAULT_STAGE_2}

NO_CUDA = f'DeepFloyd IF needs a CUDA GPU; run on a GPU machine, set device = "cpu" in {CONFIG_TABLE} (slow), or use --backend mnist.'
LOGIN = f"accept the licence on the IF-I-XL model card at {MODEL_CARD} and log in with `huggingface-cli login` (or `hf auth login`)"
NO_TOKEN = f"DeepFloyd IF weights are gated and no Hugging Face token was found: {LOGIN}."
GATED = f"DeepFloyd IF weights are gated and this account may not download them yet: {LOGIN}."
NO_BITSANDBYTES = f"t5_8bit = true loads T5 in 8 bits with bitsandbytes, which is not installed; `pip install bitsandbytes` (CUDA only) or set t5_8bit = false in {CONFIG_TABLE}."

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


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or the older TRANSFORMERS_OFFLINE) forbids every request to the Hub, as huggingface_hub reads them."""
    return (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").strip().lower() in _TRUE


def hub_token_available() -> bool:
    """Whether a Hugging Face token is set in the environment or saved by `hf auth login`."""
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return True
    token_file = Path(os.environ["HF_TOKEN_PATH"]).expanduser() if os.environ.get("HF_TOKEN_PATH") else hf_home() / "token"
    try:
        return bool(token_file.read_text().strip())
    except OSError:
        return False


def repo_folder(model_id: str) -> Path:
    """Where the hub cache keeps `model_id`: <hub cache>/models--org--name."""
    return hub_cache() / ("models--" + model_id.replace("/", "--"))


def cached_snapshot(model_id: str, revision: str = "main") -> str | None:
    """The commit hash of `model_id` at `revision` in the local hub cache, or None if it was never downloaded."""
    repo = repo_folder(model_id)
    ref = repo / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    return commit if (repo / "snapshots" / commit).is_dir() else None


def is_local_model(source: str) -> bool:
    """Whether a stage_1/stage_2 setting names a folder on disk rather than a Hub model id (as diffusers decides: a folder wins)."""
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().is_dir()


def local_model_problem(source: str, key: str) -> str | None:
    """Why the folder `source` can't be IF's `key` stage (one sentence), or None: it exists and its model_index.json names the right pipeline."""
    folder, expected = Path(source).expanduser(), PIPELINE_CLASSES[key]
    download = f"`hf download {DEFAULT_MODELS[key]} --local-dir {source}`"
    if not folder.is_dir():
        return f"{key} = {source!r} is not a folder; download the weights there with {download} or fix {key} in {CONFIG_TABLE}."
    if not (folder / "model_index.json").is_file():
        return f"{folder} has no model_index.json, so it is not a diffusers model folder; {key} must be a folder as {download} leaves it."
    return _model_index_problem(folder, expected, f"{key} must be a folder saved from diffusers' {expected}, as {download} leaves it")


def hub_model_problem(model_id: str, revision: str, key: str, *, required: bool) -> str | None:
    """Why the Hub model `model_id` can't load here (one sentence), or None: its cached snapshot is sound, or it may be downloaded."""
    commit = cached_snapshot(model_id, revision)
    if commit is not None:
        remedy = f"delete {repo_folder(model_id)} to download it again"
        return _model_index_problem(repo_folder(model_id) / "snapshots" / commit, PIPELINE_CLASSES[key], remedy)
    if not required:
        return None
    if hub_offline():
        return (f"{model_id} is not in the Hugging Face cache at {hub_cache()} and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE to download it once, "
                f"or set {key} to a local folder in {CONFIG_TABLE}.")
    return None if hub_token_available() else NO_TOKEN


def _model_index_problem(folder: Path, expected: str, remedy: str) -> str | None:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{folder} has no model_index.json; {remedy}."
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"{folder / 'model_index.json'} is not valid JSON ({error}); {remedy}."
    found = index.get("_class_name") if isinstance(index, dict) else None
    if found != expected:
        return f"{folder / 'model_index.json'} names the pipeline {found!r}, not {expected}; {remedy}."
    return None


def local_model_digest(source: str) -> str:
    """A cheap fingerprint of a local model folder: every JSON file's bytes and every other file's path and size.

    Sizes, not mtimes or weight hashes: copying the folder to another machine keeps the fingerprint, and hashing
    tens of GB of weights on every `gen status` would not be cheap.
    """
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.relative_to(folder).parts[0].startswith(".")):
        rel = path.relative_to(folder).as_posix()
        digest.update(f"{rel}\0".encode())
        digest.update(path.read_bytes() if path.suffix == ".json" else str(path.stat().st_size).encode())
    return digest.hexdigest()[:16]


def deepfloyd_unavailable_reason(needs_model: bool, config: Mapping[str, Any] | None = None) -> str | None:
    """Why the deepfloyd backend can't run its models here with `config` ([tool.gen.backend.deepfloyd]): one sentence, or None."""
    if not needs_model:
        return None
    config = config or {}
    if str(config.get("device", "cuda")).startswith("cuda") and not cuda_available():
        return NO_CUDA
    if config.get("t5_8bit") and importlib.util.find_spec("bitsandbytes") is None:
        return NO_BITSANDBYTES
    for key in ("stage_1", "stage_2"):
        source = str(config.get(key, DEFAULT_MODELS[key]))
        # stage II serves only 1.0's upsampling: a missing download of it fails that section alone, when it loads
        problem = local_model_problem(source, key) if is_local_model(source) else hub_model_problem(source, str(config.get("revision", "main")), key, required=key == "stage_1")
        if problem:
            return problem
    return None
