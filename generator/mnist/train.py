"""Training loops of SPEC 2.0–2.3: the data on the device, no per-step host sync, per-epoch checkpoints and exact resume.

Resume trusts no checkpoint blindly: one that fails its SHA-256 or cannot be loaded is set aside as <name>.damaged, said
in one sentence, and training goes on from the newest good checkpoint before it, or from scratch; retraining gives the
same bytes as a run that was never damaged, because every epoch is a function of the one before it.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from generator.diffusion.schedule import NoiseSchedule
from generator.mnist import BASE_SEED
from generator.mnist.checkpoint import (
    DamagedCheckpoint,
    TrainingState,
    checkpoint_path,
    checkpoints,
    load_training_state,
    save_training_state,
    set_aside,
    verify_checkpoint,
)
from generator.mnist.objectives import BatchLoss, denoiser_loss, epsilon_loss, flow_loss, part_b_schedule
from generator.mnist.precision import Precision, fastest_precision
from generator.mnist.unet import ClassConditionalUNet, TimeConditionalUNet, UnconditionalUNet

Progress = Callable[[int, int], None]
OnEpochEnd = Callable[[int, nn.Module], None]
Log = Callable[[str], None]
LR_SCHEDULES = ("exponential", "onecycle")
OBJECTIVES = ("ddpm", "flow")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (SPEC Part B table, plus the levers of the quick profile)."""

    num_hiddens: int
    batch_size: int
    epochs: int
    lr: float
    lr_schedule: str = "exponential"  # "exponential": ExponentialLR(lr_gamma) per epoch; "onecycle": OneCycleLR(max lr) per step
    lr_gamma: float = 1.0  # ExponentialLR factor per epoch; 1.0 keeps the lr constant
    ema_decay: float = 0.0  # exponential moving average of the weights for sampling (0: none, sample the trained weights)
    p_uncond: float = 0.0  # class-dropping probability (2.3 and 2.5 only)
    objective: str = "ddpm"  # what 2.2–2.5 learn: "ddpm", the noise ε (SPEC 2.2, 2.3), or "flow", the velocity x₁ − x₀ (2.4, 2.5)
    max_train_images: int | None = None  # None uses every training image
    sigma: float = 0.5  # noise level of the single-step denoiser (2.1 only)
    seed: int = BASE_SEED

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {self.lr_schedule!r}.")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}.")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], seed: int = BASE_SEED) -> TrainConfig:
        """The training hyperparameters among a section's params; its other keys (figures, samples) are ignored."""
        names = {field.name for field in dataclasses.fields(cls)} - {"seed"}
        return cls(**{key: value for key, value in params.items() if key in names}, seed=seed)


@dataclass
class TrainResult:
    """The model to sample from (its EMA weights where the config keeps one; eval mode), the loss at every step, and how."""

    model: nn.Module
    losses: list[float]
    resumed_from_epoch: int  # 0 when training started from scratch
    seconds: float


def train_denoiser(images: Tensor, config: TrainConfig, **hooks: Any) -> TrainResult:
    """Train the single-step denoising UnconditionalUNet of SPEC 2.1 (hooks as for train_model)."""
    model = seeded(config, lambda: UnconditionalUNet(1, config.num_hiddens))
    return train_model("denoiser", model, denoiser_loss(config.sigma), images, torch.zeros(len(images), dtype=torch.long), config, **hooks)


def train_time_conditioned(images: Tensor, config: TrainConfig, schedule: NoiseSchedule | None = None, **hooks: Any) -> TrainResult:
    """Train the TimeConditionalUNet of SPEC 2.2 as a DDPM, or of 2.4 by flow matching, as config.objective says (hooks as
    for train_model)."""
    model = seeded(config, lambda: TimeConditionalUNet(1, config.num_hiddens))
    loss = flow_loss() if config.objective == "flow" else epsilon_loss(schedule or part_b_schedule())
    return train_model("time", model, loss, images, torch.zeros(len(images), dtype=torch.long), config, **hooks)


def train_class_conditioned(images: Tensor, labels: Tensor, config: TrainConfig, schedule: NoiseSchedule | None = None, **hooks: Any) -> TrainResult:
    """Train the ClassConditionalUNet of SPEC 2.3 as a DDPM, or of 2.5 by flow matching, with class dropping (hooks as for
    train_model)."""
    p_uncond = config.p_uncond
    model = seeded(config, lambda: ClassConditionalUNet(1, 10, config.num_hiddens))
    loss = flow_loss(p_uncond) if config.objective == "flow" else epsilon_loss(schedule or part_b_schedule(), p_uncond=p_uncond)
    return train_model("class", model, loss, images, labels, config, **hooks)


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
    *,
    checkpoint_dir: Path | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    on_epoch_end: OnEpochEnd | None = None,
    log: Log | None = None,
) -> TrainResult:
    """Adam over shuffled batches of the device-resident data; checkpoints every epoch and resumes from the latest good one.

    Losses stay on the device until the epoch ends (one host sync per epoch). on_epoch_end(epoch, model) runs, with the
    sampling weights in eval mode, only for epochs trained in this call. log(sentence) hears of every checkpoint set aside
    as damaged (a RuntimeWarning when no log is given).
    """
    started = time.perf_counter()
    precision = precision or fastest_precision()
    limit = config.max_train_images or len(images)
    images, labels = precision.inputs(images[:limit]), labels[:limit].to(precision.device)
    steps_per_epoch = -(-len(images) // config.batch_size)
    model = precision.prepare(model).train()
    run = _Run(model, config, precision, steps_per_epoch)
    start_epoch = run.resume(kind, checkpoint_dir, log or _warn)

    for epoch in range(start_epoch + 1, config.epochs + 1):
        epoch_losses = torch.zeros(steps_per_epoch, device=precision.device)
        order = torch.randperm(len(images), generator=run.generator, device=precision.device)
        for step, batch in enumerate(order.split(config.batch_size)):
            with precision.autocast():
                loss = batch_loss(model, images[batch], labels[batch], run.generator)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.optimizer.step()
            run.after_step()
            epoch_losses[step] = loss.detach()
            if progress is not None:
                progress(len(run.losses) + step + 1, config.epochs * steps_per_epoch)
        run.losses.extend(epoch_losses.tolist())
        run.after_epoch(kind, epoch, checkpoint_dir)
        if on_epoch_end is not None:
            on_epoch_end(epoch, run.sampling_model().eval())
            model.train()
    return TrainResult(run.sampling_model().eval(), run.losses, start_epoch, time.perf_counter() - started)


class _Run:
    """The state of one training run besides the model: optimizer, lr schedule, EMA weights, RNG and losses."""

    def __init__(self, model: nn.Module, config: TrainConfig, precision: Precision, steps_per_epoch: int) -> None:
        self.model, self.config, self.precision, self.steps_per_epoch = model, config, precision, steps_per_epoch
        self.start()

    def start(self) -> None:
        """The state of epoch 0 for the model's current weights: fresh optimizer, lr schedule, RNG, EMA and losses."""
        model, config, precision, steps_per_epoch = self.model, self.config, self.precision, self.steps_per_epoch
        # fused Adam is one kernel per step on a GPU; foreach batches the CPU's per-tensor loops
        fused = precision.device.type == "cuda"
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=fused, foreach=not fused)
        if config.lr_schedule == "onecycle":
            self.scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, config.lr, total_steps=config.epochs * steps_per_epoch)
        else:
            self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=config.lr_gamma)
        self.generator = torch.Generator(precision.device).manual_seed(config.seed)
        self.ema: dict[str, Tensor] | None = None
        if config.ema_decay:
            self.use_ema({name: value.detach().clone() for name, value in model.state_dict().items()})
        self.losses: list[float] = []
        self.steps = 0

    def use_ema(self, ema: dict[str, Tensor]) -> None:
        """Keep ema and pair its tensors with the model's (state_dict shares their storage, so the pairs stay live)."""
        self.ema, current = ema, self.model.state_dict()
        floats = [name for name, value in ema.items() if value.is_floating_point()]
        self._averaged = ([ema[n] for n in floats], [current[n] for n in floats])
        self._copied = [(ema[n], current[n]) for n in ema if n not in floats]

    def after_step(self) -> None:
        """Per-step lr schedule and the EMA update ema ← ema + (1 − d)(θ − ema), with d warming up as (1 + n)/(10 + n)."""
        self.steps += 1
        if self.config.lr_schedule == "onecycle":
            self.scheduler.step()
        if self.ema is not None:
            decay = min(self.config.ema_decay, (1 + self.steps) / (10 + self.steps))
            torch._foreach_lerp_(*self._averaged, 1.0 - decay)
            for averaged, current in self._copied:
                averaged.copy_(current)

    def after_epoch(self, kind: str, epoch: int, checkpoint_dir: Path | None) -> None:
        if self.config.lr_schedule == "exponential":
            self.scheduler.step()
        if checkpoint_dir is not None:
            state = TrainingState(
                kind, dataclasses.asdict(self.config), epoch, self.model.state_dict(), self.optimizer.state_dict(), self.scheduler.state_dict(),
                self.generator.get_state(), self.losses, self.ema,
            )
            save_training_state(checkpoint_path(checkpoint_dir, epoch), state)

    def sampling_model(self) -> nn.Module:
        """The trained model, or a copy holding the EMA weights when the run keeps them."""
        if self.ema is None:
            return self.model
        averaged = copy.deepcopy(self.model)
        averaged.load_state_dict(self.ema)
        return averaged

    def resume(self, kind: str, checkpoint_dir: Path | None, log: Log) -> int:
        """Load the newest good checkpoint in checkpoint_dir into the run and return its epoch (0 if none).

        Every checkpoint is checked, oldest first, because the sections load earlier epochs' weights too; each damaged
        one is set aside, and only a checkpoint older than the oldest damaged one is resumed from, so that retraining
        rewrites every epoch after it. A checkpoint that passes its check but cannot be loaded into this run is set
        aside as well, and the run falls back to the one before it.
        """
        found = checkpoints(checkpoint_dir)
        if not found:
            return 0
        good: list[Path] = []
        damaged: list[DamagedCheckpoint] = []
        for _, path in found:
            try:
                verify_checkpoint(path)
            except DamagedCheckpoint as err:
                damaged.append(err)
                set_aside(path)
                continue
            if not damaged:
                good.append(path)
        initial = {name: value.clone() for name, value in self.model.state_dict().items()} if good else {}
        epoch, source = 0, "starts again from scratch"
        while good:
            path = good.pop()
            try:
                epoch, source = self.load(kind, path), f"resumes after {path.name}"
                break
            except DamagedCheckpoint as err:
                damaged.append(err)
                set_aside(path)
                # the failed load may have changed some of the run: back to epoch 0 before trying an older checkpoint
                self.model.load_state_dict(initial)
                self.start()
        for err in damaged:
            log(f"Checkpoint {err.path} {err.reason}, so it was set aside as {err.path.name}.damaged and training {source}.")
        return epoch

    def load(self, kind: str, path: Path) -> int:
        """Load the checkpoint at path into the run and return its epoch; DamagedCheckpoint when it cannot be loaded."""
        device = next(self.model.parameters()).device
        state = load_training_state(path, device)
        if state.kind != kind or state.config != dataclasses.asdict(self.config):
            raise ValueError(f"{path} was written for a different run ({state.kind}, {state.config}); use an empty checkpoint_dir for this config.")
        if self.ema is not None and not state.ema:
            raise DamagedCheckpoint(path, "holds no EMA weights although its config keeps them")
        if self.ema is not None and _layout(state.ema) != _layout(self.model.state_dict()):
            # use_ema takes the tensors as they are: a mismatch would surface only at the first EMA update
            raise DamagedCheckpoint(path, "holds EMA weights whose names or shapes are not the model's")
        try:
            self.model.load_state_dict(state.model)
            self.optimizer.load_state_dict(state.optimizer)
            self.scheduler.load_state_dict(state.scheduler)
            self.generator.set_state(state.rng)
            if self.ema is not None:
                self.use_ema({name: value.to(device) for name, value in state.ema.items()})
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as err:
            # torch's words for wrong shapes or a bad RNG state; its first line is the useful one
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DamagedCheckpoint(path, f"holds a state this run cannot load ({first_line})") from err
        self.losses.extend(state.losses)
        self.steps = len(state.losses)
        return state.epoch


def _layout(tensors: Mapping[str, Tensor]) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Each tensor's shape and dtype by name."""
    return {name: (tuple(value.shape), value.dtype) for name, value in tensors.items()}


def _warn(message: str) -> None:
    """The log of a training run that was given none: a warning, which reaches the user of a script or a notebook."""
    warnings.warn(message, RuntimeWarning, stacklevel=4)
