"""The DeepFloyd IF noise schedule: ᾱ, the forward process and the strided timesteps."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# DeepFloyd/IF-I-XL-v1.0 scheduler/scheduler_config.json (the same for IF-I-L and IF-I-M).
IF_STAGE_I_SCHEDULER_CONFIG: dict = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "variance_type": "learned_range",
    "prediction_type": "epsilon",
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "thresholding": True,
    "dynamic_thresholding_ratio": 0.95,
    "sample_max_value": 1.5,
}


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete DDPM schedule: βₜ and ᾱₜ = ∏ₛ≤ₜ (1 − βₛ) for t = 0 … T−1 (0-based, as diffusers counts).

    `variance_type` is the σ² a sampling step adds when the model predicts none: "fixed_small" (β̃ₜ, IF's base) or
    "fixed_large" (βₜ, SPEC Part B); "learned_range" models return their own interpolation v.
    """

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    variance_type: str = "learned_range"

    @property
    def num_train_timesteps(self) -> int:
        return int(self.betas.shape[0])

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """The same schedule with its tensors on `device` (for batched timesteps in a training loop)."""
        return NoiseSchedule(self.betas.to(device), self.alphas_cumprod.to(device), self.variance_type)

    def alpha_bar(self, t: int) -> float:
        """ᾱₜ as a Python float; ᾱ₋₁ = 1 (the step after the last one is clean)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def timestep_for_alpha_bar(self, alpha_bar: float) -> int:
        """The timestep whose ᾱ is nearest to `alpha_bar` (noise-level matching)."""
        return int(torch.argmin((self.alphas_cumprod.double() - alpha_bar).abs()))


def if_schedule() -> NoiseSchedule:
    """DeepFloyd IF stage I's schedule, built by diffusers' DDPMScheduler from its config (no weights)."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler.from_config(IF_STAGE_I_SCHEDULER_CONFIG)
    return NoiseSchedule(
        betas=scheduler.betas.clone(),
        alphas_cumprod=scheduler.alphas_cumprod.clone(),
        variance_type=scheduler.config.variance_type,
    )


def linear_schedule(num_train_timesteps: int = 300, beta_start: float = 1e-4, beta_end: float = 0.02, variance_type: str = "fixed_large") -> NoiseSchedule:
    """β = linspace(beta_start, beta_end, T), the schedule of the MNIST models (SPEC Part B: T = 300, σ² = β_t).

    Kept in float64: 1 − ᾱ at the first step is 1e-4, which float32 holds to only three digits. SPEC counts t = 1 … T
    with ᾱ_0 = 1; here SPEC's t is index t − 1, and alpha_bar(−1) = 1 plays ᾱ_0.
    """
    betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    return NoiseSchedule(betas=betas, alphas_cumprod=torch.cumprod(1.0 - betas, dim=0), variance_type=variance_type)


def strided_timesteps(start: int = 990, stride: int = 30) -> list[int]:
    """`range(990, -1, -30)`: 34 timesteps from 990 down to 0; `i_start` indexes this list."""
    return list(range(start, -1, -stride))


def forward(x0: torch.Tensor, t: int | torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε; t is one timestep, or a LongTensor [N] of one per image (training)."""
    if isinstance(t, int):
        alpha_bar = schedule.alpha_bar(t)
        return alpha_bar**0.5 * x0 + (1.0 - alpha_bar) ** 0.5 * noise
    # per-image coefficients [N, 1, 1, 1], formed in the schedule's float64 on its device (schedule.to(x0.device) avoids a copy)
    alpha_bar = schedule.alphas_cumprod.to(x0.device)[t].view(-1, *([1] * (x0.dim() - 1)))
    return alpha_bar.sqrt().to(x0.dtype) * x0 + (1.0 - alpha_bar).sqrt().to(x0.dtype) * noise
