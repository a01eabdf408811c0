"""DDPM of SPEC Part B against closed forms: schedule, forward process, x̂_0 inversion, sampling step, CFG."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from generator.mnist.ddpm import ddpm_schedule, ddpm_step, drop_classes, forward_process, guided_eps, one_step_estimate, sample

SCHEDULE = ddpm_schedule()


def test_schedule_is_spec_linspace_and_alpha_bar_is_the_running_product() -> None:
    assert SCHEDULE.num_ts == 300
    assert math.isclose(SCHEDULE.betas[1].item(), 1e-4, rel_tol=1e-5) and math.isclose(SCHEDULE.betas[300].item(), 0.02, rel_tol=1e-5)
    for t in (1, 2, 150, 300):
        expected = math.prod(1.0 - b for b in torch.linspace(1e-4, 0.02, 300, dtype=torch.float64)[:t].tolist())
        assert math.isclose(SCHEDULE.alpha_bars[t].item(), expected, rel_tol=1e-5)
    assert SCHEDULE.alpha_bars[0].item() == 1.0


def test_forward_process_has_mean_sqrt_alpha_bar_x0_and_variance_one_minus_alpha_bar() -> None:
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 2, 2), 0.7)
    t = torch.full((20000,), 120)
    x_t = forward_process(x0, t, torch.randn(x0.shape, generator=g), SCHEDULE)
    a_bar = SCHEDULE.alpha_bars[120].item()
    assert abs(x_t.mean().item() - math.sqrt(a_bar) * 0.7) < 0.01
    assert abs(x_t.var().item() - (1 - a_bar)) < 0.01


def test_one_step_estimate_with_true_noise_returns_x0() -> None:
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.rand(5, 1, 28, 28, generator=g), torch.randn(5, 1, 28, 28, generator=g)
    t = torch.tensor([1, 50, 150, 250, 300])
    assert torch.allclose(one_step_estimate(forward_process(x0, t, eps, SCHEDULE), t, eps, SCHEDULE), x0, atol=1e-4)


def test_sampling_step_equals_ddpm_posterior_mean_plus_sqrt_beta_noise() -> None:
    """SPEC's x̂_0 form equals Ho et al. eq. 11: (x_t − β_t/sqrt(1 − ᾱ_t) ε)/sqrt(α_t) + sqrt(β_t) z."""
    g = torch.Generator().manual_seed(2)
    x_t, eps, z = (torch.randn(4, 1, 28, 28, generator=g) for _ in range(3))
    t = torch.tensor([2, 30, 200, 300])
    a, b, a_bar = (v[t].reshape(-1, 1, 1, 1).float() for v in (SCHEDULE.alphas, SCHEDULE.betas, SCHEDULE.alpha_bars))
    expected = (x_t - b / (1 - a_bar).sqrt() * eps) / a.sqrt() + b.sqrt() * z
    x_prev, _ = ddpm_step(x_t, t, eps, z, SCHEDULE)
    assert torch.allclose(x_prev, expected, atol=1e-4)


def test_last_sampling_step_returns_the_one_step_estimate() -> None:
    g = torch.Generator().manual_seed(3)
    x_1, eps = torch.randn(2, 1, 28, 28, generator=g), torch.randn(2, 1, 28, 28, generator=g)
    t = torch.ones(2, dtype=torch.long)
    x0, x0_hat = ddpm_step(x_1, t, eps, torch.zeros_like(x_1), SCHEDULE)
    assert torch.allclose(x0, x0_hat, atol=1e-6)


class OracleEps(nn.Module):
    """ε_θ(x_t, t) that knows x_0: ε = (x_t − sqrt(ᾱ_t) x_0)/sqrt(1 − ᾱ_t)."""

    def __init__(self, x0: Tensor) -> None:
        super().__init__()
        self.x0 = x0

    def forward(self, x_t: Tensor, t_norm: Tensor) -> Tensor:
        a_bar = SCHEDULE.alpha_bars[(t_norm * SCHEDULE.num_ts).round().long()].reshape(-1, 1, 1, 1).float()
        return (x_t - a_bar.sqrt() * self.x0) / (1 - a_bar).sqrt()


def test_sampling_with_oracle_noise_prediction_recovers_x0_and_reports_every_step() -> None:
    g = torch.Generator().manual_seed(4)
    x0 = torch.rand(3, 1, 28, 28, generator=g)
    steps: list[int] = []
    out = sample(OracleEps(x0), torch.randn(3, 1, 28, 28, generator=g), SCHEDULE, generator=g, callback=lambda info: steps.append(info["t"]))
    assert torch.allclose(out, x0, atol=1e-3)
    assert steps == list(range(300, 0, -1))


class LinearInClass(nn.Module):
    """ε = sum of the one-hot class vector, so ε_u = 0 and ε_c = 1 everywhere."""

    def forward(self, x: Tensor, t_norm: Tensor, c: Tensor) -> Tensor:
        return torch.ones_like(x) * c.sum(dim=1).reshape(-1, 1, 1, 1)


def test_cfg_combines_unconditional_and_conditional_noise_with_scale_gamma() -> None:
    x, t, c = torch.randn(2, 1, 28, 28), torch.rand(2), torch.eye(10)[:2]
    for gamma in (0.0, 1.0, 5.0):
        assert torch.allclose(guided_eps(LinearInClass(), x, t, c, gamma), torch.full_like(x, gamma))


def test_class_dropping_zeroes_about_p_uncond_of_the_rows() -> None:
    c = torch.eye(10).repeat(1000, 1)
    dropped = drop_classes(c, 0.1, torch.Generator().manual_seed(5))
    share_zero = (dropped.sum(dim=1) == 0).float().mean().item()
    assert abs(share_zero - 0.1) < 0.015
    assert torch.equal(dropped[dropped.sum(dim=1) > 0], c[dropped.sum(dim=1) > 0])
