"""DeepFloyd IF through diffusers: cached T5 prompt embeddings, the stage-I UNet as a noise estimator, stage II for 256 px."""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from generator.diffusion.backends.base import Backend, BackendUnavailable
from generator.diffusion.backends.load_failures import load_failure, quiet_loading
from generator.diffusion.backends.probe import (
    CONFIG_TABLE,
    DEFAULT_STAGE_1,
    DEFAULT_STAGE_2,
    NO_BITSANDBYTES,
    NO_CUDA,
    cached_snapshot,
    hub_model_problem,
    is_local_model,
    local_model_digest,
    local_model_problem,
)
from generator.diffusion.estimators import Estimator
from generator.diffusion.schedule import NoiseSchedule, if_schedule

if TYPE_CHECKING:
    from diffusers import IFPipeline, IFSuperResolutionPipeline

STAGE_1_MODELS = (DEFAULT_STAGE_1, "DeepFloyd/IF-I-L-v1.0", "DeepFloyd/IF-I-M-v1.0")
STAGE_2_MODELS = (DEFAULT_STAGE_2, "DeepFloyd/IF-II-M-v1.0")
STAGE_2_NOISE_LEVEL = 250  # SPEC: stage II noises the 64 px image to t = 250 (diffusers' default)
_DEVICE = re.compile(r"^(cpu|cuda(:[0-9]+)?)$")


# The safety checker, its CLIP feature extractor and the watermarker only act on PIL/numpy output; we take tensors.
TENSOR_OUTPUT_ONLY = {"safety_checker": None, "feature_extractor": None, "watermarker": None, "requires_safety_checker": False}


@dataclass(frozen=True)
class DeepFloydConfig:
    """Which IF models to load and how: the keys of [tool.gen.backend.deepfloyd]."""

    stage_1: str = DEFAULT_STAGE_1  # a Hub model id, or a local folder in the diffusers layout
    stage_2: str = DEFAULT_STAGE_2
    revision: str = "main"  # a branch, tag or commit of both Hub repos (local folders have none)
    device: str = "cuda"  # "cuda", "cuda:N" (fp16) or "cpu" (fp32: slow with the real weights; tests use it)
    cpu_offload: bool = False
    t5_8bit: bool = False
    embeddings_cache_dir: str | Path | None = Path("artifacts") / "embeddings"

    def __post_init__(self) -> None:
        for key, models in (("stage_1", STAGE_1_MODELS), ("stage_2", STAGE_2_MODELS)):
            source = getattr(self, key)
            if not is_local_model(source) and source not in models:
                raise ValueError(f"{key} = {source!r} is neither an IF model id nor a folder; set it to one of {', '.join(models)} or a local folder in {CONFIG_TABLE}.")
        if not _DEVICE.match(self.device):
            raise ValueError(f'device = {self.device!r} is not a device; set it to "cuda", "cuda:1" or "cpu" in {CONFIG_TABLE}.')
        if self.cpu_offload and self.device == "cpu":
            raise ValueError(f'cpu_offload = true moves models to a GPU only while they run, so it needs device = "cuda"; set one of them in {CONFIG_TABLE}.')

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DeepFloydConfig:
        """The config from a TOML table; an unknown key is an error that names the known ones."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown key {unknown[0]!r} in {CONFIG_TABLE}; the keys are {', '.join(sorted(known))}.")
        return cls(**values)


class DeepFloydBackend(Backend):
    """DeepFloyd IF stage I (64 px, 6-channel ε̂ | v UNet) and stage II (→ 256 px), fp16 on CUDA (fp32 on a CPU), loaded on first use."""

    name = "deepfloyd"
    label = "DeepFloyd IF"
    predicts_variance = True
    super_resolution = True

    def __init__(self, config: DeepFloydConfig | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = DeepFloydConfig()
        self.config = config if isinstance(config, DeepFloydConfig) else DeepFloydConfig.from_mapping(config)
        self.device = torch.device(self.config.device)
        # IF ships fp16 weights; CPUs run fp16 convolutions slowly or not at all
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self._embeddings: dict[str, torch.Tensor] = {}
        self._text: IFPipeline | None = None
        self._stage_1: IFPipeline | None = None
        self._stage_2: IFSuperResolutionPipeline | None = None

    @cached_property
    def schedule(self) -> NoiseSchedule:
        """IF stage I's cosine schedule, built from its scheduler config (no weights needed)."""
        return if_schedule()

    @property
    def encoder_id(self) -> str:
        """What the prompt embeddings depend on: the T5 encoder shipped with stage I (a local folder by its digest), and its precision."""
        stage_1 = self.config.stage_1
        encoder = f"local-{local_model_digest(stage_1)}" if is_local_model(stage_1) else stage_1
        return encoder + ("@8bit" if self.config.t5_8bit else "")

    def revision_of(self, source: str) -> str:
        """The commit of a Hub model as cached here (else the configured revision); a local folder's digest."""
        if is_local_model(source):
            return f"local folder, digest {local_model_digest(source)}"
        return cached_snapshot(source, self.config.revision) or self.config.revision

    def describe(self) -> dict[str, Any]:
        """Model ids, the locally cached commit of each (else the configured revision), dtype and device."""
        models = (self.config.stage_1, self.config.stage_2)
        return {
            "backend": self.name,
            "label": self.label,
            "stage_1": self.config.stage_1,
            "stage_2": self.config.stage_2,
            "text_encoder": f"{self.config.stage_1}/text_encoder (T5-XXL v1.1, {'8-bit' if self.config.t5_8bit else str(self.dtype).removeprefix('torch.')})",
            "revisions": {model: self.revision_of(model) for model in models},
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "cpu_offload": self.config.cpu_offload,
        }

    # -- prompt embeddings -------------------------------------------------------------------------------------

    def encode(self, prompt: str) -> torch.Tensor:
        """T5 embeddings [1, 77, dim] of `prompt` (float32, CPU): from memory, else the disk cache, else the encoder."""
        if prompt not in self._embeddings:
            cached = self._read_embedding(prompt)
            self._embeddings[prompt] = cached if cached is not None else self._compute_embedding(prompt)
        return self._embeddings[prompt]

    def embedding_path(self, prompt: str) -> Path | None:
        """Where the embedding of `prompt` is cached: <cache dir>/<encoder id>/<sha256 of the prompt>.safetensors."""
        if self.config.embeddings_cache_dir is None:
            return None
        digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:32]
        return Path(self.config.embeddings_cache_dir) / self.encoder_id.replace("/", "--") / f"{digest}.safetensors"

    def _read_embedding(self, prompt: str) -> torch.Tensor | None:
        from safetensors import safe_open

        path = self.embedding_path(prompt)
        if path is None or not path.is_file():
            return None
        with safe_open(str(path), framework="pt") as stored:
            if stored.metadata().get("prompt") != prompt:
                return None
            return stored.get_tensor("prompt_embeds").float()

    def _compute_embedding(self, prompt: str) -> torch.Tensor:
        from safetensors.torch import save_file

        embeds, _ = self._text_pipeline().encode_prompt(prompt, do_classifier_free_guidance=False)
        embeds = embeds.detach().cpu()
        path = self.embedding_path(prompt)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            save_file({"prompt_embeds": embeds.contiguous()}, str(partial), metadata={"prompt": prompt, "encoder": self.encoder_id})
            os.replace(partial, path)
        if self._stage_1 is not None or self._stage_2 is not None:
            self._release_text_encoder()
        return embeds.float()

    # -- the models ------------------------------------------------------------------------------------------------

    def estimator(self, prompt_embeds: torch.Tensor) -> Estimator:
        """ε̂ = UNet channels 0–2, v = channels 3–5, in the model dtype; float32 on the caller's device."""
        pipe = self._stage_1_pipeline()
        unet, device = pipe.unet, pipe._execution_device
        embeds = prompt_embeds.to(device=device, dtype=unet.dtype)
        channels = self.image_shape[0]

        @torch.no_grad()
        def estimate(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
            context = embeds.expand(x_t.shape[0], -1, -1) if embeds.shape[0] == 1 else embeds
            out = unet(x_t.to(device=device, dtype=unet.dtype), t, encoder_hidden_states=context).sample
            out = out.to(device=x_t.device, dtype=torch.float32)
            return out[:, :channels], out[:, channels:]

        return estimate

    def guided_estimator(self, prompt_embeds: torch.Tensor, negative_embeds: torch.Tensor, scale: float) -> Estimator:
        """CFG in one UNet pass over [x_t; x_t] with [ε_u; ε_c] contexts, as IFPipeline does: ε_u + γ (ε_c − ε_u), v from the conditional half."""
        pipe = self._stage_1_pipeline()
        unet, device = pipe.unet, pipe._execution_device
        cond, uncond = (e.to(device=device, dtype=unet.dtype) for e in (prompt_embeds, negative_embeds))
        channels = self.image_shape[0]

        @torch.no_grad()
        def estimate(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
            n = x_t.shape[0]
            context = torch.cat([e.expand(n, -1, -1) if e.shape[0] == 1 else e for e in (uncond, cond)])
            x = x_t.to(device=device, dtype=unet.dtype)
            out = unet(torch.cat([x, x]), t, encoder_hidden_states=context).sample.to(device=x_t.device, dtype=torch.float32)
            out_u, out_c = out.chunk(2)
            return out_u[:, :channels] + scale * (out_c[:, :channels] - out_u[:, :channels]), out_c[:, channels:]

        return estimate

    def generate(
        self,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor,
        generator: torch.Generator | None,
        num_inference_steps: int,
        guidance_scale: float = 7.0,
    ) -> torch.Tensor:
        """Stage-I samples [N, 3, 64, 64] in [-1, 1] from diffusers' IFPipeline with CFG."""
        images = self._stage_1_pipeline()(
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_embeds,
            generator=generator,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            output_type="pt",
        ).images
        return images.float().cpu().clamp(*self.value_range)

    def upsample(
        self,
        images64: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor,
        generator: torch.Generator | None,
        num_inference_steps: int,
    ) -> torch.Tensor:
        """Stage II: [N, 3, 64, 64] → [N, 3, 256, 256] in [-1, 1], conditioned on the same prompt embeddings."""
        pipe = self._stage_2_pipeline()
        count = images64.shape[0]
        images = pipe(
            image=images64,
            prompt_embeds=prompt_embeds.expand(count, -1, -1),
            negative_prompt_embeds=negative_embeds.expand(count, -1, -1),
            generator=generator,
            num_inference_steps=num_inference_steps,
            noise_level=STAGE_2_NOISE_LEVEL,
            output_type="pt",
        ).images
        return images.float().cpu().clamp(*self.value_range)

    def _text_pipeline(self) -> IFPipeline:
        if self._text is None:
            self._text = self._build_text_pipeline()
        return self._text

    def _stage_1_pipeline(self) -> IFPipeline:
        if self._stage_1 is None:
            self._release_text_encoder()
            self._stage_1 = self._build_stage_1()
        return self._stage_1

    def _stage_2_pipeline(self) -> IFSuperResolutionPipeline:
        if self._stage_2 is None:
            self._release_text_encoder()
            self._stage_2 = self._build_stage_2()
        return self._stage_2

    def _release_text_encoder(self) -> None:
        """Free T5 (11 GB in fp16) while a UNet is loaded; the embedding of a new prompt reloads it, then frees it again."""
        if self._text is not None:
            del self._text
            self._text = None
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _place(self, pipe: Any) -> Any:
        """Move a pipeline to the device, or let accelerate move each model there only while it runs."""
        pipe.set_progress_bar_config(disable=True)
        if self.config.cpu_offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        return pipe

    # -- loading from the Hub or a folder and placing on the device (TinyBackend overrides the three builders) ------

    def _build_text_pipeline(self) -> IFPipeline:
        from diffusers import IFPipeline

        with self._loading("stage_1"):
            text_encoder = {"text_encoder": self._load_t5_8bit()} if self.config.t5_8bit else {}
            return self._place(IFPipeline.from_pretrained(self.config.stage_1, unet=None, **text_encoder, **self._pretrained_kwargs("stage_1")))

    def _load_t5_8bit(self) -> torch.nn.Module:
        from transformers import BitsAndBytesConfig, T5EncoderModel

        # the IF-I repos ship T5 as an "8bit" variant too; a local folder is read as it is
        source = {} if is_local_model(self.config.stage_1) else {"revision": self.config.revision, "variant": "8bit"}
        return T5EncoderModel.from_pretrained(
            self.config.stage_1,
            subfolder="text_encoder",
            device_map="auto",
            dtype=self.dtype,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
            **source,
        )

    def _build_stage_1(self) -> IFPipeline:
        from diffusers import IFPipeline

        with self._loading("stage_1"):
            return self._place(IFPipeline.from_pretrained(self.config.stage_1, text_encoder=None, tokenizer=None, **self._pretrained_kwargs("stage_1")))

    def _build_stage_2(self) -> IFSuperResolutionPipeline:
        from diffusers import IFSuperResolutionPipeline

        with self._loading("stage_2"):
            pipe = IFSuperResolutionPipeline.from_pretrained(self.config.stage_2, text_encoder=None, tokenizer=None, **self._pretrained_kwargs("stage_2"))
            return self._place(pipe)

    def _pretrained_kwargs(self, key: str) -> dict[str, Any]:
        """fp16 variant files, as the IF repos ship them; a local folder's own files when it has no variants."""
        source = getattr(self.config, key)
        if is_local_model(source):
            has_fp16 = any(Path(source).expanduser().glob("*/*.fp16*"))
            return {"variant": "fp16" if has_fp16 else None, "torch_dtype": self.dtype, **TENSOR_OUTPUT_ONLY}
        return {"revision": self.config.revision, "variant": "fp16", "torch_dtype": self.dtype, **TENSOR_OUTPUT_ONLY}

    @contextmanager
    def _loading(self, key: str) -> Iterator[None]:
        """Check the device, the weights and the options before loading; turn a loading or placing failure into one BackendUnavailable sentence."""
        source = getattr(self.config, key)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(NO_CUDA)
        if key == "stage_1" and self.config.t5_8bit and importlib.util.find_spec("bitsandbytes") is None:
            raise BackendUnavailable(NO_BITSANDBYTES)
        problem = local_model_problem(source, key) if is_local_model(source) else hub_model_problem(source, self.config.revision, key, required=True)
        if problem:
            raise BackendUnavailable(problem)
        try:
            with warnings.catch_warnings(), quiet_loading():
                # Newer diffusers rename torch_dtype to dtype; torch_dtype works in every version pyproject allows.
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                yield
        except (OSError, ValueError, ImportError, RuntimeError) as err:
            raise BackendUnavailable(load_failure(err, source)) from err
