"""The 2.0 classifier: ten digits and an 11th class, "not a digit", that every claim of a sample reading as a digit rests on."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generator.mnist.digit_classifier import DigitClassifier
from generator.mnist.negatives import NOT_A_DIGIT, not_digits
from generator.mnist.precision import Precision, fastest_precision
from generator.mnist.train import TrainConfig, TrainResult, seeded, train_model

MAX_SHIFT = 2  # pixels of random translation used as augmentation
LEGIBLE = 0.9  # a sample reads as a digit when the classifier gives one digit at least this probability


def random_shift(x: Tensor, generator: torch.Generator, max_shift: int = MAX_SHIFT) -> Tensor:
    """Translate each image [N, 1, H, W] by up to max_shift pixels in x and y (zero fill)."""
    n, _, height, width = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator, device=x.device)
    rows = (dy + torch.arange(height, device=x.device))[:, :, None]
    cols = (dx + torch.arange(width, device=x.device))[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)


def classifier_loss(model: nn.Module, x: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
    """Cross-entropy over the 11 classes on randomly shifted images."""
    return F.cross_entropy(model(random_shift(x, generator)).float(), labels)


def with_negatives(images: Tensor, labels: Tensor, count: int, seed: int) -> tuple[Tensor, Tensor]:
    """images and labels plus `count` negatives made from them (label NOT_A_DIGIT), seeded."""
    negatives = not_digits(images, labels, count, torch.Generator().manual_seed(seed))
    return torch.cat([images, negatives]), torch.cat([labels, torch.full((count,), NOT_A_DIGIT, dtype=labels.dtype)])


def train_classifier(images: Tensor, labels: Tensor, config: TrainConfig, negative_share: float = 0.2, **hooks: Any) -> TrainResult:
    """Train DigitClassifier (channels = config.num_hiddens) on the digits and negative_share as many negatives, shuffled in."""
    digits = config.max_train_images or len(images)
    images, labels = with_negatives(images[:digits], labels[:digits], round(negative_share * digits), config.seed + 1)
    model = seeded(config, lambda: DigitClassifier(config.num_hiddens))
    return train_model("classifier", model, classifier_loss, images, labels, _without_limit(config), **hooks)


def _without_limit(config: TrainConfig) -> TrainConfig:
    """The config with the digit limit applied already (negatives are added after it)."""
    return dataclasses.replace(config, max_train_images=None)


@torch.no_grad()
def class_probabilities(model: nn.Module, images: Tensor, precision: Precision | None = None, batch_size: int = 1000) -> Tensor:
    """Probabilities [N, 11] (column 10: not a digit) of images in [0, 1], [N, 1, 28, 28]; float32 on the CPU."""
    precision = precision or fastest_precision(next(model.parameters()).device)
    was_training = model.training
    model = precision.prepare(model).eval()
    parts = []
    for batch in images.split(batch_size):
        with precision.autocast():
            parts.append(torch.softmax(model(precision.inputs(batch)).float(), dim=1).cpu())
    model.train(was_training)
    return torch.cat(parts)


def predicted_class(probabilities: Tensor) -> Tensor:
    """The most probable class (int64 [N]; NOT_A_DIGIT for images that read as no digit)."""
    return probabilities.argmax(dim=1)


def legible(probabilities: Tensor, threshold: float = LEGIBLE) -> Tensor:
    """Whether each image reads as a digit: some digit (not "not a digit") has probability ≥ threshold (bool [N])."""
    return probabilities[:, :NOT_A_DIGIT].amax(dim=1) >= threshold


def reads_as(probabilities: Tensor, labels: Tensor, threshold: float = LEGIBLE) -> Tensor:
    """Whether each image reads as its own digit: the classifier gives that digit probability ≥ threshold (bool [N])."""
    return probabilities.gather(1, labels.view(-1, 1).cpu()).flatten() >= threshold


def accuracy(model: nn.Module, images: Tensor, labels: Tensor, precision: Precision | None = None) -> float:
    """Share of images whose predicted class (of all 11) equals the label."""
    return (predicted_class(class_probabilities(model, images, precision)) == labels.cpu()).float().mean().item()
