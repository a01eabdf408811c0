"""Hyperparameter profiles for Part B: `full` is SPEC exactly, `quick` fits a 2-core CPU, `smoke` is for tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from generator.mnist.train import TrainConfig


@dataclass(frozen=True)
class MnistProfile:
    """One TrainConfig per model plus how many samples the figures draw and after which epochs."""

    denoiser: TrainConfig  # 2.1
    time_conditioned: TrainConfig  # 2.2
    class_conditioned: TrainConfig  # 2.3
    classifier: TrainConfig  # scores 2.2/2.3 samples
    time_grid_epochs: tuple[int, ...]  # 2.2: a sample grid after each of these epochs
    class_grid_epochs: tuple[int, ...]  # 2.3: CFG samples after each of these epochs
    grid_images: int  # images per 2.2 grid
    class_images_per_digit: int  # 2.3: samples of each digit per grid and per guidance scale


def _time_conditioned(num_hiddens: int, batch_size: int, epochs: int, lr: float, max_train_images: int | None = None) -> TrainConfig:
    """SPEC 2.2: Adam with ExponentialLR γ = 0.1^(1/epochs), so the lr falls tenfold over the run."""
    return TrainConfig(num_hiddens, batch_size, epochs, lr, lr_gamma=0.1 ** (1 / epochs), max_train_images=max_train_images)


def _class_conditioned(time_conditioned: TrainConfig) -> TrainConfig:
    """SPEC 2.3: as 2.2 plus p_uncond = 0.1."""
    return dataclasses.replace(time_conditioned, p_uncond=0.1)


_FULL_TIME = _time_conditioned(num_hiddens=64, batch_size=128, epochs=20, lr=1e-3)
_QUICK_TIME = _time_conditioned(num_hiddens=16, batch_size=64, epochs=10, lr=3e-3)
_SMOKE_TIME = _time_conditioned(num_hiddens=8, batch_size=32, epochs=2, lr=3e-3, max_train_images=128)

PROFILES: dict[str, MnistProfile] = {
    "full": MnistProfile(
        denoiser=TrainConfig(num_hiddens=128, batch_size=256, epochs=5, lr=1e-4),
        time_conditioned=_FULL_TIME,
        class_conditioned=_class_conditioned(_FULL_TIME),
        classifier=TrainConfig(num_hiddens=32, batch_size=64, epochs=6, lr=2e-3, lr_gamma=0.6),
        time_grid_epochs=(1, 5, 10, 15, 20),
        class_grid_epochs=(5, 20),
        grid_images=40,
        class_images_per_digit=4,
    ),
    # Measured on the 2-core CPU (BENCHMARKS.md): about 4-5 minutes for every model and figure of 2.1-2.3.
    "quick": MnistProfile(
        denoiser=TrainConfig(num_hiddens=16, batch_size=64, epochs=2, lr=1e-3),
        time_conditioned=_QUICK_TIME,
        class_conditioned=_class_conditioned(_QUICK_TIME),
        classifier=TrainConfig(num_hiddens=16, batch_size=64, epochs=6, lr=2e-3, lr_gamma=0.6),
        time_grid_epochs=(1, 3, 5, 8, 10),
        class_grid_epochs=(3, 10),
        grid_images=40,
        class_images_per_digit=4,
    ),
    "smoke": MnistProfile(
        denoiser=TrainConfig(num_hiddens=8, batch_size=32, epochs=1, lr=1e-3, max_train_images=128),
        time_conditioned=_SMOKE_TIME,
        class_conditioned=_class_conditioned(_SMOKE_TIME),
        classifier=TrainConfig(num_hiddens=8, batch_size=32, epochs=1, lr=2e-3, max_train_images=256),
        time_grid_epochs=(1, 2),
        class_grid_epochs=(2,),
        grid_images=4,
        class_images_per_digit=1,
    ),
}
