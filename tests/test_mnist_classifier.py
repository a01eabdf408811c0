"""The 2.0 classifier's 11th class: negatives made only where a transform leaves no digit, probabilities over 11 classes,
and what "reads as a digit" means."""

from __future__ import annotations

import pytest
import torch

from generator.mnist.classifier import class_probabilities, legible, random_shift, reads_as, train_classifier, with_negatives
from generator.mnist.data import load_mnist
from generator.mnist.digit_classifier import NUM_CLASSES
from generator.mnist.negatives import CROSSED, MIRRORED, NEGATIVES, NOT_A_DIGIT, ROTATED_90, UPSIDE_DOWN, crossed, mirrored, not_digits, rotated
from generator.mnist.train import TrainConfig


def labelled_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """100 'digits' whose only ink is one pixel at (label, label): what a transform did shows where the ink went."""
    labels = torch.arange(10).repeat(10)
    digits = torch.zeros(100, 1, 28, 28)
    digits[torch.arange(100), 0, labels + 2, labels + 2 + (labels > 4) * 10] = 1.0
    return digits, labels


def source_labels(images: torch.Tensor, digits: torch.Tensor, labels: torch.Tensor, transforms: list) -> set[int]:
    """The labels of the digits that `images` were made from, by matching each against every transform of every digit."""
    found = set()
    for image in images:
        for digit, label in zip(digits, labels, strict=True):
            if any(torch.equal(image, transform(digit[None])[0]) for transform in transforms):
                found.add(int(label))
    return found


def test_transforms_apply_only_to_digits_they_turn_into_no_digit() -> None:
    digits, labels = labelled_digits()
    g = torch.Generator().manual_seed(0)
    turns = [lambda x: x.rot90(1, (2, 3)), lambda x: x.rot90(3, (2, 3))]
    assert source_labels(rotated(digits, labels, 60, g), digits, labels, turns) <= set(ROTATED_90)
    flips = [lambda x: x.flip(3), lambda x: x.rot90(2, (2, 3))]
    made = mirrored(digits, labels, 60, g)
    assert source_labels(made[:30], digits, labels, flips[:1]) <= set(MIRRORED)
    assert source_labels(made[30:], digits, labels, flips[1:]) <= set(UPSIDE_DOWN)
    assert source_labels(crossed(digits, labels, 60, g), digits, labels, [lambda x: torch.maximum(x, x.rot90(1, (2, 3)))]) <= set(CROSSED)
    # nothing that stays a digit: a turned 0, 1 or 8, a mirrored 0, 1, 5 or 8, a 6 or 9 upside down
    assert not {0, 1, 8} & set(ROTATED_90) and not {0, 1, 5, 8} & set(MIRRORED) and not {0, 1, 2, 5, 6, 8, 9} & set(UPSIDE_DOWN)


def test_not_digits_makes_every_kind_in_unit_range_and_is_seeded() -> None:
    mnist = load_mnist()
    made = not_digits(mnist.test_images, mnist.test_labels, 70, torch.Generator().manual_seed(1))
    assert made.shape == (70, 1, 28, 28) and made.min() >= 0 and made.max() <= 1
    assert torch.equal(made, not_digits(mnist.test_images, mnist.test_labels, 70, torch.Generator().manual_seed(1)))
    for name, make in NEGATIVES.items():
        image = make(mnist.test_images, mnist.test_labels, 3, torch.Generator().manual_seed(2))
        assert image.shape == (3, 1, 28, 28) and image.amax(dim=(1, 2, 3)).min() > 0.5, name  # each has ink


def test_training_data_gets_negatives_labelled_not_a_digit() -> None:
    mnist = load_mnist()
    images, labels = with_negatives(mnist.test_images[:100], mnist.test_labels[:100], 20, seed=3)
    assert images.shape == (120, 1, 28, 28) and (labels == NOT_A_DIGIT).sum() == 20 and torch.equal(labels[:100], mnist.test_labels[:100])


def test_classifier_gives_probabilities_over_ten_digits_and_not_a_digit() -> None:
    mnist = load_mnist()
    config = TrainConfig(num_hiddens=8, batch_size=32, epochs=1, lr=2e-3, max_train_images=256)
    model = train_classifier(mnist.train_images, mnist.train_labels, config).model
    probabilities = class_probabilities(model, mnist.test_images[:30])
    assert probabilities.shape == (30, NUM_CLASSES) and torch.allclose(probabilities.sum(dim=1), torch.ones(30), atol=1e-3)


def test_a_sample_reads_as_a_digit_only_with_one_digit_at_probability_0_9() -> None:
    probabilities = torch.tensor([
        [0.95] + [0.0] * 9 + [0.05],  # a clear 0
        [0.5, 0.45] + [0.0] * 8 + [0.05],  # torn between 0 and 1
        [0.0] * 10 + [1.0],  # no digit
    ])
    assert legible(probabilities).tolist() == [True, False, False]
    assert reads_as(probabilities, torch.tensor([0, 0, 7])).tolist() == [True, False, False]
    assert reads_as(probabilities, torch.tensor([1, 1, 1])).tolist() == [False, False, False]


@pytest.mark.parametrize("seed", [0, 1])
def test_random_shift_moves_a_centred_digit_without_losing_ink(seed: int) -> None:
    x = torch.zeros(8, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    shifted = random_shift(x, torch.Generator().manual_seed(seed))
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
