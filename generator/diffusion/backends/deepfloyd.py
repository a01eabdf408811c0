"""DeepFloyd IF through diffusers: cached T5 prompt embeddings, the stage-I UNet as a noise estimator, stage II for 256 px."""

from __future__ import annotations

import gc
import hashlib
import os
import re
import socket
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from generator.diffusion.backends.base import Backend, BackendUnavailable
from generator.diffusion.backends.probe import DEFAULT_STAGE_1, GATED, LOGIN, NO_CUDA, NO_TOKEN, cached_snapshot, hub_cache, hub_token_available
from generator.diffusion.estimators import Estimator
from generator.diffusion.schedule import NoiseSchedule, if_schedule

if TYPE_CHECKING:
    from diffusers import IFPipeline, IFSuperResolutionPipeline

STAGE_1_MODELS = (DEFAULT_STAGE_1, "DeepFloyd/IF-I-L-v1.0", "DeepFloyd/IF-I-M-v1.0")
STAGE_2_MODELS = ("DeepFloyd/IF-II-L-v1.0", "DeepFloyd/IF-II-M-v1.0")
STAGE_2_NOISE_LEVEL = 250  # SPEC: stage II noises the 64 px image to t = 250 (diffusers' default)
CONFIG_TABLE = "[tool.gen.backend.deepfloyd]"

# diffusers re-raises some 401/403 responses as a plain OSError; this finds them in its message.
_GATED_TEXT = re.compile(r"\bgated\b|\b40[13]\b", re.IGNORECASE)
_NETWORK_ERROR_NAMES = {"ConnectionError", "ConnectError", "NetworkError", "TransportError", "Timeout", "TimeoutException"}

# The safety checker, its CLIP feature extractor and the watermarker only act on PIL/numpy output; we take tensors.
TENSOR_OUTPUT_ONLY = {"safety_checker": None, "feature_extractor": None, "watermarker": None, "requires_safety_checker": False}


@dataclass(frozen=True)
class DeepFloydConfig:
    """Which IF models to load and how: the keys of [tool.gen.backend.deepfloyd]."""

    stage_1: str = DEFAULT_STAGE_1
    stage_2: str = STAGE_2_MODELS[0]
    revision: str = "main"  # a branch, tag or commit of both model repos
    cpu_offload: bool = False
    t5_8bit: bool = False
    embeddings_cache_dir: str | Path | None = Path("artifacts") / "embeddings"

    def __post_init__(self) -> None:
        if self.stage_1 not in STAGE_1_MODELS:
            raise ValueError(f"stage_1 = {self.stage_1!r} is not an IF stage I model; set it to one of {', '.join(STAGE_1_MODELS)} in {CONFIG_TABLE}.")
        if self.stage_2 not in STAGE_2_MODELS:
            raise ValueError(f"stage_2 = {self.stage_2!r} is not an IF stage II model; set it to one of {', '.join(STAGE_2_MODELS)} in {CONFIG_TABLE}.")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DeepFloydConfig:
        """The config from a TOML table; an unknown key is an error that names the known ones."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown key {unknown[0]!r} in {CONFIG_TABLE}; the keys are {', '.join(sorted(known))}.")
        return cls(**values)


class DeepFloydBackend(Backend):
    """DeepFloyd IF stage I (64 px, 6-channel ε̂ | v UNet) and stage II (→ 256 px), fp16 on CUDA, loaded on first use."""

    name = "deepfloyd"
    label = "DeepFloyd IF"
    predicts_variance = True
    super_resolution = True

    def __init__(self, config: DeepFloydConfig | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = DeepFloydConfig()
        self.config = config if isinstance(config, DeepFloydConfig) else DeepFloydConfig.from_mapping(config)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.float16
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
        """What the prompt embeddings depend on: the T5 encoder shipped with stage I, and its precision."""
        return self.config.stage_1 + ("@8bit" if self.config.t5_8bit else "")

    def describe(self) -> dict[str, Any]:
        """Model ids, the locally cached commit of each (else the configured revision), dtype and device."""
        models = (self.config.stage_1, self.config.stage_2)
        return {
            "backend": self.name,
            "label": self.label,
            "stage_1": self.config.stage_1,
            "stage_2": self.config.stage_2,
            "text_encoder": f"{self.config.stage_1}/text_encoder (T5-XXL v1.1, {'8-bit' if self.config.t5_8bit else 'fp16'})",
            "revisions": {model: cached_snapshot(model, self.config.revision) or self.config.revision for model in models},
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
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(self.device)
        return pipe

    # -- loading from the Hub and placing on the GPU (TinyBackend overrides the three builders) -----------------

    def _build_text_pipeline(self) -> IFPipeline:
        from diffusers import IFPipeline

        with self._loading(self.config.stage_1):
            text_encoder = {"text_encoder": self._load_t5_8bit()} if self.config.t5_8bit else {}
            return self._place(IFPipeline.from_pretrained(self.config.stage_1, unet=None, **text_encoder, **self._pretrained_kwargs()))

    def _load_t5_8bit(self) -> torch.nn.Module:
        from transformers import BitsAndBytesConfig, T5EncoderModel

        return T5EncoderModel.from_pretrained(
            self.config.stage_1,
            subfolder="text_encoder",
            revision=self.config.revision,
            variant="8bit",
            device_map="auto",
            dtype=self.dtype,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
        )

    def _build_stage_1(self) -> IFPipeline:
        from diffusers import IFPipeline

        with self._loading(self.config.stage_1):
            return self._place(IFPipeline.from_pretrained(self.config.stage_1, text_encoder=None, tokenizer=None, **self._pretrained_kwargs()))

    def _build_stage_2(self) -> IFSuperResolutionPipeline:
        from diffusers import IFSuperResolutionPipeline

        with self._loading(self.config.stage_2):
            pipe = IFSuperResolutionPipeline.from_pretrained(self.config.stage_2, text_encoder=None, tokenizer=None, **self._pretrained_kwargs())
            return self._place(pipe)

    def _pretrained_kwargs(self) -> dict[str, Any]:
        return {"revision": self.config.revision, "variant": "fp16", "torch_dtype": self.dtype, **TENSOR_OUTPUT_ONLY}

    @contextmanager
    def _loading(self, model_id: str) -> Iterator[None]:
        """Check for CUDA and a token before touching the Hub; turn a loading or placing failure into one BackendUnavailable sentence."""
        if not torch.cuda.is_available():
            raise BackendUnavailable(NO_CUDA)
        if not hub_token_available() and cached_snapshot(model_id, self.config.revision) is None:
            raise BackendUnavailable(NO_TOKEN)
        try:
            with warnings.catch_warnings():
                # Newer diffusers rename torch_dtype to dtype; torch_dtype works in every version pyproject allows.
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                yield
        except (OSError, ValueError, ImportError, RuntimeError) as err:
            raise BackendUnavailable(load_failure(err, model_id)) from err


def load_failure(err: BaseException, model_id: str) -> str:
    """The one sentence that tells a user what to do about `err`, raised while loading `model_id`."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    chain = _causes(err)
    statuses = {getattr(getattr(e, "response", None), "status_code", None) for e in chain if isinstance(e, HfHubHTTPError)}
    if any(isinstance(e, GatedRepoError) for e in chain) or statuses & {401, 403} or any(_GATED_TEXT.search(str(e)) for e in chain):
        return GATED
    if any(isinstance(e, RepositoryNotFoundError) for e in chain):
        return f"{model_id} was not found on the Hugging Face Hub; check the model id in {CONFIG_TABLE}, {LOGIN}."
    if any(isinstance(e, LocalEntryNotFoundError) or _is_network_error(e) for e in chain):
        return f"{model_id} is not in the local Hugging Face cache and the Hub can't be reached; connect to the internet (and unset HF_HUB_OFFLINE) to download it once, or use --backend mnist."
    if any(isinstance(e, torch.OutOfMemoryError) for e in chain):
        return f"{model_id} does not fit in GPU memory; set cpu_offload = true in {CONFIG_TABLE} or use a smaller stage_1 such as DeepFloyd/IF-I-L-v1.0."
    if any(isinstance(e, ImportError) for e in chain):
        return f"Loading {model_id} needs a missing package ({err}); install it, or set t5_8bit = false in {CONFIG_TABLE} if it is bitsandbytes."
    detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
    detail = detail if len(detail) <= 160 else detail[:157] + "..."
    return f"Could not load {model_id} ({detail}); delete its folder under {hub_cache()} to download it again, or use --backend mnist."


def _is_network_error(err: BaseException) -> bool:
    """A failed connection, whichever HTTP client raised it (requests, httpx) or the socket layer below it."""
    names = {cls.__name__ for cls in type(err).__mro__}
    return isinstance(err, ConnectionError | TimeoutError | socket.gaierror) or bool(names & _NETWORK_ERROR_NAMES)


def _causes(err: BaseException) -> list[BaseException]:
    """`err` and every exception it was raised from or while handling."""
    chain: list[BaseException] = []
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop(0)
        if current not in chain:
            chain.append(current)
            pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return chain
