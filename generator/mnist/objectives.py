"""What the Part B models are trained to minimise: the L2 of the single-step denoiser, DDPM's ε-prediction loss and flow
matching's velocity loss."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generator.diffusion.flow import interpolate, target_velocity
from generator.diffusion.schedule import NoiseSchedule, forward, linear_schedule

NUM_TIMESTEPS = 300  # SPEC Part B: T = 300, β = linspace(1e-4, 0.02, T)

BatchLoss = Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor]


def part_b_schedule() -> NoiseSchedule:
    """SPEC Part B's schedule: T = 300, β linear from 1e-4 to 0.02, sampling noise sqrt(β_t) z."""
    return linear_schedule(NUM_TIMESTEPS, 1e-4, 0.02, variance_type="fixed_large")


def model_time(t: Tensor | int, num_timesteps: int) -> Tensor | float:
    """The UNets' time input t/T of SPEC, for the 0-based timestep index t of NoiseSchedule (SPEC's t is index + 1)."""
    return (t + 1) / num_timesteps


def denoiser_loss(sigma: float) -> BatchLoss:
    """‖D_θ(z) − x‖² with z = x + σε, ε resampled every batch (SPEC 2.1)."""

    def loss(model: nn.Module, x: Tensor, _labels: Tensor, generator: torch.Generator) -> Tensor:
        z = x + sigma * torch.randn(x.shape, generator=generator, device=x.device)
        return F.mse_loss(model(z).float(), x)

    return loss


def epsilon_loss(schedule: NoiseSchedule, p_uncond: float | None = None) -> BatchLoss:
    """‖ε − ε_θ(x_t, t[, c])‖² with t ~ U{1..T}, ε ~ N(0, I) (SPEC 2.2); with p_uncond, the class-conditioned loss of
    SPEC 2.3: c = one-hot of the label, dropped to 0 with probability p_uncond."""
    on_device: dict[torch.device, NoiseSchedule] = {}  # the schedule's ᾱ copied to the training device once

    def loss(model: nn.Module, x0: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        if x0.device not in on_device:
            on_device[x0.device] = schedule.to(x0.device)
        t = torch.randint(0, schedule.num_train_timesteps, (len(x0),), generator=generator, device=x0.device)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device)
        x_t = forward(x0, t, on_device[x0.device], eps)
        t_in = model_time(t, schedule.num_train_timesteps).float()
        if p_uncond is None:
            return F.mse_loss(model(x_t, t_in).float(), eps)
        c = drop_classes(F.one_hot(labels, 10).float(), p_uncond, generator)
        return F.mse_loss(model(x_t, t_in, c).float(), eps)

    return loss


def flow_loss(p_uncond: float | None = None) -> BatchLoss:
    """‖(x₁ − x₀) − u_θ(x_t, t[, c])‖² with x₀ ~ N(0, I), t ~ U[0, 1], x_t = (1 − t) x₀ + t x₁ (flow matching, the course's
    t = 0 noise, t = 1 data); with p_uncond, the class-conditioned loss: c = one-hot of the label, dropped with p_uncond."""

    def loss(model: nn.Module, x1: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device)
        t = torch.rand(len(x1), generator=generator, device=x1.device)
        x_t = interpolate(x0, x1, t)
        if p_uncond is None:
            return F.mse_loss(model(x_t, t).float(), target_velocity(x0, x1))
        c = drop_classes(F.one_hot(labels, 10).float(), p_uncond, generator)
        return F.mse_loss(model(x_t, t, c).float(), target_velocity(x0, x1))

    return loss


def drop_classes(c: Tensor, p_uncond: float, generator: torch.Generator | None = None) -> Tensor:
    """Zero each one-hot row with probability p_uncond (classifier-free guidance training)."""
    keep = torch.rand(len(c), generator=generator, device=c.device) >= p_uncond
    return c * keep.to(c.dtype)[:, None]
