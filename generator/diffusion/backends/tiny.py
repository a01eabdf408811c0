"""A random-weight IF built from configs (tiny T5, stage-I and stage-II UNets): the deepfloyd code path, without a download."""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from generator.diffusion.backends.deepfloyd import TENSOR_OUTPUT_ONLY, DeepFloydBackend, DeepFloydConfig
from generator.diffusion.schedule import IF_STAGE_I_SCHEDULER_CONFIG

if TYPE_CHECKING:
    from diffusers import IFPipeline, IFSuperResolutionPipeline
    from transformers import T5EncoderModel, T5Tokenizer

SEED = 0

# T5 v1.1's shape (gated-GELU feed-forward, relative position buckets), shrunk from d_model 4096 / 24 layers.
TINY_T5: dict[str, Any] = {
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 8,
    "feed_forward_proj": "gated-gelu",
    "dropout_rate": 0.0,
}

# IF's UNet layout (ResNet down/up blocks, simple cross-attention blocks, text pooled into the time embedding,
# scale-shift norm, GELU), shrunk so that attention runs at 16×16 only and one 64 px call stays cheap on a CPU.
_IF_UNET_COMMON: dict[str, Any] = {
    "layers_per_block": 1,
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "out_channels": 6,  # [ε̂ | v]: learned-range variance
    "cross_attention_dim": 32,
    "encoder_hid_dim": TINY_T5["d_model"],
    "attention_head_dim": 8,
    "addition_embed_type": "text",
    "addition_embed_type_num_heads": 2,
    "cross_attention_norm": "group_norm",
    "resnet_time_scale_shift": "scale_shift",
    "act_fn": "gelu",
    "norm_num_groups": 8,
}
TINY_STAGE_1_UNET: dict[str, Any] = {
    **_IF_UNET_COMMON,
    "sample_size": 64,
    "in_channels": 3,
    "block_out_channels": [16, 16, 32],
    "down_block_types": ["ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"],
    "up_block_types": ["SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"],
}
# Stage II sees [noisy 256 px | upscaled 64 px image] and embeds its noise level as a class label.
TINY_STAGE_2_UNET: dict[str, Any] = {
    **_IF_UNET_COMMON,
    "sample_size": 256,
    "in_channels": 6,
    "block_out_channels": [8, 8, 16, 32],
    "down_block_types": ["ResnetDownsampleBlock2D"] * 3 + ["SimpleCrossAttnDownBlock2D"],
    "up_block_types": ["SimpleCrossAttnUpBlock2D"] + ["ResnetUpsampleBlock2D"] * 3,
    "class_embed_type": "timestep",
    "mid_block_scale_factor": 1.414,
    "time_embedding_act_fn": "gelu",
    "time_embedding_dim": 32,
}
# IF-II's schedulers as diffusers' scripts/convert_if.py builds them: stage I's with threshold 1.0, and plain cosine DDPM.
IF_STAGE_II_SCHEDULER_CONFIG: dict[str, Any] = {**IF_STAGE_I_SCHEDULER_CONFIG, "sample_max_value": 1.0}
IF_STAGE_II_NOISING_SCHEDULER_CONFIG: dict[str, Any] = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2", "beta_start": 0.0001, "beta_end": 0.02}

# A character-level SentencePiece-style vocabulary: T5's specials (pad 0, eos 1, unk 2), then "▁c" and "c".
_CHARACTERS = string.ascii_letters + string.digits + string.punctuation
TINY_VOCAB: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
TINY_VOCAB += [(f"▁{c}", -3.0) for c in _CHARACTERS] + [(c, -4.0) for c in _CHARACTERS]


def tiny_tokenizer() -> T5Tokenizer:
    """A T5 (Unigram) tokenizer over TINY_VOCAB, built in memory."""
    from transformers import T5Tokenizer

    return T5Tokenizer(vocab=TINY_VOCAB, extra_ids=0)


def tiny_text_encoder() -> T5EncoderModel:
    """A random T5 encoder with TINY_T5's shape, seeded."""
    from transformers import T5Config, T5EncoderModel

    with _seeded(SEED):
        return T5EncoderModel(T5Config(vocab_size=len(TINY_VOCAB), **TINY_T5)).eval()


def tiny_unet(config: dict[str, Any], seed: int) -> torch.nn.Module:
    """A random IF-architecture UNet2DConditionModel from `config`, seeded."""
    from diffusers import UNet2DConditionModel

    with _seeded(seed):
        return UNet2DConditionModel(**config).eval()


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed model construction without disturbing the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class TinyBackend(DeepFloydBackend):
    """DeepFloydBackend with its three builders swapped for random-weight models built from TINY_* configs (CPU, float32)."""

    name = "tiny"
    label = "Tiny IF (random weights)"

    def __init__(self, embeddings_cache_dir: str | Path | None = None) -> None:
        super().__init__(DeepFloydConfig(embeddings_cache_dir=embeddings_cache_dir, device="cpu"))

    @property
    def encoder_id(self) -> str:
        """The tiny T5 is identified by the hash of everything it is built from."""
        return f"tiny-if-{config_digest()}"

    def describe(self) -> dict[str, Any]:
        """The tiny configs' hash stands in for a model revision."""
        return {
            "backend": self.name,
            "label": self.label,
            "stage_1": f"random IF stage I UNet, {TINY_STAGE_1_UNET['sample_size']} px, channels {TINY_STAGE_1_UNET['block_out_channels']}",
            "stage_2": f"random IF stage II UNet, {TINY_STAGE_2_UNET['sample_size']} px, channels {TINY_STAGE_2_UNET['block_out_channels']}",
            "text_encoder": f"random T5 encoder, d_model {TINY_T5['d_model']}, {TINY_T5['num_layers']} layers",
            "revisions": {"tiny": config_digest()},
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "cpu_offload": False,
        }

    def _build_text_pipeline(self) -> IFPipeline:
        from diffusers import DDPMScheduler, IFPipeline

        scheduler = DDPMScheduler.from_config(IF_STAGE_I_SCHEDULER_CONFIG)
        return self._place(IFPipeline(tokenizer=tiny_tokenizer(), text_encoder=tiny_text_encoder(), unet=None, scheduler=scheduler, **TENSOR_OUTPUT_ONLY))

    def _build_stage_1(self) -> IFPipeline:
        from diffusers import DDPMScheduler, IFPipeline

        scheduler = DDPMScheduler.from_config(IF_STAGE_I_SCHEDULER_CONFIG)
        return self._place(IFPipeline(tokenizer=None, text_encoder=None, unet=tiny_unet(TINY_STAGE_1_UNET, SEED + 1), scheduler=scheduler, **TENSOR_OUTPUT_ONLY))

    def _build_stage_2(self) -> IFSuperResolutionPipeline:
        from diffusers import DDPMScheduler, IFSuperResolutionPipeline

        pipe = IFSuperResolutionPipeline(
            tokenizer=None,
            text_encoder=None,
            unet=tiny_unet(TINY_STAGE_2_UNET, SEED + 2),
            scheduler=DDPMScheduler.from_config(IF_STAGE_II_SCHEDULER_CONFIG),
            image_noising_scheduler=DDPMScheduler.from_config(IF_STAGE_II_NOISING_SCHEDULER_CONFIG),
            **TENSOR_OUTPUT_ONLY,
        )
        return self._place(pipe)


def config_digest() -> str:
    """A short hash of the tiny configs, vocabulary and seed: changes exactly when the tiny models change."""
    spec = [TINY_T5, TINY_STAGE_1_UNET, TINY_STAGE_2_UNET, IF_STAGE_II_SCHEDULER_CONFIG, IF_STAGE_II_NOISING_SCHEDULER_CONFIG, TINY_VOCAB, SEED]
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()[:12]
