"""Training checkpoints as safetensors (never pickle): tensors in the file, small non-tensor state as JSON metadata.

The file's header is written with sorted keys, so the same state gives the same bytes in every process (safetensors
itself orders the metadata as its hash map happens to iterate)."""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor, nn

from generator.mnist.unet import ClassConditionalUNet, TimeConditionalUNet, UnconditionalUNet

FORMAT = "gen-mnist-checkpoint/1"
_NAME = re.compile(r"epoch-(\d{3,})\.safetensors")


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


def latest_checkpoint(checkpoint_dir: Path | None) -> Path | None:
    """The checkpoint with the highest epoch in checkpoint_dir, or None."""
    if checkpoint_dir is None or not Path(checkpoint_dir).is_dir():
        return None
    found = [(int(m.group(1)), p) for p in Path(checkpoint_dir).iterdir() if (m := _NAME.fullmatch(p.name))]
    return max(found)[1] if found else None


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
    """Metadata and the tensors whose names start with prefix, after checking the format."""
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys() if key.startswith(prefix)}
    except (OSError, SafetensorError) as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err}); delete it and train again.") from err
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint; delete it or point checkpoint_dir elsewhere.")
    return metadata, tensors


def load_training_state(path: Path, device: torch.device | str = "cpu") -> TrainingState:
    """Read a checkpoint written by save_training_state, rebuilding the optimizer state_dict."""
    metadata, tensors = _read(path, device)
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


def build_model(kind: str, config: dict[str, Any]) -> nn.Module:
    """The untrained architecture that a checkpoint of this kind ('denoiser', 'time', 'class', 'classifier') holds."""
    from generator.mnist.classifier import DigitClassifier  # imported here: classifier -> train -> this module

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
