"""The class-conditioned MNIST UNet of section 2.3 as a Part A backend, on DeepFloyd IF's timestep grid."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generator.diffusion.backends.base import Backend, BackendUnavailable
from generator.diffusion.estimators import Estimator
from generator.diffusion.schedule import NoiseSchedule, if_schedule

UNET_FILE = "unet.safetensors"
CLASSIFIER_FILE = "classifier.safetensors"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_PROMPT = re.compile(r"^(?:a handwritten |the digit )?([0-9]|" + "|".join(DIGIT_WORDS) + r")$")
ACCEPTED = '"7", "seven", "a handwritten 7" or "the digit 7" (any digit 0-9), or "" for unconditional'


def digit_of(prompt: str) -> int | None:
    """The digit a prompt names ("7", "seven", "a handwritten 7", "the digit 7"), None for ""."""
    text = prompt.strip().lower()
    if text == "":
        return None
    match = _PROMPT.match(text)
    if match is None:
        raise ValueError(f"The mnist backend can't draw {prompt!r}; its prompts are {ACCEPTED}.")
    word = match.group(1)
    return int(word) if word.isdigit() else DIGIT_WORDS.index(word)


def matched_noise_level(alpha_bar: float) -> float:
    """ᾱ' of the same signal-to-noise ratio for images in [0, 1] instead of [-1, 1]: ᾱ' = 4ᾱ / (1 + 3ᾱ).

    x_t = sqrt(ᾱ)(2y − 1) + sqrt(1 − ᾱ)ε with y in [0, 1] carries the signal y at SNR 4ᾱ/(1 − ᾱ).
    """
    return 4.0 * alpha_bar / (1.0 + 3.0 * alpha_bar)


class MnistBackend(Backend):
    """Section 2.3's ε_θ(x_t, t, c) (T = 300, linear β, images in [0, 1]) seen through IF's 1000-step grid in [-1, 1].

    A timestep t of the IF grid is mapped by noise level: ᾱ' = matched_noise_level(ᾱ_IF(t)) and the model's own
    (fractional) timestep s with ᾱ_MNIST(s) = ᾱ'. The MNIST schedule stops at ᾱ_MNIST(300) ≈ 0.049 while IF's grid goes
    down to 2e-4, so noisier inputs are clamped to s = 300 (the input keeps its own, correct scaling): there x_t is
    almost pure noise, the best ε estimate is nearly x_t itself, and the model at its noisiest level gives about that;
    the steps below t ≈ 870, where the grids overlap, then draw the digit.
    """

    name = "mnist"
    label = "MNIST UNet"
    image_shape = (1, 28, 28)
    predicts_variance = False

    def __init__(self, unet_dir: Path, classifier_dir: Path | None = None, device: str | None = None) -> None:
        self.unet_dir = Path(unet_dir)
        self.classifier_dir = Path(classifier_dir) if classifier_dir else None
        self.device = torch.device(device or "cpu")

    @cached_property
    def schedule(self) -> NoiseSchedule:
        """Part A always runs on IF's grid; this backend maps it to its own schedule inside the estimator."""
        return if_schedule()

    @cached_property
    def own_schedule(self) -> NoiseSchedule:
        from generator.mnist.objectives import part_b_schedule

        return part_b_schedule()

    @cached_property
    def unet(self) -> torch.nn.Module:
        from generator.mnist.checkpoint import load_model

        path = self.unet_dir / UNET_FILE
        if not path.is_file():
            raise BackendUnavailable(f"The mnist backend needs the class-conditioned UNet of section 2.3 at {path}; run `gen build --section 2.3`.")
        return load_model(path).to(self.device).eval()

    @cached_property
    def classifier(self) -> torch.nn.Module | None:
        from generator.mnist.checkpoint import load_model

        path = (self.classifier_dir / CLASSIFIER_FILE) if self.classifier_dir else None
        return load_model(path).to(self.device).eval() if path is not None and path.is_file() else None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "label": self.label, "unet": str(self.unet_dir / UNET_FILE), "device": self.device.type}

    def encode(self, prompt: str) -> torch.Tensor:
        """One-hot class vector [1, 10]; the zero vector for "" (the unconditional input the model was trained with)."""
        digit = digit_of(prompt)
        one_hot = torch.zeros(1, 10)
        if digit is not None:
            one_hot[0, digit] = 1.0
        return one_hot

    def own_timestep(self, alpha_bar: float) -> float:
        """The model's fractional timestep s ∈ [1, T] whose ᾱ equals `alpha_bar` (clamped at both ends)."""
        own = self.own_schedule.alphas_cumprod.double().numpy()
        steps = np.arange(1, len(own) + 1, dtype=np.float64)
        # ᾱ decreases with s; np.interp wants increasing x, and clamps outside the range.
        return float(np.interp(alpha_bar, own[::-1], steps[::-1]))

    def estimator(self, prompt_embeds: torch.Tensor) -> Estimator:
        """ε̂ for x_t on IF's grid: rescale x_t to the model's range and noise level, then ask the UNet."""
        from generator.mnist.estimators import guided_output

        num_steps = self.own_schedule.num_train_timesteps

        @torch.no_grad()
        def estimate(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, None]:
            alpha_bar = self.schedule.alpha_bar(t)
            matched = matched_noise_level(alpha_bar)
            s = self.own_timestep(matched)
            # y = sqrt(ᾱ')/sqrt(ᾱ) · (x_t + sqrt(ᾱ)) / 2 = sqrt(ᾱ') y₀ + sqrt(1 − ᾱ') ε: the same ε, in the model's units.
            y = (matched / alpha_bar) ** 0.5 * (x_t + alpha_bar**0.5) / 2.0
            n = x_t.shape[0]
            t_in = torch.full((n,), s / num_steps, device=self.device)  # SPEC's t/T, s on the model's 1-based scale
            c = prompt_embeds.to(self.device).expand(n, -1)
            return guided_output(self.unet, y.to(self.device), t_in, c).cpu(), None

        return estimate

    def generate(
        self,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor,
        generator: torch.Generator | None,
        num_inference_steps: int,
        guidance_scale: float = 7.0,
    ) -> torch.Tensor:
        """CFG samples [1, 1, 28, 28] from pure noise through the strided DDPM loop, `num_inference_steps` steps on IF's grid."""
        from generator.diffusion.estimators import cfg
        from generator.diffusion.sampling import sample
        from generator.diffusion.schedule import strided_timesteps

        timesteps = strided_timesteps(990, max(1, 1000 // num_inference_steps))
        noise = torch.randn((1, *self.image_shape), generator=generator)
        estimate = cfg(self.estimator(prompt_embeds), self.estimator(negative_embeds), guidance_scale)
        return sample(estimate, self.schedule, timesteps, noise, generator=generator)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities [N, 11] of images in [-1, 1] by the 2.0 classifier: digits 0-9, then column 10, "not a digit"."""
        from generator.mnist.classifier import class_probabilities

        if self.classifier is None:
            raise BackendUnavailable("The mnist backend has no classifier; run `gen build --section 2.0`.")
        return class_probabilities(self.classifier, (images + 1) / 2)

    def score(self, images: torch.Tensor, prompt: str) -> torch.Tensor:
        """How surely each image reads as the prompt's digit: the 2.0 classifier's probability of it, [N]; blobs and
        scribbles score low, since the classifier gives them to "not a digit"."""
        digit = digit_of(prompt)
        if digit is None:
            raise ValueError("The mnist backend scores a sample against a digit; the empty prompt names none.")
        return self.classify(images)[:, digit]
