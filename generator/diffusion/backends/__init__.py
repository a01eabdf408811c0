"""The backend registry: cheap facts about each backend, without importing torch or diffusers."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEEPFLOYD_MODELS = {"stage_1": "DeepFloyd/IF-I-XL-v1.0", "stage_2": "DeepFloyd/IF-II-L-v1.0"}


@dataclass(frozen=True)
class BackendInfo:
    """A backend as the build planner sees it: name, label, availability and identity."""

    name: str
    label: str
    # Used by a plain `gen build` when it can run here (tiny is for tests only).
    default: bool
    # Where the heavy backend class lives: "module:Class", imported only to compute.
    loader: str
    # Sections whose artifacts the backend reads (the mnist backend reads 2.3's UNet).
    upstream: tuple[str, ...] = ()
    unavailable: Callable[[bool, Mapping[str, Any]], str | None] = lambda needs_model, config: None
    identity: Callable[[Mapping[str, Any]], dict] = lambda config: {}

    def load(self, config: Mapping[str, Any], **kwargs: Any) -> Any:
        """Import and construct the heavy backend object (loads no weights yet)."""
        module_name, class_name = self.loader.split(":")
        return getattr(importlib.import_module(module_name), class_name)(dict(config), **kwargs)


def _deepfloyd_unavailable(needs_model: bool, config: Mapping[str, Any]) -> str | None:
    from generator.diffusion.backends.probe import deepfloyd_unavailable_reason

    return deepfloyd_unavailable_reason(needs_model, config.get("stage_1", DEEPFLOYD_MODELS["stage_1"]))


def _deepfloyd_identity(config: Mapping[str, Any]) -> dict:
    return {
        "stage_1": config.get("stage_1", DEEPFLOYD_MODELS["stage_1"]),
        "stage_2": config.get("stage_2", DEEPFLOYD_MODELS["stage_2"]),
        "revision": config.get("revision", "main"),
    }


BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo(
            name="deepfloyd",
            label="DeepFloyd IF",
            default=True,
            loader="generator.diffusion.backends.deepfloyd:DeepFloydBackend",
            unavailable=_deepfloyd_unavailable,
            identity=_deepfloyd_identity,
        ),
        BackendInfo(
            name="mnist",
            label="MNIST UNet",
            default=True,
            loader="generator.diffusion.backends.mnist:MnistBackend",
            upstream=("2.3",),
            identity=lambda config: {"unet": "class-conditioned UNet of section 2.3"},
        ),
        BackendInfo(
            name="tiny",
            label="Tiny IF (random weights)",
            default=False,
            loader="generator.diffusion.backends.tiny:TinyBackend",
            identity=lambda config: {"models": "random-weight IF architecture from configs"},
        ),
    )
}
