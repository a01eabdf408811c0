"""DDPM for SPEC Part B: the noise schedule, forward process, ε-prediction loss and the T-step sampler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generator.mnist import BASE_SEED
from generator.mnist.precision import Precision, fastest_precision

NUM_TS = 300


@dataclass(frozen=True)
class DDPMSchedule:
    """β_t, α_t = 1 − β_t and ᾱ_t = ∏_{s≤t} α_s (float64) indexed t = 0..T, with β_0 = 0 and ᾱ_0 = 1 as padding."""

    betas: Tensor
    alphas: Tensor
    alpha_bars: Tensor

    @property
    def num_ts(self) -> int:
        return len(self.betas) - 1


def ddpm_schedule(num_ts: int = NUM_TS, beta_1: float = 1e-4, beta_T: float = 0.02) -> DDPMSchedule:
    """β = linspace(1e-4, 0.02, T), α = 1 − β, ᾱ = cumprod(α), padded at t = 0."""
    betas = torch.cat([torch.zeros(1, dtype=torch.float64), torch.linspace(beta_1, beta_T, num_ts, dtype=torch.float64)])
    alphas = 1.0 - betas
    return DDPMSchedule(betas, alphas, torch.cumprod(alphas, 0))


def _at(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """values[t] as float64 [N, 1, 1, 1] on like's device; coefficients are formed in float64 (1 − ᾱ_1 = 1e-4 loses digits in float32)."""
    return values.to(like.device)[t.to(like.device)].reshape(-1, 1, 1, 1)


def forward_process(x0: Tensor, t: Tensor, eps: Tensor, schedule: DDPMSchedule) -> Tensor:
    """x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε."""
    a_bar = _at(schedule.alpha_bars, t, x0)
    return a_bar.sqrt().to(x0.dtype) * x0 + (1.0 - a_bar).sqrt().to(x0.dtype) * eps


def one_step_estimate(x_t: Tensor, t: Tensor, eps: Tensor, schedule: DDPMSchedule) -> Tensor:
    """x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε) / sqrt(ᾱ_t)."""
    a_bar = _at(schedule.alpha_bars, t, x_t)
    return (x_t - (1.0 - a_bar).sqrt().to(x_t.dtype) * eps) / a_bar.sqrt().to(x_t.dtype)


def ddpm_step(x_t: Tensor, t: Tensor, eps: Tensor, z: Tensor, schedule: DDPMSchedule) -> tuple[Tensor, Tensor]:
    """x_{t−1} = sqrt(ᾱ_{t−1}) β_t/(1 − ᾱ_t) x̂_0 + sqrt(α_t)(1 − ᾱ_{t−1})/(1 − ᾱ_t) x_t + sqrt(β_t) z; returns (x_{t−1}, x̂_0)."""
    # 1. coefficients of SPEC's update at t and t − 1
    a_bar, a_bar_prev = _at(schedule.alpha_bars, t, x_t), _at(schedule.alpha_bars, t - 1, x_t)
    alpha, beta = _at(schedule.alphas, t, x_t), _at(schedule.betas, t, x_t)
    coef_x0 = (a_bar_prev.sqrt() * beta / (1.0 - a_bar)).to(x_t.dtype)
    coef_xt = (alpha.sqrt() * (1.0 - a_bar_prev) / (1.0 - a_bar)).to(x_t.dtype)
    # 2. predicted clean image, then the posterior sample
    x0_hat = one_step_estimate(x_t, t, eps, schedule)
    return coef_x0 * x0_hat + coef_xt * x_t + beta.sqrt().to(x_t.dtype) * z, x0_hat


def drop_classes(c: Tensor, p_uncond: float, generator: torch.Generator | None = None) -> Tensor:
    """Zero each one-hot row with probability p_uncond (classifier-free guidance training)."""
    keep = torch.rand(len(c), generator=generator, device=c.device) >= p_uncond
    return c * keep.to(c.dtype)[:, None]


def ddpm_loss(
    model: nn.Module,
    x0: Tensor,
    schedule: DDPMSchedule,
    c: Tensor | None = None,
    p_uncond: float = 0.1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """‖ε − ε_θ(x_t, t[, c])‖² with t ~ U{1..T}, ε ~ N(0, I); c (one-hot) is dropped with probability p_uncond."""
    t = torch.randint(1, schedule.num_ts + 1, (len(x0),), generator=generator, device=x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device)
    x_t = forward_process(x0, t, eps, schedule)
    t_norm = t.float() / schedule.num_ts
    eps_hat = model(x_t, t_norm) if c is None else model(x_t, t_norm, drop_classes(c, p_uncond, generator))
    return F.mse_loss(eps_hat.float(), eps)


def guided_eps(model: nn.Module, x_t: Tensor, t_norm: Tensor, c: Tensor, guidance_scale: float) -> Tensor:
    """ε = ε_u + γ(ε_c − ε_u), ε_u = ε_θ(x_t, t, c = 0); one batched pass for both (γ = 0 needs only ε_u)."""
    if guidance_scale == 0.0:
        return model(x_t, t_norm, torch.zeros_like(c)).float()
    both = model(torch.cat([x_t, x_t]), torch.cat([t_norm, t_norm]), torch.cat([torch.zeros_like(c), c])).float()
    eps_u, eps_c = both.chunk(2)
    return eps_u + guidance_scale * (eps_c - eps_u)


StepCallback = Callable[[dict[str, Tensor | int]], None]


@torch.no_grad()
def sample(
    model: nn.Module,
    x_T: Tensor,
    schedule: DDPMSchedule,
    c: Tensor | None = None,
    guidance_scale: float = 5.0,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
) -> Tensor:
    """DDPM ancestral sampling t = T … 1 (z = 0 at t = 1); CFG with scale γ when one-hot c is given.

    callback, if given, receives {"t", "x", "x0_hat"} after every step (x is x_{t−1}).
    """
    x = x_T
    for step in range(schedule.num_ts, 0, -1):
        t = torch.full((len(x),), step, dtype=torch.long, device=x.device)
        t_norm = t.float() / schedule.num_ts
        eps = model(x, t_norm).float() if c is None else guided_eps(model, x, t_norm, c, guidance_scale)
        z = torch.randn(x.shape, generator=generator, device=x.device) if step > 1 else torch.zeros_like(x)
        x, x0_hat = ddpm_step(x, t, eps, z, schedule)
        if callback is not None:
            callback({"t": step, "x": x, "x0_hat": x0_hat})
    return x


def sample_digits(
    model: nn.Module,
    num_samples: int,
    precision: Precision | None = None,
    c: Tensor | None = None,
    guidance_scale: float = 5.0,
    seed: int = BASE_SEED,
    callback: StepCallback | None = None,
    schedule: DDPMSchedule | None = None,
) -> Tensor:
    """Seeded DDPM samples as CPU float32 [N, 1, 28, 28] clamped to [0, 1]; c (one-hot [N, 10]) selects CFG."""
    precision = precision or fastest_precision(next(model.parameters()).device)
    schedule = schedule or ddpm_schedule()
    generator = torch.Generator(precision.device).manual_seed(seed)
    x_T = torch.randn((num_samples, 1, 28, 28), generator=generator, device=precision.device)
    was_training = model.training
    model = precision.prepare(model).eval()
    with precision.autocast():
        x0 = sample(model, precision.inputs(x_T), schedule, None if c is None else c.to(precision.device), guidance_scale, generator, callback)
    model.train(was_training)
    return x0.float().clamp(0.0, 1.0).cpu()
