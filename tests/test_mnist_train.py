"""Training loops: per-step losses, hooks, safetensors checkpoints, EMA and lr schedules, resume that equals an uninterrupted run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from generator.mnist.checkpoint import latest_checkpoint, load_model, load_weights
from generator.mnist.data import load_mnist
from generator.mnist.estimators import sample_digits
from generator.mnist.precision import fastest_precision
from generator.mnist.train import TrainConfig, train_class_conditioned, train_denoiser, train_time_conditioned
from generator.mnist.unet import ClassConditionalUNet

TINY = TrainConfig(num_hiddens=4, batch_size=16, epochs=2, lr=3e-3, lr_gamma=0.5, p_uncond=0.1, max_train_images=48)
TINY_QUICK = dataclasses.replace(TINY, lr_schedule="onecycle", ema_decay=0.9)


class Interrupt(Exception):
    """Stands in for a killed process."""


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def stop_after_epoch_1(epoch: int, _model: torch.nn.Module) -> None:
    if epoch == 1:
        raise Interrupt


@pytest.mark.parametrize("config", [TINY, TINY_QUICK], ids=["exponential", "onecycle+ema"])
def test_resumed_training_equals_uninterrupted_training(mnist, tmp_path: Path, config: TrainConfig) -> None:
    precision = fastest_precision("cpu")
    straight = train_class_conditioned(mnist.train_images, mnist.train_labels, config, checkpoint_dir=tmp_path / "a", precision=precision)
    with pytest.raises(Interrupt):
        train_class_conditioned(mnist.train_images, mnist.train_labels, config, checkpoint_dir=tmp_path / "b", precision=precision, on_epoch_end=stop_after_epoch_1)
    assert latest_checkpoint(tmp_path / "b").name == "epoch-001.safetensors"
    resumed = train_class_conditioned(mnist.train_images, mnist.train_labels, config, checkpoint_dir=tmp_path / "b", precision=precision)
    assert resumed.resumed_from_epoch == 1
    assert resumed.losses == straight.losses
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_checkpoint_is_safetensors_with_optimizer_scheduler_and_losses(mnist, tmp_path: Path) -> None:
    result = train_time_conditioned(mnist.train_images, TINY, checkpoint_dir=tmp_path)
    with safe_open(str(tmp_path / "epoch-002.safetensors"), framework="pt") as f:
        keys, metadata = set(f.keys()), f.metadata()
        assert f.get_tensor("losses").tolist() == result.losses
    assert any(k.startswith("optimizer.0.exp_avg") for k in keys) and "rng" in keys
    assert json.loads(metadata["scheduler"])["last_epoch"] == 2 and metadata["epoch"] == "2"


def test_checkpoint_header_is_sorted_so_the_same_state_gives_the_same_bytes(mnist, tmp_path: Path) -> None:
    train_denoiser(mnist.train_images, TINY, checkpoint_dir=tmp_path)
    data = (tmp_path / "epoch-002.safetensors").read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    assert list(header) == sorted(header) and list(header["__metadata__"]) == sorted(header["__metadata__"])
    assert length % 8 == 0


def test_ema_weights_are_what_sampling_loads(mnist, tmp_path: Path) -> None:
    result = train_time_conditioned(mnist.train_images, TINY_QUICK, checkpoint_dir=tmp_path)
    path = tmp_path / "epoch-002.safetensors"
    with safe_open(str(path), framework="pt") as f:
        trained, averaged = f.get_tensor("model.head.weight"), f.get_tensor("ema.head.weight")
    assert not torch.equal(trained, averaged)
    assert torch.equal(load_model(path).head.weight, averaged) and torch.equal(result.model.head.weight, averaged)


def test_onecycle_warms_up_and_anneals_the_learning_rate_every_step(mnist, tmp_path: Path) -> None:
    train_denoiser(mnist.train_images, TINY_QUICK, checkpoint_dir=tmp_path)
    with safe_open(str(tmp_path / "epoch-002.safetensors"), framework="pt") as f:
        scheduler, optimizer = json.loads(f.metadata()["scheduler"]), json.loads(f.metadata()["optimizer"])
    assert scheduler["last_epoch"] == 6 and scheduler["total_steps"] == 6  # 3 steps per epoch, stepped each one
    group = optimizer["param_groups"][0]
    assert group["max_lr"] == TINY_QUICK.lr and group["initial_lr"] == TINY_QUICK.lr / 25


def test_finished_run_in_checkpoint_dir_is_loaded_not_retrained(mnist, tmp_path: Path) -> None:
    first = train_denoiser(mnist.train_images, TINY, checkpoint_dir=tmp_path)
    calls: list[int] = []
    again = train_denoiser(mnist.train_images, TINY, checkpoint_dir=tmp_path, progress=lambda step, total: calls.append(step))
    assert calls == [] and again.resumed_from_epoch == 2 and again.losses == first.losses


def test_checkpoint_of_another_config_is_refused(mnist, tmp_path: Path) -> None:
    train_denoiser(mnist.train_images, TINY, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="different run"):
        train_denoiser(mnist.train_images, dataclasses.replace(TINY, lr=1e-3), checkpoint_dir=tmp_path)


def test_progress_sees_every_step_and_epoch_hook_every_epoch(mnist) -> None:
    steps: list[tuple[int, int]] = []
    epochs: list[int] = []
    result = train_denoiser(mnist.train_images, TINY, progress=lambda step, total: steps.append((step, total)), on_epoch_end=lambda e, m: epochs.append(e))
    assert steps == [(i, 6) for i in range(1, 7)] and epochs == [1, 2] and len(result.losses) == 6


def test_epoch_weights_load_into_a_fresh_model_and_sample_digits(mnist, tmp_path: Path) -> None:
    trained = train_class_conditioned(mnist.train_images, mnist.train_labels, TINY, checkpoint_dir=tmp_path)
    model = load_weights(ClassConditionalUNet(1, 10, TINY.num_hiddens), tmp_path / "epoch-002.safetensors").eval()
    c = torch.eye(10)[:2]
    samples = sample_digits(model, 2, c=c, seed=7)
    assert torch.equal(samples, sample_digits(trained.model, 2, c=c, seed=7))
    assert samples.shape == (2, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1


def test_full_profile_is_the_spec_hyperparameters() -> None:
    from generator.engine.discovery import load_sections
    from generator.run.project import open_project

    specs = {m.spec.id: m.spec for m in load_sections(open_project(Path(__file__).parent))}
    den = TrainConfig.from_params(specs["2.1"].params_for("full"))
    assert (den.num_hiddens, den.batch_size, den.epochs, den.lr, den.sigma, den.lr_schedule, den.ema_decay) == (128, 256, 5, 1e-4, 0.5, "exponential", 0.0)
    assert specs["2.1"].params_for("full")["sample_epochs"] == [1, 5]
    for section, p_uncond in (("2.2", 0.0), ("2.3", 0.1)):
        config = TrainConfig.from_params(specs[section].params_for("full"))
        assert (config.num_hiddens, config.batch_size, config.epochs, config.lr, config.p_uncond) == (64, 128, 20, 1e-3, p_uncond)
        assert (config.lr_schedule, config.ema_decay, config.max_train_images) == ("exponential", 0.0, None)
    assert specs["2.2"].params_for("full")["sample_epochs"] == [1, 5, 10, 15, 20]
    assert specs["2.3"].params_for("full")["sample_epochs"] == [5, 20] and specs["2.3"].params_for("full")["sweep"] == [0.0, 5.0, 10.0]
    assert specs["2.3"].params_for("full")["per_digit"] == 4 and specs["2.3"].params_for("full")["guidance"] == 5.0


def test_load_model_rebuilds_the_architecture_from_checkpoint_metadata(mnist, tmp_path: Path) -> None:
    trained = train_class_conditioned(mnist.train_images, mnist.train_labels, TINY, checkpoint_dir=tmp_path)
    model = load_model(tmp_path / "epoch-002.safetensors")
    assert isinstance(model, ClassConditionalUNet) and not model.training
    for a, b in zip(trained.model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_unreadable_checkpoint_raises_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "epoch-001.safetensors"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable checkpoint"):
        load_model(path)
