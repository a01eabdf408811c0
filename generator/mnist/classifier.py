"""A small CNN digit classifier, used to score generated samples (share on the intended digit, class histogram)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generator.mnist.precision import Precision, fastest_precision
from generator.mnist.train import OnEpochEnd, Progress, TrainConfig, TrainResult, seeded, train_model

MAX_SHIFT = 2  # pixels of random translation used as augmentation


class DigitClassifier(nn.Module):
    """Two conv-BN-ReLU-maxpool stages (28 -> 14 -> 7) and a two-layer head over 10 digits."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, 1, 1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, 1, 1),
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def random_shift(x: Tensor, generator: torch.Generator, max_shift: int = MAX_SHIFT) -> Tensor:
    """Translate each image [N, 1, H, W] by up to max_shift pixels in x and y (zero fill)."""
    n, _, height, width = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator, device=x.device)
    rows = (dy + torch.arange(height, device=x.device))[:, :, None]
    cols = (dx + torch.arange(width, device=x.device))[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)


def classifier_loss(model: nn.Module, x: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
    """Cross-entropy on randomly shifted training digits."""
    return F.cross_entropy(model(random_shift(x, generator)).float(), labels)


def train_classifier(
    images: Tensor,
    labels: Tensor,
    config: TrainConfig,
    *,
    checkpoint_dir: Path | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    on_epoch_end: OnEpochEnd | None = None,
) -> TrainResult:
    """Train DigitClassifier (channels = config.num_hiddens) with the same loop and checkpoints as the UNets."""
    model = seeded(config, lambda: DigitClassifier(config.num_hiddens))
    return train_model("classifier", model, classifier_loss, images, labels, config, checkpoint_dir, precision, progress, on_epoch_end)


@torch.no_grad()
def classify(model: nn.Module, images: Tensor, precision: Precision | None = None, batch_size: int = 500) -> Tensor:
    """Predicted digit (int64 [N], on CPU) for images in [0, 1], [N, 1, 28, 28]."""
    precision = precision or fastest_precision(next(model.parameters()).device)
    was_training = model.training
    model = precision.prepare(model).eval()
    predictions = []
    for batch in images.split(batch_size):
        with precision.autocast():
            predictions.append(model(precision.inputs(batch)).argmax(dim=1).cpu())
    model.train(was_training)
    return torch.cat(predictions)


def accuracy(model: nn.Module, images: Tensor, labels: Tensor, precision: Precision | None = None) -> float:
    """Share of images whose predicted digit equals the label."""
    return (classify(model, images, precision) == labels.cpu()).float().mean().item()


def class_histogram(model: nn.Module, samples: Tensor, precision: Precision | None = None) -> Tensor:
    """How many samples the classifier assigns to each digit 0..9 (int64 [10])."""
    return torch.bincount(classify(model, samples, precision), minlength=10)
