"""The one-step estimate, the strided DDPM loop (against diffusers' DDPMScheduler), SDEdit and inpainting."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDPMScheduler

from generator.diffusion.estimators import Estimator
from generator.diffusion.sampling import (
    ddpm_step,
    dynamic_threshold,
    inpaint,
    one_step_estimate,
    sample,
    sdedit,
)
from generator.diffusion.schedule import (
    IF_STAGE_I_SCHEDULER_CONFIG,
    NoiseSchedule,
    forward,
    if_schedule,
    strided_timesteps,
)

SHAPE = (2, 3, 16, 16)


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return if_schedule()


def oracle_estimator(x0: torch.Tensor, schedule: NoiseSchedule) -> Estimator:
    """An estimator that knows x₀: ε = (x_t − sqrt(ᾱ_t) x₀) / sqrt(1 − ᾱ_t), no learned variance."""

    def estimate(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, None]:
        alpha_bar = schedule.alpha_bar(t)
        return (x_t - math.sqrt(alpha_bar) * x0) / math.sqrt(1.0 - alpha_bar), None

    return estimate


def toy_model(x_t: torch.Tensor, t: int) -> torch.Tensor:
    """A fixed 'UNet' with IF's 6 output channels: ε̂ = first 3, v ∈ (−1, 1) = last 3."""
    eps = torch.sin(3.0 * x_t + t / 100.0) + 0.1 * x_t.flip(-1)
    v = torch.tanh(x_t.roll(1, dims=-2) - t / 1000.0)
    return torch.cat([eps, v], dim=1)


def toy_estimator(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    eps, v = toy_model(x_t, t).chunk(2, dim=1)
    return eps, v


def images(seed: int = 0) -> torch.Tensor:
    return torch.rand(SHAPE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def noise(seed: int = 1) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


def if_scheduler(**overrides: object) -> DDPMScheduler:
    scheduler = DDPMScheduler.from_config({**IF_STAGE_I_SCHEDULER_CONFIG, **overrides})
    scheduler.set_timesteps(timesteps=strided_timesteps())
    return scheduler


@pytest.mark.parametrize("t", [0, 250, 500, 750, 990])
def test_one_step_estimate_recovers_x0_with_oracle(schedule: NoiseSchedule, t: int) -> None:
    x0 = images()
    x_t = forward(x0, t, schedule, noise())
    eps, _ = oracle_estimator(x0, schedule)(x_t, t)
    torch.testing.assert_close(one_step_estimate(x_t, t, eps, schedule), x0, rtol=0, atol=1e-4)


def test_one_step_estimate_with_true_noise_recovers_x0(schedule: NoiseSchedule) -> None:
    x0, eps = images(), noise()
    x_t = forward(x0, 500, schedule, eps)
    torch.testing.assert_close(one_step_estimate(x_t, 500, eps, schedule), x0, rtol=0, atol=1e-5)


def test_iterative_denoise_recovers_x0_with_oracle(schedule: NoiseSchedule) -> None:
    x0, timesteps = images(), strided_timesteps()
    x_t = forward(x0, timesteps[0], schedule, noise())
    x = sample(oracle_estimator(x0, schedule), schedule, timesteps, x_t, variance="none")
    torch.testing.assert_close(x, x0, rtol=0, atol=1e-4)


@pytest.mark.parametrize("variance", ["auto", "fixed"])
def test_noisy_iterative_denoise_still_ends_at_x0_with_oracle(schedule: NoiseSchedule, variance: str) -> None:
    x0, timesteps = images(), strided_timesteps()
    x_t = forward(x0, timesteps[10], schedule, noise())
    generator = torch.Generator().manual_seed(3)
    estimator = oracle_estimator(x0, schedule)
    x = sample(estimator, schedule, timesteps, x_t, i_start=10, generator=generator, variance=variance)
    torch.testing.assert_close(x, x0, rtol=0, atol=1e-4)


# (diffusers config overrides, our clip_x0, our variance, model has a learned variance)
STEP_CASES = {
    "if_default_dynamic_threshold": ({}, "dynamic", "learned", True),
    "clip_sample": ({"thresholding": False}, "clip", "learned", True),
    "no_clipping": ({"thresholding": False, "clip_sample": False}, "none", "learned", True),
    "fixed_small": (
        {"thresholding": False, "clip_sample": False, "variance_type": "fixed_small"},
        "none",
        "fixed",
        False,
    ),
    "fixed_large": (
        {"thresholding": False, "clip_sample": False, "variance_type": "fixed_large"},
        "none",
        "fixed_large",
        False,
    ),
}


@pytest.mark.parametrize("case", list(STEP_CASES))
@pytest.mark.parametrize("i", [0, 10, 20, 32, 33])
def test_ddpm_step_matches_diffusers_ddpm_scheduler_step(schedule: NoiseSchedule, case: str, i: int) -> None:
    overrides, clip_x0, variance, learned = STEP_CASES[case]
    timesteps = strided_timesteps()
    t, t_prev = timesteps[i], timesteps[i + 1] if i + 1 < len(timesteps) else -1
    x_t = 2.0 * noise(seed=i)  # large enough that thresholding and clipping act
    model_output = toy_model(x_t, t) if learned else toy_model(x_t, t)[:, :3]
    eps, v = (model_output[:, :3], model_output[:, 3:]) if learned else (model_output, None)

    theirs = if_scheduler(**overrides).step(model_output, t, x_t, generator=torch.Generator().manual_seed(7))
    generator = torch.Generator().manual_seed(7)
    x_prev, x0 = ddpm_step(x_t, t, t_prev, eps, v, schedule, generator=generator, variance=variance, clip_x0=clip_x0)

    # diffusers forms α_t = ᾱ_t/ᾱ_t' and 1 − α_t in float32; we use float64, hence the small tolerance
    torch.testing.assert_close(x0, theirs.pred_original_sample, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x_prev, theirs.prev_sample, rtol=1e-5, atol=1e-5)


def test_sample_matches_diffusers_if_denoising_loop(schedule: NoiseSchedule) -> None:
    timesteps, x_start = strided_timesteps(), noise()
    scheduler = if_scheduler()
    generator = torch.Generator().manual_seed(11)
    x = x_start
    for t in scheduler.timesteps:
        x = scheduler.step(toy_model(x, int(t)), t, x, generator=generator).prev_sample

    ours = sample(toy_estimator, schedule, timesteps, x_start, generator=torch.Generator().manual_seed(11), clip_x0="dynamic")
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


def test_part_b_loop_matches_diffusers_ddpm_scheduler_over_all_300_steps() -> None:
    """SPEC Part B: T = 300, linear β, every step, + sqrt(β_t) z (diffusers' fixed_large), no clipping."""
    from generator.mnist.estimators import ddpm_timesteps
    from generator.mnist.objectives import part_b_schedule

    def toy(x_t: torch.Tensor, t: int) -> torch.Tensor:
        return 0.9 * torch.tanh(x_t + t / 300.0) + 0.05 * x_t.flip(-1)

    scheduler = DDPMScheduler(num_train_timesteps=300, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", variance_type="fixed_large", clip_sample=False)
    scheduler.set_timesteps(300)
    x_start = noise()[:, :1]
    generator, x = torch.Generator().manual_seed(13), x_start
    for t in scheduler.timesteps:
        x = scheduler.step(toy(x, int(t)), t, x, generator=generator).prev_sample

    schedule = part_b_schedule()
    assert [int(t) for t in scheduler.timesteps] == ddpm_timesteps(schedule)
    ours = sample(lambda x_t, t: (toy(x_t, t), None), schedule, ddpm_timesteps(schedule), x_start, generator=torch.Generator().manual_seed(13))
    # diffusers keeps β and ᾱ in float32, we in float64
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


def test_dynamic_threshold_leaves_images_inside_unit_range_unchanged() -> None:
    x0 = images()
    assert torch.equal(dynamic_threshold(x0), x0)
    squashed = dynamic_threshold(4.0 * x0)
    assert squashed.abs().max() <= 1.0


def test_same_seed_gives_bit_identical_samples(schedule: NoiseSchedule) -> None:
    def run(seed: int) -> torch.Tensor:
        return sample(toy_estimator, schedule, strided_timesteps(), noise(), generator=torch.Generator().manual_seed(seed))

    first, second, other = run(1729), run(1729), run(1730)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_callback_sees_every_step_from_i_start(schedule: NoiseSchedule) -> None:
    timesteps, seen = strided_timesteps(), []
    sample(toy_estimator, schedule, timesteps, noise(), i_start=10, callback=seen.append, variance="none")
    assert [step["i"] for step in seen] == list(range(10, len(timesteps)))
    assert [step["t"] for step in seen][::5] == [690, 540, 390, 240, 90]
    assert [step["t_prev"] for step in seen] == timesteps[11:] + [-1]
    assert all(step["x"].shape == step["x0"].shape == SHAPE for step in seen)


def test_bad_i_start_is_a_clear_error(schedule: NoiseSchedule) -> None:
    with pytest.raises(ValueError, match="i_start"):
        sample(toy_estimator, schedule, strided_timesteps(), noise(), i_start=34)


def test_learned_variance_without_v_is_a_clear_error(schedule: NoiseSchedule) -> None:
    x0 = images()
    with pytest.raises(ValueError, match="returns v"):
        sample(oracle_estimator(x0, schedule), schedule, strided_timesteps(), noise(), variance="learned")


def test_sdedit_with_oracle_returns_the_image(schedule: NoiseSchedule) -> None:
    x0 = images()
    out = sdedit(oracle_estimator(x0, schedule), schedule, strided_timesteps(), x0, 20, noise(), variance="none")
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-4)


def test_sdedit_starts_from_the_forward_noised_image(schedule: NoiseSchedule) -> None:
    x0, eps, timesteps, seen = images(), noise(), strided_timesteps(), []

    def recording(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append((x_t, t))
        return toy_estimator(x_t, t)

    sdedit(recording, schedule, timesteps, x0, 7, eps)
    assert seen[0][1] == timesteps[7]
    assert torch.equal(seen[0][0], forward(x0, timesteps[7], schedule, eps))


def test_inpaint_keeps_pixels_outside_the_mask_exactly(schedule: NoiseSchedule) -> None:
    image = images()
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 2:8, 5:12] = 1.0
    out = inpaint(toy_estimator, schedule, strided_timesteps(), image, mask, noise(), torch.Generator().manual_seed(5))
    keep = mask.expand_as(image) == 0
    assert torch.equal(out[keep], image[keep])
    assert not torch.allclose(out[~keep], image[~keep])
