"""The Part B UNets as noise estimators of the one DDPM core and as velocities of the one flow core in generator/diffusion
(as k-diffusion's external.py wraps a model), and seeded sampling of digits through either loop."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from generator.diffusion.estimators import Estimator
from generator.diffusion.flow import Velocity, sample_euler
from generator.diffusion.sampling import Callback, sample
from generator.diffusion.schedule import NoiseSchedule
from generator.mnist import BASE_SEED
from generator.mnist.objectives import model_time, part_b_schedule
from generator.mnist.precision import Precision, fastest_precision
from generator.mnist.unet import fold_batchnorm


def guided_output(model: nn.Module, x_t: Tensor, t_in: Tensor, c: Tensor | None = None, guidance_scale: float = 1.0) -> Tensor:
    """The UNet's output (ε̂ or a velocity) in float32; with c and γ ≠ 1, CFG f = f_u + γ(f_c − f_u), f_u the output at
    c = 0, in one batched pass."""
    if c is None:
        return model(x_t, t_in).float()
    if guidance_scale == 1.0:
        return model(x_t, t_in, c).float()
    if guidance_scale == 0.0:
        return model(x_t, t_in, torch.zeros_like(c)).float()
    both = model(torch.cat([x_t, x_t]), torch.cat([t_in, t_in]), torch.cat([torch.zeros_like(c), c])).float()
    eps_u, eps_c = both.chunk(2)
    return eps_u + guidance_scale * (eps_c - eps_u)


def unet_estimator(model: nn.Module, schedule: NoiseSchedule, c: Tensor | None = None, guidance_scale: float = 1.0) -> Estimator:
    """An Estimator (x_t, t) ↦ (ε̂, None) on the model's own 0-based grid: the UNet sees SPEC's t/T = (t + 1)/T."""
    num_timesteps = schedule.num_train_timesteps

    def estimate(x_t: Tensor, t: int) -> tuple[Tensor, None]:
        t_in = torch.full((len(x_t),), model_time(t, num_timesteps), device=x_t.device)
        return guided_output(model, x_t, t_in, c, guidance_scale), None

    return estimate


def unet_velocity(model: nn.Module, c: Tensor | None = None, guidance_scale: float = 1.0) -> Velocity:
    """A Velocity (x_t, t) ↦ u_θ(x_t, t[, c]) for the flow core: the UNet's time input is the flow's own t ∈ [0, 1]."""

    def velocity(x_t: Tensor, t: Tensor) -> Tensor:
        return guided_output(model, x_t, t.to(x_t.device), c, guidance_scale)

    return velocity


def ddpm_timesteps(schedule: NoiseSchedule, steps: int | None = None) -> list[int]:
    """The DDPM grid, from the noisiest index down to 0: all T steps (SPEC Part B: t = T … 1 are indices T − 1 … 0), or
    `steps` of them evenly strided, as Part A strides IF's grid."""
    last = schedule.num_train_timesteps - 1
    if steps is None or steps > last:
        return list(range(last, -1, -1))
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}.")
    if steps == 1:
        return [last]
    return sorted({round(last * i / (steps - 1)) for i in range(steps)}, reverse=True)


Sampler = Literal["ddpm", "flow"]


CPU_CHUNK = 200  # images per forward pass on a CPU: a batch of 1,000 ran slower per image (caches; BENCHMARKS.md)


@torch.no_grad()
def sample_digits(
    model: nn.Module,
    num_samples: int,
    *,
    c: Tensor | None = None,
    guidance_scale: float = 5.0,
    seed: int = BASE_SEED,
    precision: Precision | None = None,
    callback: Callback | None = None,
    schedule: NoiseSchedule | None = None,
    sampler: Sampler = "ddpm",
    steps: int | None = None,
) -> Tensor:
    """Seeded samples as CPU float32 [N, 1, 28, 28] clamped to [0, 1]: DDPM (SPEC Part B: x_T ~ N(0, I), all T steps or
    `steps` strided ones, + sqrt(β_t) z) or flow matching (Euler from x₀ ~ N(0, I) in `steps` steps); with one-hot c
    [N, 10], classifier-free guidance of scale γ. The noise is drawn on the model's device; a CPU runs CPU_CHUNK images
    per forward pass (callback sees the first chunk), a GPU all at once. The model is left as it was: sampling runs an
    eval-mode copy with its BatchNorms folded into the convolutions (unet.fold_batchnorm)."""
    if sampler == "flow" and steps is None:
        raise ValueError("flow matching samples need a number of Euler steps; pass steps=.")
    precision = precision or fastest_precision(next(model.parameters()).device)
    schedule = schedule or part_b_schedule()
    generator = torch.Generator(precision.device).manual_seed(seed)
    x_T = precision.inputs(torch.randn((num_samples, 1, 28, 28), generator=generator, device=precision.device))
    c = None if c is None else c.to(precision.device)
    model = fold_batchnorm(precision.prepare(model))
    # CFG runs two passes per sample in one batch: halve the chunk so that a forward pass stays at CPU_CHUNK images
    guided = c is not None and guidance_scale not in (0.0, 1.0)
    chunk = num_samples if precision.device.type == "cuda" else CPU_CHUNK // (2 if guided else 1)
    parts = []
    for start in range(0, num_samples, chunk):
        c_chunk, seen = None if c is None else c[start : start + chunk], callback if start == 0 else None
        with precision.autocast():
            if sampler == "flow":
                x = sample_euler(unet_velocity(model, c_chunk, guidance_scale), x_T[start : start + chunk], steps, callback=seen)
            else:
                estimator = unet_estimator(model, schedule, c_chunk, guidance_scale)
                x = sample(estimator, schedule, ddpm_timesteps(schedule, steps), x_T[start : start + chunk], generator=generator, callback=seen)
        parts.append(x.float().clamp(0.0, 1.0).cpu())
    return torch.cat(parts)
