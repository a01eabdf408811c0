"""The backend registry: cheap facts about each backend, without importing torch or diffusers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEEPFLOYD_MODELS = {"stage_1": "DeepFloyd/IF-I-XL-v1.0", "stage_2": "DeepFloyd/IF-II-L-v1.0"}


@dataclass(frozen=True)
class BackendInfo:
    """A backend as the build planner sees it: name, label, availability and identity."""

    name: str
    label: str
    # Used by a plain `gen build` when it can run here (tiny is for tests only).
    default: bool
    # Builds the heavy backend object from its config and the artifact folders of its upstream
    # sections; it imports torch and diffusers, so it runs only when a section computes.
    loader: Callable[[Mapping[str, Any], Mapping[str, Path]], Any]
    # Sections whose artifacts the backend reads (the mnist backend reads 2.3's UNet).
    upstream: tuple[str, ...] = ()
    unavailable: Callable[[bool, Mapping[str, Any]], str | None] = lambda needs_model, config: None
    identity: Callable[[Mapping[str, Any]], dict] = lambda config: {}

    def load(self, config: Mapping[str, Any], upstream: Mapping[str, Path]) -> Any:
        """Construct the backend object (models load lazily, on first use)."""
        return self.loader(config, upstream)


def _deepfloyd_unavailable(needs_model: bool, config: Mapping[str, Any]) -> str | None:
    from generator.diffusion.backends.probe import deepfloyd_unavailable_reason

    return deepfloyd_unavailable_reason(needs_model, config)


def _deepfloyd_identity(config: Mapping[str, Any]) -> dict:
    """Model ids and revision; a local model folder by its path and a digest of its configs and file sizes."""
    from generator.diffusion.backends.probe import is_local_model, local_model_digest

    identity: dict[str, Any] = {"revision": config.get("revision", "main")}
    for key in ("stage_1", "stage_2"):
        source = str(config.get(key, DEEPFLOYD_MODELS[key]))
        identity[key] = {"folder": source, "digest": local_model_digest(source)} if is_local_model(source) else source
    return identity


def _load_deepfloyd(config: Mapping[str, Any], upstream: Mapping[str, Path]) -> Any:
    from generator.diffusion.backends.deepfloyd import DeepFloydBackend

    return DeepFloydBackend(config)


def _load_tiny(config: Mapping[str, Any], upstream: Mapping[str, Path]) -> Any:
    from generator.diffusion.backends.tiny import TinyBackend

    return TinyBackend(embeddings_cache_dir=config.get("embeddings_cache_dir"))


def _load_mnist(config: Mapping[str, Any], upstream: Mapping[str, Path]) -> Any:
    # registered by name: the mnist backend lives with the rest of MNIST (generator/mnist/), and diffusion/ imports none of it
    import importlib

    MnistBackend = importlib.import_module("generator.mnist.backend").MnistBackend  # noqa: N806 - a class
    return MnistBackend(unet_dir=upstream["2.3"], classifier_dir=upstream.get("2.0"))


BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo(
            name="deepfloyd",
            label="DeepFloyd IF",
            default=True,
            loader=_load_deepfloyd,
            unavailable=_deepfloyd_unavailable,
            identity=_deepfloyd_identity,
        ),
        BackendInfo(
            name="mnist",
            label="MNIST UNet",
            default=True,
            loader=_load_mnist,
            upstream=("2.3", "2.0"),
            identity=lambda config: {"unet": "class-conditioned UNet of section 2.3"},
        ),
        BackendInfo(
            name="tiny",
            label="Tiny IF (random weights)",
            default=False,
            loader=_load_tiny,
            identity=lambda config: {"models": "random-weight IF architecture from configs"},
        ),
    )
}
