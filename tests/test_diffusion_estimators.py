"""CFG, visual anagrams and factorised (hybrid) estimators, and the filters behind them."""

from __future__ import annotations

import pytest
import torch

from generator.diffusion.estimators import (
    Estimator,
    anagram,
    cfg,
    colour_components,
    factorization,
    factorized,
    frequency_components,
    hybrid,
    motion_components,
)
from generator.diffusion.filters import gaussian_blur, gaussian_kernel, motion_blur, motion_kernel
from generator.diffusion.views import view


def x_t(seed: int = 0, shape: tuple[int, ...] = (2, 3, 32, 32)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def toy(shift: float, with_v: bool = True) -> Estimator:
    """A position-dependent estimator (not equivariant to any view), v ∈ (−1, 1)."""

    def estimate(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        eps = torch.sin(x.cumsum(dim=-2) + shift + t / 100.0)
        return eps, torch.tanh(x.cumsum(dim=-1) - shift) if with_v else None

    return estimate


def test_cfg_with_scale_one_equals_the_conditional_estimate() -> None:
    eps, v = cfg(toy(1.0), toy(2.0), 1.0)(x_t(), 500)
    eps_c, v_c = toy(1.0)(x_t(), 500)
    torch.testing.assert_close(eps, eps_c)
    assert torch.equal(v, v_c)


def test_cfg_extrapolates_away_from_the_unconditional_estimate() -> None:
    eps, v = cfg(toy(1.0), toy(2.0, with_v=False), 7.0)(x_t(), 500)
    (eps_c, v_c), (eps_u, _) = toy(1.0)(x_t(), 500), toy(2.0)(x_t(), 500)
    torch.testing.assert_close(eps, eps_u + 7.0 * (eps_c - eps_u))
    assert torch.equal(v, v_c)


def test_anagram_of_identity_views_equals_the_plain_estimate() -> None:
    identity = view("identity")
    eps, v = anagram([toy(1.0), toy(1.0)], [identity, identity])(x_t(), 300)
    eps_1, v_1 = toy(1.0)(x_t(), 300)
    torch.testing.assert_close(eps, eps_1)
    torch.testing.assert_close(v, v_1)


def test_anagram_averages_the_upright_and_flipped_estimates() -> None:
    flip = view("flip")
    eps, v = anagram([toy(1.0), toy(2.0)], [view("identity"), flip])(x_t(), 300)
    (eps_1, v_1), (eps_2, v_2) = toy(1.0)(x_t(), 300), toy(2.0)(flip.apply(x_t()), 300)
    torch.testing.assert_close(eps, (eps_1 + flip.inverse(eps_2)) / 2)
    torch.testing.assert_close(v, (v_1 + flip.inverse(v_2)) / 2)


def test_anagram_negates_the_noise_but_never_the_variance() -> None:
    eps, v = anagram([toy(1.0)], [view("negate")])(x_t(), 300)
    eps_n, v_n = toy(1.0)(-x_t(), 300)
    assert torch.equal(eps, -eps_n)
    assert torch.equal(v, v_n)


def test_anagram_has_no_variance_when_any_estimator_has_none() -> None:
    _, v = anagram([toy(1.0), toy(2.0, with_v=False)], [view("identity"), view("rot180")])(x_t(), 300)
    assert v is None


def test_hybrid_with_identity_lowpass_equals_the_low_prompt_estimate() -> None:
    eps, v = hybrid(toy(1.0), toy(2.0), kernel=1, sigma=2.0)(x_t(), 700)
    eps_low, v_low = toy(1.0)(x_t(), 700)
    torch.testing.assert_close(eps, eps_low)
    torch.testing.assert_close(v, (v_low + toy(2.0)(x_t(), 700)[1]) / 2)


def test_hybrid_is_lowpass_of_the_far_prompt_plus_highpass_of_the_near_prompt() -> None:
    eps, _ = hybrid(toy(1.0), toy(2.0))(x_t(), 700)
    (eps_far, _), (eps_near, _) = toy(1.0)(x_t(), 700), toy(2.0)(x_t(), 700)
    expected = gaussian_blur(eps_far, 33, 2.0) + eps_near - gaussian_blur(eps_near, 33, 2.0)
    torch.testing.assert_close(eps, expected)


COMPONENTS = {
    "frequency": frequency_components(),
    "frequency_wide": frequency_components(kernel=9, sigma=5.0),
    "colour": colour_components(),
    "motion_horizontal": motion_components(9, 0.0),
    "motion_diagonal": motion_components(7, 45.0),
    "motion_steep": motion_components(12, 100.0),
}


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_factorized_components_sum_to_identity(name: str) -> None:
    x = x_t()
    torch.testing.assert_close(sum(f(x) for f in COMPONENTS[name]), x)


def test_factorized_estimate_is_the_sum_of_each_component_of_its_own_estimate() -> None:
    gray, colour = colour_components()
    eps, _ = factorized([toy(1.0), toy(2.0)], [gray, colour])(x_t(), 100)
    (eps_1, _), (eps_2, _) = toy(1.0)(x_t(), 100), toy(2.0)(x_t(), 100)
    torch.testing.assert_close(eps, gray(eps_1) + colour(eps_2))
    torch.testing.assert_close(gray(eps).mean(dim=1), eps_1.mean(dim=1))


def test_colour_component_has_zero_channel_mean() -> None:
    _, colour = colour_components()
    torch.testing.assert_close(colour(x_t()).mean(dim=1), torch.zeros(2, 32, 32), rtol=0, atol=1e-6)


def test_factorization_names_build_components_and_mismatches_are_clear_errors() -> None:
    x = x_t()
    low, _ = factorization("frequency", kernel=5, sigma=1.0)
    torch.testing.assert_close(low(x), gaussian_blur(x, 5, 1.0))
    assert len(factorization("color")) == len(factorization("motion", length=5, angle=30.0)) == 2
    with pytest.raises(ValueError, match="Unknown factorization"):
        factorization("texture")
    with pytest.raises(ValueError, match="one estimator per entry"):
        factorized([toy(1.0)], colour_components())
    with pytest.raises(ValueError, match="one estimator per entry"):
        anagram([], [])


def test_gaussian_blur_of_a_point_is_the_gaussian_and_keeps_constants() -> None:
    point = torch.zeros(1, 1, 33, 33)
    point[..., 16, 16] = 1.0
    g = torch.exp(-((torch.arange(33.0) - 16) ** 2) / (2 * 2.0**2))
    torch.testing.assert_close(gaussian_blur(point)[0, 0], torch.outer(g, g) / g.sum() ** 2)
    torch.testing.assert_close(gaussian_kernel(33, 2.0).sum().item(), 1.0)
    flat = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(gaussian_blur(flat), flat)  # the kernel is cropped to fit a small image


def test_gaussian_blur_pads_by_reflection() -> None:
    x = x_t(shape=(1, 1, 16, 16))
    reflected = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    blurred = torch.nn.functional.conv2d(reflected, gaussian_kernel(5, 1.0).float()[None, None])
    torch.testing.assert_close(gaussian_blur(x, 5, 1.0), blurred)


def test_motion_blur_of_length_one_is_the_identity() -> None:
    x = x_t()
    torch.testing.assert_close(motion_blur(x, 1, 37.0), x)


@pytest.mark.parametrize(("angle", "direction"), [(0.0, (0, 1)), (90.0, (-1, 0)), (180.0, (0, -1))])
def test_motion_kernel_is_a_line_of_its_length_at_its_angle(angle: float, direction: tuple[int, int]) -> None:
    kernel = motion_kernel(5, angle)
    dy, dx = direction
    line = torch.stack([kernel[2 + step * dy, 2 + step * dx] for step in range(-2, 3)])
    torch.testing.assert_close(line, torch.full((5,), 0.2, dtype=torch.float64))
    torch.testing.assert_close(kernel.sum().item(), 1.0)


def test_diagonal_motion_kernel_runs_up_and_to_the_right() -> None:
    kernel = motion_kernel(5, 45.0)
    # pixels at √2 and 2√2 along the line: the first fully inside, the second partly past the end at 5/2
    assert kernel[1, 3] > kernel[0, 4] > 0
    assert kernel[3, 3] == 0 and kernel[1, 1] == 0
    torch.testing.assert_close(kernel, kernel.flip(0, 1))


def test_even_motion_length_weights_the_end_pixels_by_half() -> None:
    row = motion_kernel(4, 0.0)[2]
    torch.testing.assert_close(row, torch.tensor([0.5, 1.0, 1.0, 1.0, 0.5], dtype=torch.float64) / 4)


def test_invalid_filter_parameters_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="odd kernel size"):
        gaussian_kernel(4, 2.0)
    with pytest.raises(ValueError, match="sigma > 0"):
        gaussian_kernel(5, 0.0)
    with pytest.raises(ValueError, match="at least 1 pixel"):
        motion_kernel(0, 0.0)
