"""Where and in what number format the MNIST models run: device, autocast dtype, memory layout."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Precision:
    """A device plus the autocast dtype (None = fp32) and memory layout used for training and sampling."""

    device: torch.device
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """Mixed-precision region for forward passes (a no-op in fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move a model to the device and layout."""
        return model.to(self.device, memory_format=self._memory_format)

    def inputs(self, x: Tensor) -> Tensor:
        """Move an image batch to the device and layout."""
        return x.to(self.device, memory_format=self._memory_format)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def describe(self) -> str:
        """A short label such as 'cpu bf16 channels_last'."""
        dtype = "fp32" if self.autocast_dtype is None else str(self.autocast_dtype).removeprefix("torch.").replace("bfloat16", "bf16").replace("float16", "fp16")
        return f"{self.device.type} {dtype}" + (" channels_last" if self.channels_last else "")


def cpu_has_amx() -> bool:
    """True when the CPU has AMX tiles, the only CPU bf16 path that beat fp32 here (AVX512-BF16 alone was slower)."""
    is_supported = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(is_supported is not None and is_supported() and torch.backends.mkldnn.is_available())


FORCED = "GEN_PRECISION"  # "fp32" or "bf16" forces the number format ([tool.gen] precision; the build sets it per result)


def fastest_precision(device: str | torch.device | None = None) -> Precision:
    """The measured fastest (BENCHMARKS.md): bf16 autocast + channels_last on a GPU or an AMX CPU, else fp32 + channels_last;
    GEN_PRECISION=fp32 or bf16 forces the format."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    forced = os.environ.get(FORCED, "auto")
    if forced in ("fp32", "bf16"):
        return Precision(dev, torch.bfloat16 if forced == "bf16" else None, channels_last=True)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the shapes repeat every step: let cuDNN pick its fastest kernels once
        return Precision(dev, torch.bfloat16 if torch.cuda.is_bf16_supported() else None, channels_last=True)
    return Precision(dev, torch.bfloat16 if cpu_has_amx() else None, channels_last=True)
