"""Part B's DDPM runs on the one core of generator/diffusion: SPEC's T = 300 schedule, per-image forward process,
ε-prediction training timesteps, the sqrt(β_t) z sampling step, oracle recovery of x₀, and batched CFG."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from generator.diffusion.estimators import cfg
from generator.diffusion.sampling import ddpm_step, sample
from generator.diffusion.schedule import forward
from generator.mnist.estimators import ddpm_timesteps, guided_output, sample_digits, unet_estimator
from generator.mnist.objectives import drop_classes, epsilon_loss, model_time, part_b_schedule

SCHEDULE = part_b_schedule()


def test_schedule_is_spec_linspace_and_alpha_bar_is_the_running_product() -> None:
    assert SCHEDULE.num_train_timesteps == 300 and SCHEDULE.variance_type == "fixed_large"
    assert math.isclose(SCHEDULE.betas[0].item(), 1e-4) and math.isclose(SCHEDULE.betas[299].item(), 0.02)
    betas = torch.linspace(1e-4, 0.02, 300, dtype=torch.float64).tolist()
    for spec_t in (1, 2, 150, 300):  # SPEC's t = 1..T is index t − 1
        assert math.isclose(SCHEDULE.alpha_bar(spec_t - 1), math.prod(1.0 - b for b in betas[:spec_t]), rel_tol=1e-12)
    assert SCHEDULE.alpha_bar(-1) == 1.0  # SPEC's ᾱ_0


def test_forward_with_one_timestep_per_image_matches_the_scalar_form() -> None:
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(3, 1, 28, 28, generator=g), torch.randn(3, 1, 28, 28, generator=g)
    t = torch.tensor([0, 120, 299])
    batched = forward(x0, t, SCHEDULE, eps)
    for i, step in enumerate(t.tolist()):
        torch.testing.assert_close(batched[i], forward(x0[i], step, SCHEDULE, eps[i]))


class Recorder(nn.Module):
    """ε_θ = 0, remembering the time inputs and classes it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[Tensor] = []
        self.classes: list[Tensor] = []

    def forward(self, x_t: Tensor, t_in: Tensor, c: Tensor | None = None) -> Tensor:
        self.times.append(t_in)
        if c is not None:
            self.classes.append(c)
        return torch.zeros_like(x_t)


def test_training_draws_spec_timesteps_1_to_T_and_the_loss_is_the_noise_energy() -> None:
    model, g = Recorder(), torch.Generator().manual_seed(1)
    x0 = torch.rand(4000, 1, 4, 4, generator=g)
    loss = epsilon_loss(SCHEDULE)(model, x0, torch.zeros(4000, dtype=torch.long), g)
    seen = torch.round(model.times[0] * 300).long()
    assert seen.min() == 1 and seen.max() == 300 and len(seen.unique()) == 300  # t/T with t ~ U{1..T}
    assert abs(loss.item() - 1.0) < 0.02  # ε_θ = 0: the loss is E‖ε‖² per pixel


def test_class_conditioned_loss_drops_about_p_uncond_of_the_classes() -> None:
    model, g = Recorder(), torch.Generator().manual_seed(2)
    labels = torch.arange(10).repeat(500)
    epsilon_loss(SCHEDULE, p_uncond=0.1)(model, torch.rand(5000, 1, 4, 4, generator=g), labels, g)
    (c,) = model.classes
    kept = c.sum(dim=1) == 1
    assert abs((~kept).float().mean().item() - 0.1) < 0.015
    assert torch.equal(c[kept].argmax(dim=1), labels[kept])


def test_sampling_step_is_the_ddpm_posterior_mean_plus_sqrt_beta_noise() -> None:
    """SPEC's x̂_0 form equals Ho et al. eq. 11: (x_t − β_t/sqrt(1 − ᾱ_t) ε)/sqrt(α_t) + sqrt(β_t) z."""
    g = torch.Generator().manual_seed(3)
    x_t, eps = torch.randn(2, 1, 28, 28, generator=g), torch.randn(2, 1, 28, 28, generator=g)
    for t in (1, 29, 199, 299):
        beta, a_bar = SCHEDULE.betas[t].item(), SCHEDULE.alpha_bar(t)
        z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t))
        expected = (x_t - beta / math.sqrt(1 - a_bar) * eps) / math.sqrt(1 - beta) + math.sqrt(beta) * z
        x_prev, _ = ddpm_step(x_t, t, t - 1, eps, None, SCHEDULE, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(x_prev, expected, rtol=1e-5, atol=1e-5)


def test_last_sampling_step_adds_no_noise_and_returns_the_one_step_estimate() -> None:
    g = torch.Generator().manual_seed(4)
    x_1, eps = torch.randn(2, 1, 28, 28, generator=g), torch.randn(2, 1, 28, 28, generator=g)
    x0, x0_hat = ddpm_step(x_1, 0, -1, eps, None, SCHEDULE, generator=g)
    torch.testing.assert_close(x0, x0_hat, rtol=0, atol=1e-6)


class Oracle(nn.Module):
    """ε_θ(x_t, t) that knows x_0: ε = (x_t − sqrt(ᾱ_t) x_0)/sqrt(1 − ᾱ_t), reading t back from t/T."""

    def __init__(self, x0: Tensor) -> None:
        super().__init__()
        self.x0 = x0
        self.anchor = nn.Parameter(torch.zeros(1))  # a device for sample_digits to find

    def forward(self, x_t: Tensor, t_in: Tensor) -> Tensor:
        a_bar = SCHEDULE.alphas_cumprod[(t_in * 300).round().long() - 1].view(-1, 1, 1, 1).float()
        return (x_t - a_bar.sqrt() * self.x0) / (1 - a_bar).sqrt()


def test_iterative_denoise_recovers_x0_with_oracle_over_all_300_steps() -> None:
    g = torch.Generator().manual_seed(5)
    x0 = torch.rand(3, 1, 28, 28, generator=g)
    steps: list[int] = []
    out = sample(unet_estimator(Oracle(x0), SCHEDULE), SCHEDULE, ddpm_timesteps(SCHEDULE), torch.randn(3, 1, 28, 28, generator=g), generator=g,
                 callback=lambda info: steps.append(info["t"]))
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-4)
    assert steps == list(range(299, -1, -1))


def test_sample_digits_is_seeded_and_clamped_to_unit_range() -> None:
    x0 = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(6)) * 1.4 - 0.2
    first, again = sample_digits(Oracle(x0), 2, seed=7), sample_digits(Oracle(x0), 2, seed=7)
    assert torch.equal(first, again)
    torch.testing.assert_close(first, x0.clamp(0, 1), rtol=0, atol=1e-4)


class LinearInClass(nn.Module):
    """ε = x + t + 3 · (class index + 1) for a one-hot c, and x + t for c = 0."""

    def forward(self, x: Tensor, t_in: Tensor, c: Tensor) -> Tensor:
        weight = (c * torch.arange(1, 11, dtype=c.dtype)).sum(dim=1)
        return x + t_in.view(-1, 1, 1, 1) + 3 * weight.view(-1, 1, 1, 1)


def test_batched_guidance_equals_the_cfg_combinator_of_two_passes() -> None:
    model, x = LinearInClass(), torch.randn(2, 1, 28, 28)
    c = torch.eye(10)[[3, 7]]
    for gamma in (0.0, 1.0, 5.0):
        batched, _ = unet_estimator(model, SCHEDULE, c, gamma)(x, 150)
        two_passes, _ = cfg(unet_estimator(model, SCHEDULE, c), unet_estimator(model, SCHEDULE, torch.zeros_like(c)), gamma)(x, 150)
        torch.testing.assert_close(batched, two_passes)
    t_in = torch.full((2,), model_time(150, 300))
    torch.testing.assert_close(guided_output(model, x, t_in, c, 5.0), x + t_in.view(-1, 1, 1, 1) + 5 * 3 * torch.tensor([4.0, 8.0]).view(-1, 1, 1, 1))


def test_class_dropping_zeroes_about_p_uncond_of_the_rows() -> None:
    c = torch.eye(10).repeat(1000, 1)
    dropped = drop_classes(c, 0.1, torch.Generator().manual_seed(8))
    assert abs((dropped.sum(dim=1) == 0).float().mean().item() - 0.1) < 0.015
