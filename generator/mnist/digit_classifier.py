"""The network of the 2.0 classifier, apart from its training (classifier.py), so that checkpoints can rebuild it."""

from __future__ import annotations

from torch import Tensor, nn

NUM_CLASSES = 11  # digits 0-9 and NOT_A_DIGIT


class DigitClassifier(nn.Module):
    """Two conv-BN-ReLU-maxpool stages (28 -> 14 -> 7) and a two-layer head over 10 digits and "not a digit"."""

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
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * 7 * 7, 128), nn.ReLU(), nn.Linear(128, NUM_CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
