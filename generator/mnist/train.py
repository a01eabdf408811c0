"""Training loops of SPEC 2.1–2.3, with per-step losses, per-epoch safetensors checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generator.mnist import BASE_SEED
from generator.mnist.checkpoint import TrainingState, checkpoint_path, latest_checkpoint, load_training_state, save_training_state
from generator.mnist.ddpm import DDPMSchedule, ddpm_loss, ddpm_schedule
from generator.mnist.precision import Precision, fastest_precision
from generator.mnist.unet import ClassConditionalUNet, TimeConditionalUNet, UnconditionalUNet

Progress = Callable[[int, int, float], None]
OnEpochEnd = Callable[[int, nn.Module], None]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (SPEC Part B table)."""

    num_hiddens: int
    batch_size: int
    epochs: int
    lr: float
    lr_gamma: float = 1.0  # ExponentialLR factor per epoch; 1.0 keeps the lr constant
    p_uncond: float = 0.0  # class-dropping probability (2.3 only)
    max_train_images: int | None = None  # None uses every training image
    sigma: float = 0.5  # noise level of the single-step denoiser (2.1 only)
    seed: int = BASE_SEED

    @classmethod
    def from_params(cls, params: Mapping[str, Any], seed: int = BASE_SEED) -> TrainConfig:
        """The training hyperparameters among a section's params; its other keys (figures, samples) are ignored."""
        names = {field.name for field in dataclasses.fields(cls)} - {"seed"}
        return cls(**{key: value for key, value in params.items() if key in names}, seed=seed)


@dataclass
class TrainResult:
    """The trained model (eval mode), its loss at every step, and how this call got there."""

    model: nn.Module
    losses: list[float]
    resumed_from_epoch: int  # 0 when training started from scratch
    seconds: float


BatchLoss = Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor]


def denoiser_loss(config: TrainConfig) -> BatchLoss:
    """‖D_θ(z) − x‖² with z = x + σε, ε resampled every batch (SPEC 2.1)."""

    def loss(model: nn.Module, x: Tensor, _labels: Tensor, generator: torch.Generator) -> Tensor:
        z = x + config.sigma * torch.randn(x.shape, generator=generator, device=x.device)
        return F.mse_loss(model(z).float(), x)

    return loss


def time_conditioned_loss(schedule: DDPMSchedule) -> BatchLoss:
    """‖ε − ε_θ(x_t, t)‖², t ~ U{1..T} (SPEC 2.2)."""
    return lambda model, x, _labels, generator: ddpm_loss(model, x, schedule, generator=generator)


def class_conditioned_loss(schedule: DDPMSchedule, config: TrainConfig, num_classes: int = 10) -> BatchLoss:
    """‖ε − ε_θ(x_t, t, c)‖² with c dropped to 0 with probability p_uncond (SPEC 2.3)."""

    def loss(model: nn.Module, x: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        c = F.one_hot(labels, num_classes).float()
        return ddpm_loss(model, x, schedule, c=c, p_uncond=config.p_uncond, generator=generator)

    return loss


def train_denoiser(
    images: Tensor,
    config: TrainConfig,
    *,
    checkpoint_dir: Path | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    on_epoch_end: OnEpochEnd | None = None,
) -> TrainResult:
    """Train the single-step denoising UnconditionalUNet of SPEC 2.1 (hooks as for train_model)."""
    model = seeded(config, lambda: UnconditionalUNet(1, config.num_hiddens))
    no_labels = torch.zeros(len(images), dtype=torch.long)
    return train_model("denoiser", model, denoiser_loss(config), images, no_labels, config, checkpoint_dir, precision, progress, on_epoch_end)


def train_time_conditioned(
    images: Tensor,
    config: TrainConfig,
    *,
    checkpoint_dir: Path | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    on_epoch_end: OnEpochEnd | None = None,
) -> TrainResult:
    """Train the TimeConditionalUNet of SPEC 2.2 (hooks as for train_model)."""
    model = seeded(config, lambda: TimeConditionalUNet(1, config.num_hiddens))
    no_labels = torch.zeros(len(images), dtype=torch.long)
    return train_model("time", model, time_conditioned_loss(ddpm_schedule()), images, no_labels, config, checkpoint_dir, precision, progress, on_epoch_end)


def train_class_conditioned(
    images: Tensor,
    labels: Tensor,
    config: TrainConfig,
    *,
    checkpoint_dir: Path | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    on_epoch_end: OnEpochEnd | None = None,
) -> TrainResult:
    """Train the ClassConditionalUNet of SPEC 2.3 (hooks as for train_model)."""
    model = seeded(config, lambda: ClassConditionalUNet(1, 10, config.num_hiddens))
    loss = class_conditioned_loss(ddpm_schedule(), config)
    return train_model("class", model, loss, images, labels, config, checkpoint_dir, precision, progress, on_epoch_end)


def seeded(config: TrainConfig, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a model after seeding the global RNG, so its initial weights depend only on config.seed."""
    torch.manual_seed(config.seed)
    return build()


def train_model(
    kind: str,
    model: nn.Module,
    batch_loss: BatchLoss,
    images: Tensor,
    labels: Tensor,
    config: TrainConfig,
    checkpoint_dir: Path | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    on_epoch_end: OnEpochEnd | None = None,
) -> TrainResult:
    """Adam + ExponentialLR (stepped per epoch) over shuffled batches; checkpoints every epoch and resumes from the latest.

    on_epoch_end(epoch, model) runs (model in eval mode) only for epochs trained in this call.
    """
    started = time.perf_counter()
    precision = precision or fastest_precision()
    limit = config.max_train_images or len(images)
    images, labels = images[:limit].to(precision.device), labels[:limit].to(precision.device)
    model = precision.prepare(model).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_gamma)
    generator = torch.Generator(precision.device).manual_seed(config.seed)
    losses: list[float] = []
    start_epoch = _resume(kind, config, checkpoint_dir, model, optimizer, scheduler, generator, losses, precision.device)

    steps_per_epoch = -(-len(images) // config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    for epoch in range(start_epoch + 1, config.epochs + 1):
        order = torch.randperm(len(images), generator=generator, device=precision.device)
        for batch in order.split(config.batch_size):
            with precision.autocast():
                loss = batch_loss(model, precision.inputs(images[batch]), labels[batch], generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if progress is not None:
                progress(len(losses), total_steps, losses[-1])
        scheduler.step()
        if checkpoint_dir is not None:
            state = TrainingState(kind, dataclasses.asdict(config), epoch, model.state_dict(), optimizer.state_dict(), scheduler.state_dict(), generator.get_state(), losses)
            save_training_state(checkpoint_path(checkpoint_dir, epoch), state)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model.eval())
            model.train()
    return TrainResult(model.eval(), losses, start_epoch, time.perf_counter() - started)


def _resume(
    kind: str,
    config: TrainConfig,
    checkpoint_dir: Path | None,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    losses: list[float],
    device: torch.device,
) -> int:
    """Load the latest checkpoint in checkpoint_dir into the training objects; return its epoch (0 if none)."""
    path = latest_checkpoint(checkpoint_dir)
    if path is None:
        return 0
    state = load_training_state(path, device)
    if state.kind != kind or state.config != dataclasses.asdict(config):
        raise ValueError(f"{path} was written for a different run ({state.kind}, {state.config}); use an empty checkpoint_dir for this config.")
    model.load_state_dict(state.model)
    optimizer.load_state_dict(state.optimizer)
    scheduler.load_state_dict(state.scheduler)
    generator.set_state(state.rng)
    losses.extend(state.losses)
    return state.epoch
