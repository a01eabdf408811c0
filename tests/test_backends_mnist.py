"""The mnist backend's prompts and its mapping of IF's timesteps onto the T = 300 MNIST schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator.diffusion.backends.base import BackendUnavailable
from generator.diffusion.schedule import strided_timesteps
from generator.mnist.backend import MnistBackend, digit_of, matched_noise_level


@pytest.mark.parametrize("prompt", ["7", "seven", "a handwritten 7", "the digit 7", "  Seven "])
def test_every_documented_prompt_form_names_the_digit(prompt):
    assert digit_of(prompt) == 7


def test_the_empty_prompt_is_unconditional_and_encodes_to_zeros(tmp_path: Path):
    backend = MnistBackend(tmp_path)
    assert digit_of("") is None
    assert torch.equal(backend.encode(""), torch.zeros(1, 10))
    assert torch.equal(backend.encode("three"), torch.nn.functional.one_hot(torch.tensor([3]), 10).float())


def test_any_other_prompt_is_one_sentence_listing_what_it_accepts():
    with pytest.raises(ValueError, match=r"can't draw 'a cat'; its prompts are \"7\", \"seven\", \"a handwritten 7\" or \"the digit 7\""):
        digit_of("a cat")


def test_matched_noise_level_keeps_the_signal_to_noise_ratio_of_images_in_zero_one():
    for alpha_bar in (2e-4, 0.143, 0.492, 0.846):
        matched = matched_noise_level(alpha_bar)
        # SNR of y in [0, 1] inside x_t = sqrt(a)(2y - 1) + sqrt(1 - a) eps equals the model's SNR a'/(1 - a')
        assert abs(matched / (1 - matched) - 4 * alpha_bar / (1 - alpha_bar)) < 1e-9


def test_if_timesteps_map_to_the_model_schedule_and_clamp_at_its_noisiest_step(tmp_path: Path):
    backend = MnistBackend(tmp_path)
    own = backend.own_schedule.alphas_cumprod
    steps = [backend.own_timestep(matched_noise_level(backend.schedule.alpha_bar(t))) for t in strided_timesteps()]
    assert steps == sorted(steps, reverse=True) and 1.0 <= min(steps) and max(steps) == 300.0
    clamped = [t for t, s in zip(strided_timesteps(), steps, strict=True) if s == 300.0]
    assert clamped == [990, 960, 930]
    s = backend.own_timestep(float(own[149]))  # ᾱ of step 150 maps back to step 150
    assert abs(s - 150.0) < 1e-6


def test_a_missing_unet_says_to_build_section_2_3(tmp_path: Path):
    backend = MnistBackend(tmp_path)
    with pytest.raises(BackendUnavailable, match=r"gen build --section 2\.3"):
        backend.estimator(backend.encode("7"))(torch.zeros(1, 1, 28, 28), 500)
