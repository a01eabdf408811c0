"""Tiny random-weight DeepFloyd IF repositories in the Hub's own layout, so the deepfloyd backend's loading code runs offline.

`write_if_folder` writes what `hf download DeepFloyd/IF-I-XL-v1.0` (stage 1) or `DeepFloyd/IF-II-L-v1.0` (stage 2)
leaves in a folder: model_index.json naming the pipeline and every component, one subfolder per component with its
config, weights as `*.fp16.safetensors` variants (the T5 encoder sharded with an index, as there), the T5 tokenizer
as a SentencePiece `spiece.model`, the scheduler configs, the safety checker, its CLIP feature extractor and the
watermarker. `place_in_hub_cache` files such a folder into a Hugging Face cache the way a download does: content
addressed blobs, `snapshots/<commit>/` of symlinks to them, and `refs/main`. Used by the tests and bench/gpu_check.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import string
from pathlib import Path
from typing import Any

import torch

from generator.diffusion.backends.tiny import (
    IF_STAGE_II_NOISING_SCHEDULER_CONFIG,
    IF_STAGE_II_SCHEDULER_CONFIG,
    TINY_STAGE_1_UNET,
    TINY_STAGE_2_UNET,
    TINY_T5,
    tiny_unet,
)
from generator.diffusion.schedule import IF_STAGE_I_SCHEDULER_CONFIG

STAGES = {1: ("DeepFloyd/IF-I-XL-v1.0", "IFPipeline"), 2: ("DeepFloyd/IF-II-L-v1.0", "IFSuperResolutionPipeline")}

# model_index.json as the IF repos have it (diffusers 0.16 wrote them); the library of each class is where diffusers finds it
_COMPONENTS: dict[str, list[Any]] = {
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "requires_safety_checker": True,
    "safety_checker": ["deepfloyd_if", "IFSafetyChecker"],
    "scheduler": ["diffusers", "DDPMScheduler"],
    "text_encoder": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "T5Tokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "watermarker": ["deepfloyd_if", "IFWatermarker"],
}
# the tokenizer folder of t5-v1_1-xxl, shrunk: no sentinel tokens in a 100-piece vocabulary
_SPECIAL_TOKENS = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
_TOKENIZER_CONFIG = {**_SPECIAL_TOKENS, "extra_ids": 0, "additional_special_tokens": [], "model_max_length": 512, "sp_model_kwargs": {}, "tokenizer_class": "T5Tokenizer"}
_TOKENIZER_TEXT = [string.ascii_lowercase, string.ascii_uppercase, string.digits + string.punctuation, "an oil painting of a snowy mountain village", "a high quality photo of a rocket ship"]
_TINY_CLIP_VISION = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 16, "projection_dim": 8}
_TINY_CLIP_TEXT = {**_TINY_CLIP_VISION, "vocab_size": 64, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}


def write_if_folder(folder: str | Path, stage: int, seed: int = 0) -> Path:
    """Write a tiny IF stage `stage` (1 or 2) repository into `folder` in the Hub layout; the same seed writes the same bytes."""
    from generator.diffusion.backends.load_failures import quiet_loading

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with quiet_loading():
        _write_components(folder, stage, seed)
    index = {"_class_name": STAGES[stage][1], "_diffusers_version": "0.16.0", **_COMPONENTS}
    if stage == 2:
        index["image_noising_scheduler"] = ["diffusers", "DDPMScheduler"]
    (folder / "model_index.json").write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    return folder


def _write_components(folder: Path, stage: int, seed: int) -> None:
    from diffusers import DDPMScheduler
    from diffusers.pipelines.deepfloyd_if.safety_checker import IFSafetyChecker
    from diffusers.pipelines.deepfloyd_if.watermark import IFWatermarker
    from transformers import CLIPConfig, T5Config, T5EncoderModel

    spiece = _spiece_model()
    vocab_size = _piece_count(spiece)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = T5EncoderModel(T5Config(vocab_size=vocab_size, **TINY_T5)).eval()
        safety_checker = IFSafetyChecker(CLIPConfig(vision_config=_TINY_CLIP_VISION, text_config=_TINY_CLIP_TEXT)).eval()
    unet = tiny_unet(TINY_STAGE_1_UNET if stage == 1 else TINY_STAGE_2_UNET, seed + stage)

    # weights in fp16, as the variant files are; the tiny T5 (about 70 kB) still goes into shards and an index, as T5-XXL does
    text_encoder.half().save_pretrained(folder / "text_encoder", variant="fp16", max_shard_size="40KB")
    unet.half().save_pretrained(folder / "unet", variant="fp16")
    safety_checker.half().save_pretrained(folder / "safety_checker", variant="fp16")
    # the watermarker's only weight is its watermark image, saved without a variant in the IF repos
    IFWatermarker().save_pretrained(folder / "watermarker")
    if stage == 1:
        DDPMScheduler.from_config(IF_STAGE_I_SCHEDULER_CONFIG).save_pretrained(folder / "scheduler")
    else:
        DDPMScheduler.from_config(IF_STAGE_II_SCHEDULER_CONFIG).save_pretrained(folder / "scheduler")
        DDPMScheduler.from_config(IF_STAGE_II_NOISING_SCHEDULER_CONFIG).save_pretrained(folder / "image_noising_scheduler")
    _write_feature_extractor(folder / "feature_extractor")
    _write_tokenizer(folder / "tokenizer", spiece)


def place_in_hub_cache(folder: str | Path, hub_cache: str | Path, repo_id: str) -> str:
    """File `folder` into the Hugging Face cache `hub_cache` as the main revision of `repo_id`; returns the snapshot's commit."""
    from huggingface_hub.file_download import repo_folder_name

    folder, repo = Path(folder), Path(hub_cache) / repo_folder_name(repo_id=repo_id, repo_type="model")
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    digests = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    # a real commit hash is git's; any 40 hex digits that change with the content serve the same purpose here
    commit = hashlib.sha1("".join(f"{path.relative_to(folder)}:{digest}\n" for path, digest in digests.items()).encode()).hexdigest()
    for path, digest in digests.items():
        blob = repo / "blobs" / digest
        link = repo / "snapshots" / commit / path.relative_to(folder)
        blob.parent.mkdir(parents=True, exist_ok=True)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(path, blob)
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return commit


def write_if_hub_cache(hub_cache: str | Path, seed: int = 0) -> dict[str, str]:
    """Both tiny IF repositories (stage I as IF-I-XL, stage II as IF-II-L) in the cache `hub_cache`: {repo id: commit}."""
    import tempfile

    commits = {}
    with tempfile.TemporaryDirectory() as scratch:
        for stage, (repo_id, _) in STAGES.items():
            commits[repo_id] = place_in_hub_cache(write_if_folder(Path(scratch) / f"stage_{stage}", stage, seed), hub_cache, repo_id)
    return commits


def snapshot_folder(hub_cache: str | Path, repo_id: str) -> Path:
    """The folder of the main revision of `repo_id` in the cache."""
    from huggingface_hub.file_download import repo_folder_name

    repo = Path(hub_cache) / repo_folder_name(repo_id=repo_id, repo_type="model")
    return repo / "snapshots" / (repo / "refs" / "main").read_text().strip()


def _spiece_model() -> bytes:
    """A small Unigram SentencePiece model with T5's special ids (pad 0, eos 1, unk 2, no bos) and its NFKC normalizer, trained deterministically."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_TOKENIZER_TEXT), model_writer=model, model_type="unigram", vocab_size=100, hard_vocab_limit=False,
        character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, minloglevel=2,
    )
    return model.getvalue()


def _piece_count(spiece: bytes) -> int:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_proto=spiece).get_piece_size()


def _write_tokenizer(folder: Path, spiece: bytes) -> None:
    """The three files of T5's tokenizer folder: no tokenizer.json, so transformers converts spiece.model on load."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(spiece)
    (folder / "tokenizer_config.json").write_text(json.dumps(_TOKENIZER_CONFIG, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(_SPECIAL_TOKENS, indent=2) + "\n")


def _write_feature_extractor(folder: Path) -> None:
    """CLIP ViT-L/14's preprocessing, the safety checker's input (never loaded here: the backend takes tensors)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True, "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(config, indent=2) + "\n")
