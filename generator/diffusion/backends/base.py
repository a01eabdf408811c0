"""What a Part A backend gives a section: prompt embeddings, a noise estimator per prompt, images in its value range."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from generator.diffusion.estimators import Estimator, cfg
from generator.diffusion.schedule import NoiseSchedule


class BackendUnavailable(RuntimeError):
    """A backend can't load its models here; the message is one sentence that says what to do."""


class Backend(ABC):
    """A text-conditioned pixel-space diffusion model on DeepFloyd IF's 1000-step grid; nothing loads until first use."""

    name: str
    label: str
    image_shape: tuple[int, int, int] = (3, 64, 64)
    value_range: tuple[float, float] = (-1.0, 1.0)
    schedule: NoiseSchedule
    device: torch.device
    predicts_variance: bool
    # Whether upsample() has a super-resolution stage behind it (IF stage II).
    super_resolution: bool = False

    @abstractmethod
    def encode(self, prompt: str) -> torch.Tensor:
        """Prompt embeddings [1, L, dim]; "" gives the unconditional embedding."""

    @abstractmethod
    def estimator(self, prompt_embeds: torch.Tensor) -> Estimator:
        """The model's noise estimate (ε̂, v) for x_t at timestep t, conditioned on `prompt_embeds`."""

    def guided_estimator(self, prompt_embeds: torch.Tensor, negative_embeds: torch.Tensor, scale: float) -> Estimator:
        """Classifier-free guidance for one prompt: cfg(estimator(c), estimator(u), γ); a backend may batch the two passes."""
        return cfg(self.estimator(prompt_embeds), self.estimator(negative_embeds), scale)

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Model ids, revisions, dtype and device: the page's provenance line."""

    def generate(
        self,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor,
        generator: torch.Generator | None,
        num_inference_steps: int,
        guidance_scale: float = 7.0,
    ) -> torch.Tensor:
        """Images [N, *image_shape] sampled by the model's own full pipeline."""
        raise NotImplementedError(f"The {self.label} backend has no text-to-image pipeline; run this section with --backend deepfloyd.")

    def upsample(
        self,
        images64: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor,
        generator: torch.Generator | None,
        num_inference_steps: int,
    ) -> torch.Tensor:
        """Images upsampled by a super-resolution stage (IF stage II: 64 → 256)."""
        raise NotImplementedError(f"The {self.label} backend has no super-resolution stage; run this section with --backend deepfloyd.")

    def load_image(self, path: str | Path) -> torch.Tensor:
        """The image at `path`, centre-cropped and resized to image_shape, as [1, C, H, W] in value_range."""
        channels, height, width = self.image_shape
        try:
            with Image.open(path) as image:
                upright = ImageOps.exif_transpose(image).convert("RGB" if channels == 3 else "L")
        except FileNotFoundError:
            raise FileNotFoundError(f"No image at {path}; put the file there or fix the path in the section.") from None
        except UnidentifiedImageError:
            raise ValueError(f"{path} is not an image that Pillow can read; save it as PNG or JPEG.") from None
        fitted = ImageOps.fit(upright, (width, height), method=Image.Resampling.LANCZOS)
        pixels = torch.from_numpy(np.asarray(fitted, dtype=np.float32) / 255.0).reshape(height, width, channels)
        low, high = self.value_range
        return (low + (high - low) * pixels).permute(2, 0, 1).unsqueeze(0).contiguous()
