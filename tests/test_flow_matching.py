"""Flow matching: the straight path, its loss, Euler sampling and guidance, on the one core the DDPM sections use."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from generator.diffusion.flow import guided, interpolate, sample_euler, target_velocity
from generator.mnist.estimators import ddpm_timesteps, guided_output, sample_digits, unet_velocity
from generator.mnist.objectives import flow_loss, part_b_schedule


def towards(x1: Tensor):
    """The exact velocity field of the flow whose data is the single image x1: u(x, t) = (x1 − x) / (1 − t)."""

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        return (x1 - x) / (1.0 - t).reshape(-1, 1, 1, 1)

    return velocity


@pytest.mark.parametrize("steps", [1, 2, 7, 50])
def test_euler_with_the_exact_velocity_lands_on_the_target(steps: int) -> None:
    x1 = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    x0 = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(sample_euler(towards(x1), x0, steps), x1, rtol=0, atol=1e-12)
    # the path is straight: the velocity of the pair itself carries x0 to x1 at any step count
    torch.testing.assert_close(sample_euler(lambda x, t: target_velocity(x0, x1), x0, steps), x1, rtol=0, atol=1e-12)


def test_interpolation_runs_from_noise_at_t0_to_data_at_t1() -> None:
    x0, x1 = torch.randn(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(interpolate(x0, x1, torch.zeros(2)), x0)
    torch.testing.assert_close(interpolate(x0, x1, torch.ones(2)), x1)
    torch.testing.assert_close(interpolate(x0, x1, torch.tensor([0.25, 0.5])), torch.stack([0.75 * x0[0] + 0.25 * x1[0], 0.5 * x0[1] + 0.5 * x1[1]]))


class Oracle(nn.Module):
    """u_θ = the exact velocity towards one image, whatever the class input."""

    def __init__(self, x1: Tensor) -> None:
        super().__init__()
        self.x1 = x1
        self.seen_c: list[Tensor] = []

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        if c is not None:
            self.seen_c.append(c)
        return towards(self.x1)(x, t)


def test_the_flow_loss_is_zero_at_the_exact_velocity_and_not_elsewhere() -> None:
    x1 = torch.rand(1, 1, 28, 28, dtype=torch.float64)
    batch, labels, generator = x1.expand(64, -1, -1, -1), torch.zeros(64, dtype=torch.long), torch.Generator().manual_seed(2)
    assert flow_loss()(Oracle(x1), batch, labels, generator).item() < 1e-12
    assert flow_loss()(Oracle(x1 + 0.1), batch, labels, generator).item() > 1e-3


def test_class_conditioned_flow_loss_drops_about_p_uncond_of_the_classes() -> None:
    x1 = torch.rand(1, 1, 28, 28, dtype=torch.float64)
    model = Oracle(x1)
    batch, labels = x1.expand(1000, -1, -1, -1), torch.arange(1000) % 10
    flow_loss(p_uncond=0.1)(model, batch, labels, torch.Generator().manual_seed(3))
    (c,) = model.seen_c
    dropped = (c.sum(dim=1) == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.03
    kept = c.sum(dim=1) == 1
    assert torch.equal(c[kept].argmax(dim=1), labels[kept])


class LinearInClass(nn.Module):
    """u = x + t + 3 · (class index + 1) for a one-hot c, and x + t for c = 0."""

    def forward(self, x: Tensor, t: Tensor, c: Tensor) -> Tensor:
        weight = (c * torch.arange(1, 11, dtype=c.dtype)).sum(dim=1)
        return x + t.view(-1, 1, 1, 1) + 3 * weight.view(-1, 1, 1, 1)


def test_guidance_at_one_is_the_conditional_velocity_and_batched_guidance_matches_two_passes() -> None:
    model, x, t = LinearInClass(), torch.randn(2, 1, 28, 28), torch.tensor([0.3, 0.6])
    c = torch.eye(10)[[3, 7]]
    conditional, unconditional = unet_velocity(model, c), unet_velocity(model, torch.zeros_like(c))
    torch.testing.assert_close(guided(conditional, unconditional, 1.0)(x, t), conditional(x, t))
    torch.testing.assert_close(unet_velocity(model, c, 1.0)(x, t), guided_output(model, x, t, c))
    for gamma in (0.0, 5.0):
        torch.testing.assert_close(unet_velocity(model, c, gamma)(x, t), guided(conditional, unconditional, gamma)(x, t))


def test_sample_digits_by_flow_lands_on_the_oracle_target_from_seeded_noise() -> None:
    x1 = torch.rand(1, 1, 28, 28)
    model = Oracle(x1)
    model.anchor = nn.Parameter(torch.zeros(1))  # sample_digits finds the model's device through its parameters
    samples = sample_digits(model, 5, sampler="flow", steps=10, seed=4)
    torch.testing.assert_close(samples, x1.expand(5, -1, -1, -1), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="steps"):
        sample_digits(model, 5, sampler="flow")


def test_ddpm_timesteps_stride_the_part_b_grid_from_its_noisiest_index_to_zero() -> None:
    schedule = part_b_schedule()
    assert ddpm_timesteps(schedule) == list(range(299, -1, -1))
    assert ddpm_timesteps(schedule, 300) == list(range(299, -1, -1))
    assert ddpm_timesteps(schedule, 5) == [299, 224, 150, 75, 0]
    assert ddpm_timesteps(schedule, 1) == [299]
    for steps in (2, 10, 20, 50, 100):
        grid = ddpm_timesteps(schedule, steps)
        assert len(grid) == steps and grid[-1] == 0 and grid == sorted(grid, reverse=True)


def test_both_objectives_train_the_same_unet_through_the_one_training_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.mnist import train
    from generator.mnist.unet import ClassConditionalUNet, TimeConditionalUNet

    calls = []
    monkeypatch.setattr(train, "train_model", lambda kind, model, loss, *args, **kw: calls.append((kind, type(model), loss.__qualname__)))
    images, labels = torch.rand(4, 1, 28, 28), torch.arange(4)
    for objective in ("ddpm", "flow"):
        config = train.TrainConfig(num_hiddens=4, batch_size=2, epochs=1, lr=1e-3, objective=objective)
        train.train_time_conditioned(images, config)
        train.train_class_conditioned(images, labels, config)
    assert [(kind, model) for kind, model, _ in calls] == [("time", TimeConditionalUNet), ("class", ClassConditionalUNet)] * 2
    assert [loss.split(".")[0] for *_, loss in calls] == ["epsilon_loss", "epsilon_loss", "flow_loss", "flow_loss"]
    with pytest.raises(ValueError, match="objective"):
        train.TrainConfig(num_hiddens=4, batch_size=2, epochs=1, lr=1e-3, objective="score")
