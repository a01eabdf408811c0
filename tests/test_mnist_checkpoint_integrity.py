"""Checkpoints carry a SHA-256 of their state: a damaged one is set aside (<name>.damaged) in one sentence and training
goes on from the last good one, to the same bytes as an undamaged run; a metric that is not finite fails its result
(issue 18, findings 4 and 5)."""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import copy_project, section_source, wait_for
from safetensors import safe_open
from safetensors.torch import save

from generator.mnist.checkpoint import (
    DIGEST_KEY,
    DamagedCheckpoint,
    load_model,
    load_training_state,
    load_weights,
    save_training_state,
    with_sorted_header,
)
from generator.mnist.data import load_mnist
from generator.mnist.train import TrainConfig, TrainResult, train_denoiser
from generator.mnist.unet import UnconditionalUNet

TINY = TrainConfig(num_hiddens=4, batch_size=16, epochs=2, lr=3e-3, lr_gamma=0.5, max_train_images=48)
TINY_EMA = dataclasses.replace(TINY, lr_schedule="onecycle", ema_decay=0.9)


class Interrupt(Exception):
    """Stands in for a killed build."""


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def stop_after_epoch_1(epoch: int, _model: torch.nn.Module) -> None:
    if epoch == 1:
        raise Interrupt


def overwrite_tensor_bytes(path: Path, keep: Callable[[str], bool], byte: bytes = b"\xff") -> None:
    """Overwrite the data of the tensors whose names pass `keep`, leaving the safetensors header as it was."""
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    for name, entry in header.items():
        if name != "__metadata__" and keep(name):
            start, end = (8 + length + offset for offset in entry["data_offsets"])
            data[start:end] = byte * (end - start)
    path.write_bytes(bytes(data))


def train(mnist, config: TrainConfig, folder: Path, **hooks) -> tuple[TrainResult, list[str]]:
    """Train the 2.1 denoiser in folder; also the warnings it raised (the log of a run given no log)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train_denoiser(mnist.train_images, config, checkpoint_dir=folder, **hooks)
    return result, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def assert_same_training(a: TrainResult, b: TrainResult) -> None:
    assert b.losses == a.losses
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def assert_one_sentence(message: str, *words: str) -> None:
    assert "\n" not in message and message.endswith(".") and ". " not in message, message
    for word in words:
        assert word in message, (word, message)


def test_damaged_weights_are_set_aside_and_retrained_to_the_undamaged_result_with_finite_metrics(mnist, tmp_path: Path) -> None:
    clean, _ = train(mnist, TINY_EMA, tmp_path / "clean")
    train(mnist, TINY_EMA, tmp_path / "run")
    final = tmp_path / "run" / "epoch-002.safetensors"
    overwrite_tensor_bytes(final, lambda name: name.startswith(("model.", "ema.")))  # 0xFF bytes are NaN floats

    again, said = train(mnist, TINY_EMA, tmp_path / "run")

    digit = mnist.test_images[:4]
    with torch.no_grad():
        mse = float(((again.model(digit + 0.5 * torch.randn_like(digit)) - digit) ** 2).mean())
    assert torch.isfinite(torch.tensor(mse)) and all(torch.isfinite(v).all() for v in again.model.state_dict().values())
    assert_same_training(clean, again)
    assert final.with_name("epoch-002.safetensors.damaged").is_file()
    assert final.read_bytes() == (tmp_path / "clean" / "epoch-002.safetensors").read_bytes()
    (message,) = said
    assert_one_sentence(message, str(final), "SHA-256", "set aside as epoch-002.safetensors.damaged", "resumes after epoch-001.safetensors")


def test_damaged_rng_state_is_set_aside_in_one_sentence_and_training_goes_on(mnist, tmp_path: Path) -> None:
    clean, _ = train(mnist, TINY, tmp_path / "clean")
    with pytest.raises(Interrupt):
        train(mnist, TINY, tmp_path / "run", on_epoch_end=stop_after_epoch_1)
    first = tmp_path / "run" / "epoch-001.safetensors"
    overwrite_tensor_bytes(first, lambda name: name == "rng")  # torch: "Invalid mt19937 state"

    messages: list[str] = []
    again = train_denoiser(mnist.train_images, TINY, checkpoint_dir=tmp_path / "run", log=messages.append)

    assert again.resumed_from_epoch == 0
    assert_same_training(clean, again)
    assert first.with_name("epoch-001.safetensors.damaged").is_file()
    (message,) = messages
    assert_one_sentence(message, str(first), "set aside as epoch-001.safetensors.damaged", "starts again from scratch")
    # and the next run resumes from the rewritten checkpoints without a word
    assert train_denoiser(mnist.train_images, TINY, checkpoint_dir=tmp_path / "run", log=messages.append).resumed_from_epoch == 2
    assert len(messages) == 1


@pytest.mark.parametrize("bad_epoch, resumed", [(1, 0), (2, 1)], ids=["only-checkpoint", "latest-of-two"])
def test_a_checkpoint_that_passes_its_sha256_but_cannot_be_loaded_is_set_aside_and_the_run_falls_back(
    mnist, tmp_path: Path, bad_epoch: int, resumed: int
) -> None:
    """Loading fails half-way (weights, optimizer and lr schedule in, then the RNG state refused): the fallback must
    still equal an undamaged run, EMA and one-cycle schedule included."""
    clean, _ = train(mnist, TINY_EMA, tmp_path / "clean")
    stop = stop_after_epoch_1 if bad_epoch == 1 else None
    try:
        train(mnist, TINY_EMA, tmp_path / "run", on_epoch_end=stop)
    except Interrupt:
        pass
    path = tmp_path / "run" / f"epoch-{bad_epoch:03d}.safetensors"
    state = load_training_state(path)
    save_training_state(path, dataclasses.replace(state, rng=torch.full_like(state.rng, 255)))  # a valid SHA-256 of a bad state

    again, said = train(mnist, TINY_EMA, tmp_path / "run")

    assert again.resumed_from_epoch == resumed
    assert_same_training(clean, again)
    (message,) = said
    assert_one_sentence(message, path.name, "cannot load (Invalid mt19937 state)", "set aside")


def test_a_checkpoint_without_its_sha256_is_treated_as_damaged_and_training_starts_again(mnist, tmp_path: Path) -> None:
    clean, _ = train(mnist, TINY, tmp_path / "clean")
    with pytest.raises(Interrupt):
        train(mnist, TINY, tmp_path / "run", on_epoch_end=stop_after_epoch_1)
    path = tmp_path / "run" / "epoch-001.safetensors"
    with safe_open(str(path), framework="pt") as f:  # as a checkpoint written before checksums
        metadata = {k: v for k, v in f.metadata().items() if k != DIGEST_KEY}
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    path.write_bytes(with_sorted_header(save(tensors, metadata=metadata)))

    again, said = train(mnist, TINY, tmp_path / "run")

    assert again.resumed_from_epoch == 0
    assert_same_training(clean, again)
    (message,) = said
    assert_one_sentence(message, "carries no SHA-256", "written before gen checked checkpoints", "starts again from scratch")


def test_a_damaged_earlier_epoch_is_retrained_too_so_the_sections_sample_its_true_weights(mnist, tmp_path: Path) -> None:
    clean, _ = train(mnist, TINY, tmp_path / "clean")
    train(mnist, TINY, tmp_path / "run")
    overwrite_tensor_bytes(tmp_path / "run" / "epoch-001.safetensors", lambda name: name.startswith("model."))

    again, said = train(mnist, TINY, tmp_path / "run")

    assert again.resumed_from_epoch == 0 and len(said) == 1
    assert_same_training(clean, again)
    for epoch in (1, 2):
        name = f"epoch-{epoch:03d}.safetensors"
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()


def test_loading_weights_whose_bytes_changed_raises_one_sentence_naming_the_file(mnist, tmp_path: Path) -> None:
    train(mnist, TINY, tmp_path)
    path = tmp_path / "epoch-002.safetensors"
    overwrite_tensor_bytes(path, lambda name: name.startswith("model."), b"\x00")
    for load in (lambda: load_model(path), lambda: load_weights(UnconditionalUNet(1, TINY.num_hiddens), path)):
        with pytest.raises(DamagedCheckpoint, match=re.escape(f"{path} does not match the SHA-256 it was saved with")):
            load()


def test_a_metric_that_is_not_finite_fails_the_result_and_the_last_good_one_stays(project) -> None:
    project.gen("build", "--no-site")
    manifest = project.root / "cache/2.3/none/quick/manifest.json"
    before = manifest.read_bytes()
    project.write("sections/b3.py", section_source("2.3", params="{'scale': 5.0}", body="ctx.metric('ood_mse', float('nan'))"))

    result = project.gen("build", "--no-site", check=1)

    assert manifest.read_bytes() == before
    (line,) = [line for line in result.stdout.splitlines() if "not a finite number" in line]
    assert "'ood_mse'" in line and "failed" in line and "failed 1" in result.stdout
    (status,) = json.loads(project.gen("status", "--section", "2.3", "--json").stdout)
    assert status["state"] == "stale" and status["metrics"] == {"value": 6.0}


def test_a_build_whose_checkpoint_was_damaged_sets_it_aside_says_so_and_publishes_finite_metrics(tmp_path: Path) -> None:
    """Findings 4 and 5 as reproduced: a forced 2.1 build killed once its epoch checkpoint exists, the checkpoint's
    weights (then its RNG state) overwritten, and a forced rebuild."""
    (tmp_path / "report").mkdir()
    copy = copy_project(tmp_path / "report")
    for other in (copy.root / "sections").glob("[ab]*.py"):  # 2.1 reads no other section: the rest would only cost time
        if other.name != "b2_1_single_step_denoiser.py":
            other.unlink()
    build = ("build", "--profile", "smoke", "--section", "2.1", "--no-site", "--force")
    process = copy.start(*build, output=tmp_path / "first.out")
    kept: dict[Path, bytes] = {}

    def keep_checkpoint() -> bool:
        """Read the epoch checkpoint as soon as it exists: a build that finishes before the kill drops its work folder."""
        for path in (copy.root / "artifacts/.work").rglob("epoch-001.safetensors"):
            try:
                kept[path] = path.read_bytes()
            except FileNotFoundError:
                continue
        return bool(kept) or process.poll() is not None

    try:
        wait_for(keep_checkpoint, 300)
    finally:
        process.kill()
        process.wait()
    assert kept, (tmp_path / "first.out").read_text()
    ((checkpoint, good),) = kept.items()
    for damaged in (lambda name: name.startswith(("model.", "ema.")), lambda name: name == "rng"):
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.write_bytes(good)
        overwrite_tensor_bytes(checkpoint, damaged)
        result = copy.gen(*build, timeout=600)
        said = " ".join(result.stdout.split())  # the console wraps the sentence at its width
        assert said.count(f"so it was set aside as {checkpoint.name}.damaged and training starts again from scratch.") == 1, result.stdout
        assert "invalid value" not in result.stderr and "Invalid mt19937" not in result.stdout + result.stderr
        (status,) = json.loads(copy.gen("status", "--section", "2.1", "--profile", "smoke", "--json").stdout)
        assert status["state"] == "fresh" and status["metrics"]
        assert all(torch.isfinite(torch.tensor(float(value))) for value in status["metrics"].values()), status["metrics"]
