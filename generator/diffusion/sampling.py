"""The one-step estimate and the one strided DDPM loop, with SDEdit and inpainting built on it (SPEC Part A).

x̂₀ processing: by default x̂₀ is used as the SPEC formulas give it (`clip_x0="none"`). DeepFloyd's own
pipeline runs diffusers' `DDPMScheduler` with IF's config, which applies Imagen's dynamic thresholding to
x̂₀ (ratio 0.95, max 1.5) before the posterior mean; `clip_x0="dynamic"` reproduces that step exactly and
`clip_x0="clip"` clamps x̂₀ to [−1, 1] (diffusers' `clip_sample`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from generator.diffusion.estimators import Estimator
from generator.diffusion.schedule import (
    IF_STAGE_I_SCHEDULER_CONFIG,
    NoiseSchedule,
    forward,
)

# "fixed": σ² = β̃_t (diffusers' fixed_small); "fixed_large": σ² = β_t (SPEC Part B); "auto": "learned" when the
# estimator returns v, else the schedule's own variance_type.
Variance = Literal["auto", "learned", "fixed", "fixed_large", "none"]
ClipX0 = Literal["none", "clip", "dynamic"]
Callback = Callable[[dict[str, Any]], None]
Projection = Callable[[torch.Tensor, int], torch.Tensor]


@torch.no_grad()
def one_step_estimate(x_t: torch.Tensor, t: int, eps: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """One-step estimate: x̂₀ = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t)."""
    alpha_bar = schedule.alpha_bar(t)
    return (x_t - math.sqrt(1.0 - alpha_bar) * eps) / math.sqrt(alpha_bar)


def dynamic_threshold(
    x0: torch.Tensor,
    ratio: float = IF_STAGE_I_SCHEDULER_CONFIG["dynamic_thresholding_ratio"],
    max_value: float = IF_STAGE_I_SCHEDULER_CONFIG["sample_max_value"],
) -> torch.Tensor:
    """Imagen's dynamic thresholding: s = clamp(quantile_ratio |x̂₀|, 1, max) per image; x̂₀ ← clamp(x̂₀, −s, s) / s."""
    flat = x0.float().flatten(1)  # quantile needs float32/64, as in diffusers
    s = torch.quantile(flat.abs(), ratio, dim=1).clamp(1.0, max_value).unsqueeze(1)
    return (flat.clamp(-s, s) / s).reshape(x0.shape).to(x0.dtype)


@torch.no_grad()
def ddpm_step(
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    eps: torch.Tensor,
    v: torch.Tensor | None,
    schedule: NoiseSchedule,
    *,
    generator: torch.Generator | None = None,
    variance: Variance = "auto",
    clip_x0: ClipX0 = "none",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One strided DDPM step t → t' (DDPM eq. 7; σ² = β̃, β or the learned range of Nichol & Dhariwal eq. 15); returns (x_t', x̂₀)."""
    # 1. alphas and betas of the strided step: α_t = ᾱ_t / ᾱ_t', β_t = 1 − α_t
    alpha_bar, alpha_bar_prev = schedule.alpha_bar(t), schedule.alpha_bar(t_prev)
    alpha = alpha_bar / alpha_bar_prev
    beta = 1.0 - alpha

    # 2. x̂₀ = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t), then optional clipping
    x0 = one_step_estimate(x_t, t, eps, schedule)
    if clip_x0 == "dynamic":
        x0 = dynamic_threshold(x0)
    elif clip_x0 == "clip":
        x0 = x0.clamp(-1.0, 1.0)
    elif clip_x0 != "none":
        raise ValueError(f"clip_x0 must be 'none', 'clip' or 'dynamic'; got {clip_x0!r}.")

    # 3. posterior mean: sqrt(ᾱ_t') β_t / (1 − ᾱ_t) x̂₀ + sqrt(α_t) (1 − ᾱ_t') / (1 − ᾱ_t) x_t
    x0_coeff = math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar)
    x_t_coeff = math.sqrt(alpha) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    x_prev = x0_coeff * x0 + x_t_coeff * x_t

    # 4. v_σ = σ z, nothing added on the last step (t' < 0)
    return _add_noise(x_prev, x_t, t_prev, v, schedule, alpha_bar, alpha_bar_prev, beta, generator, variance), x0


def _add_noise(
    x_prev: torch.Tensor,
    x_t: torch.Tensor,
    t_prev: int,
    v: torch.Tensor | None,
    schedule: NoiseSchedule,
    alpha_bar: float,
    alpha_bar_prev: float,
    beta: float,
    generator: torch.Generator | None,
    variance: Variance,
) -> torch.Tensor:
    """Stage 4 of `ddpm_step`: x_t' = μ + σ z with σ² = β̃, β or the learned interpolation; μ alone when t' < 0."""
    if variance == "auto":
        variance = "learned" if v is not None else ("fixed_large" if schedule.variance_type == "fixed_large" else "fixed")
    if variance not in ("learned", "fixed", "fixed_large", "none"):
        raise ValueError(f"variance must be 'auto', 'learned', 'fixed', 'fixed_large' or 'none'; got {variance!r}.")
    if variance == "learned" and v is None:
        raise ValueError("variance='learned' needs an estimator that returns v; use variance='fixed' or 'auto'.")
    if variance == "none" or t_prev < 0:
        return x_prev
    z = _randn_like(x_t, generator)
    if variance == "fixed_large":
        # SPEC Part B: + sqrt(β_t) z
        return x_prev + math.sqrt(beta) * z
    # β̃ = (1 − ᾱ_t') / (1 − ᾱ_t) β_t, clamped as in diffusers' `_get_variance`
    beta_tilde = max((1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta, 1e-20)
    if variance == "fixed":
        return x_prev + math.sqrt(beta_tilde) * z
    # log σ² = f log β_t + (1 − f) log β̃ with f = (v + 1) / 2
    frac = (v + 1.0) / 2.0
    log_variance = frac * math.log(beta) + (1.0 - frac) * math.log(beta_tilde)
    return x_prev + torch.exp(0.5 * log_variance) * z


@torch.no_grad()
def sample(
    estimator: Estimator,
    schedule: NoiseSchedule,
    timesteps: Sequence[int],
    x: torch.Tensor,
    *,
    i_start: int = 0,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    projection: Projection | None = None,
    variance: Variance = "auto",
    clip_x0: ClipX0 = "none",
) -> torch.Tensor:
    """Iterative denoising: DDPM steps from x at timesteps[i_start] down to x₀ (Part A's strided grid; Part B's every t)."""
    if not 0 <= i_start < len(timesteps):
        raise ValueError(f"i_start must index the {len(timesteps)} timesteps; got {i_start}.")
    for i in range(i_start, len(timesteps)):
        t = int(timesteps[i])
        t_prev = int(timesteps[i + 1]) if i + 1 < len(timesteps) else -1
        eps, v = estimator(x, t)
        x, x0 = ddpm_step(x, t, t_prev, eps, v, schedule, generator=generator, variance=variance, clip_x0=clip_x0)
        if projection is not None:
            x = projection(x, t_prev)
        if callback is not None:
            callback({"i": i, "t": t, "t_prev": t_prev, "last": t_prev < 0, "x": x, "x0": x0})
    return x


@torch.no_grad()
def sdedit(
    estimator: Estimator,
    schedule: NoiseSchedule,
    timesteps: Sequence[int],
    image: torch.Tensor,
    i_start: int,
    noise: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    callback: Callback | None = None,
    variance: Variance = "auto",
    clip_x0: ClipX0 = "none",
) -> torch.Tensor:
    """SDEdit: x = forward(image, timesteps[i_start]), then iterative denoising from i_start."""
    x = forward(image, int(timesteps[i_start]), schedule, noise)
    return sample(estimator, schedule, timesteps, x, i_start=i_start, generator=generator, callback=callback, variance=variance, clip_x0=clip_x0)


@torch.no_grad()
def inpaint(
    estimator: Estimator,
    schedule: NoiseSchedule,
    timesteps: Sequence[int],
    image: torch.Tensor,
    mask: torch.Tensor,
    noise: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    callback: Callback | None = None,
    variance: Variance = "auto",
    clip_x0: ClipX0 = "none",
) -> torch.Tensor:
    """Inpainting (RePaint-style): after every step x_t ← m x_t + (1 − m) forward(image, t), m = 1 where new content goes."""
    mask = mask.to(dtype=noise.dtype, device=noise.device)

    def keep_known_pixels(x: torch.Tensor, t: int) -> torch.Tensor:
        # at t = −1, ᾱ = 1 and forward() returns the image itself: the known pixels come back exactly
        return mask * x + (1.0 - mask) * forward(image, t, schedule, _randn_like(x, generator))

    return sample(estimator, schedule, timesteps, noise, generator=generator, callback=callback, projection=keep_known_pixels, variance=variance, clip_x0=clip_x0)


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # drawn on the generator's device, as diffusers' `randn_tensor` does, so a seed means the same noise anywhere
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
