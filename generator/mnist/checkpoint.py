"""Training checkpoints as safetensors (never pickle): tensors in the file, small non-tensor state as JSON metadata.

The file's header is written with sorted keys, so the same state gives the same bytes in every process (safetensors
itself orders the metadata as its hash map happens to iterate). safetensors has no checksum of its own, so the metadata
carries a SHA-256 of the whole state (`digest`): bytes overwritten after the save fail the check on every read instead
of becoming a model with NaN weights."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor, nn

from generator.mnist.digit_classifier import DigitClassifier
from generator.mnist.unet import ClassConditionalUNet, TimeConditionalUNet, UnconditionalUNet

FORMAT = "gen-mnist-checkpoint/1"
DIGEST_KEY = "sha256"  # the metadata field holding digest()
_NAME = re.compile(r"epoch-(\d{3,})\.safetensors")


class DamagedCheckpoint(ValueError):
    """A checkpoint that cannot be trusted: unreadable, of another format, without or failing its SHA-256, or unloadable.

    `reason` completes a sentence that starts with the file's name ("does not match ..."), for callers that say more.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path} {reason}; delete it and train again.")


@dataclass
class TrainingState:
    """Everything needed to continue training exactly: weights, optimizer, scheduler, RNG, loss history."""

    kind: str
    config: dict[str, Any]
    epoch: int
    model: dict[str, Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: Tensor
    losses: list[float]
    ema: dict[str, Tensor] | None = None  # the weights' moving average, which sampling uses when present


def checkpoint_path(checkpoint_dir: Path, epoch: int) -> Path:
    """checkpoint_dir/epoch-NNN.safetensors."""
    return Path(checkpoint_dir) / f"epoch-{epoch:03d}.safetensors"


def checkpoints(checkpoint_dir: Path | None) -> list[tuple[int, Path]]:
    """The (epoch, path) of every checkpoint in checkpoint_dir, oldest first; set-aside and partial files are not ones."""
    if checkpoint_dir is None or not Path(checkpoint_dir).is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in Path(checkpoint_dir).iterdir() if (m := _NAME.fullmatch(p.name)))


def latest_checkpoint(checkpoint_dir: Path | None) -> Path | None:
    """The checkpoint with the highest epoch in checkpoint_dir, or None."""
    found = checkpoints(checkpoint_dir)
    return found[-1][1] if found else None


def set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint to <name>.damaged (kept for a post-mortem, no longer found as a checkpoint)."""
    aside = Path(path).with_name(f"{Path(path).name}.damaged")
    os.replace(path, aside)
    return aside


def digest(metadata: Mapping[str, str], tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 of a checkpoint's state: the metadata (but its own field) as sorted JSON, then each tensor in name
    order as its name, dtype and shape (JSON) followed by its bytes; a change to any of them changes the digest."""
    hasher = hashlib.sha256(json.dumps({k: v for k, v in metadata.items() if k != DIGEST_KEY}, sort_keys=True).encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        hasher.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        # the raw bytes whatever the dtype (numpy has no bfloat16): a flat uint8 view of the same storage
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return hasher.hexdigest()


def save_training_state(path: Path, state: TrainingState) -> None:
    """Write state atomically; optimizer tensors are flattened to 'optimizer.<param>.<key>'."""
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in state.model.items()}
    tensors.update({f"ema.{k}": v.detach().contiguous().cpu() for k, v in (state.ema or {}).items()})
    scalars: dict[str, dict[str, Any]] = {}
    for index, param_state in state.optimizer["state"].items():
        for key, value in param_state.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors["rng"] = state.rng.cpu()
    tensors["losses"] = torch.tensor(state.losses, dtype=torch.float64)
    metadata = {
        "format": FORMAT,
        "kind": state.kind,
        "config": json.dumps(state.config, sort_keys=True),
        "epoch": str(state.epoch),
        "optimizer": json.dumps({"param_groups": state.optimizer["param_groups"], "scalars": scalars}, sort_keys=True),
        "scheduler": json.dumps(state.scheduler, sort_keys=True),
    }
    metadata[DIGEST_KEY] = digest(metadata, tensors)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(with_sorted_header(save(tensors, metadata=metadata)))
    os.replace(partial, path)


def with_sorted_header(data: bytes) -> bytes:
    """A safetensors file's bytes with its JSON header re-serialised with sorted keys (the tensor bytes are unchanged).

    Layout: an 8-byte little-endian header length, the header (padded with spaces to a multiple of 8), the tensor data;
    the header's data_offsets count from the end of the header, so the data moves with it unchanged.
    """
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + length :]


def _read(path: Path, device: torch.device | str, prefix: str | tuple[str, ...] = "") -> tuple[dict[str, str], dict[str, Tensor]]:
    """Metadata and the tensors whose names start with prefix, after checking the format and the SHA-256 of the whole
    state (every tensor is read for that, on the CPU); DamagedCheckpoint when either fails."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (OSError, SafetensorError) as err:
        raise DamagedCheckpoint(path, f"is not a readable checkpoint ({err})") from err
    if metadata.get("format") != FORMAT:
        raise DamagedCheckpoint(path, f"is not a {FORMAT} checkpoint")
    if DIGEST_KEY not in metadata:
        raise DamagedCheckpoint(path, "carries no SHA-256 of its state (it was written before gen checked checkpoints)")
    if digest(metadata, tensors) != metadata[DIGEST_KEY]:
        raise DamagedCheckpoint(path, "does not match the SHA-256 it was saved with (its bytes changed after it was written)")
    return metadata, {key: value.to(device) for key, value in tensors.items() if key.startswith(prefix)}


def verify_checkpoint(path: Path) -> None:
    """Raise DamagedCheckpoint unless path is a readable checkpoint whose state matches its SHA-256."""
    _read(path, "cpu", prefix=())


def load_training_state(path: Path, device: torch.device | str = "cpu") -> TrainingState:
    """Read a checkpoint written by save_training_state, rebuilding the optimizer state_dict; DamagedCheckpoint when the
    file fails its check or lacks a part of the state."""
    metadata, tensors = _read(path, device)
    try:
        optimizer_meta = json.loads(metadata["optimizer"])
        optimizer_state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in optimizer_meta["scalars"].items()}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                optimizer_state.setdefault(int(index), {})[name] = value
        return TrainingState(
            kind=metadata["kind"],
            config=json.loads(metadata["config"]),
            epoch=int(metadata["epoch"]),
            model={key.removeprefix("model."): v for key, v in tensors.items() if key.startswith("model.")},
            optimizer={"state": optimizer_state, "param_groups": optimizer_meta["param_groups"]},
            scheduler=json.loads(metadata["scheduler"]),
            rng=tensors["rng"].cpu(),
            losses=tensors["losses"].tolist(),
            ema={key.removeprefix("ema."): v for key, v in tensors.items() if key.startswith("ema.")} or None,
        )
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        # a file that passed its SHA-256 yet lacks a field was written by another program under our format name
        raise DamagedCheckpoint(path, f"lacks part of a training state ({type(err).__name__}: {err})") from err


def build_model(kind: str, config: dict[str, Any]) -> nn.Module:
    """The untrained architecture that a checkpoint of this kind ('denoiser', 'time', 'class', 'classifier') holds."""

    d = config["num_hiddens"]
    builders = {
        "denoiser": lambda: UnconditionalUNet(1, d),
        "time": lambda: TimeConditionalUNet(1, d),
        "class": lambda: ClassConditionalUNet(1, 10, d),
        "classifier": lambda: DigitClassifier(d),
    }
    if kind not in builders:
        raise ValueError(f"checkpoint kind {kind!r} is none of {sorted(builders)}; it was written by another program.")
    return builders[kind]()


def load_model(path: Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a checkpoint's model from its metadata (kind, config) with its sampling weights (EMA where kept), in eval mode."""
    metadata, tensors = _read(path, device, prefix=("model.", "ema."))
    model = build_model(metadata["kind"], json.loads(metadata["config"]))
    model.load_state_dict(_sampling_weights(tensors))
    return model.to(device).eval()


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a checkpoint's sampling weights (EMA where kept) into model (for sampling from an earlier epoch)."""
    _, tensors = _read(path, next(model.parameters()).device, prefix=("model.", "ema."))
    model.load_state_dict(_sampling_weights(tensors))
    return model


def _sampling_weights(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """The 'ema.' tensors when the checkpoint has them, else the trained 'model.' ones, without their prefix."""
    prefix = "ema." if any(key.startswith("ema.") for key in tensors) else "model."
    return {key.removeprefix(prefix): v for key, v in tensors.items() if key.startswith(prefix)}
