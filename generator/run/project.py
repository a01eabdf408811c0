"""Opening a project with what its sections may use: the diffusion backends and the inputs the domain libraries
register. The engine knows neither; this is where they meet."""

from __future__ import annotations

from pathlib import Path

from generator.diffusion.backends import BACKENDS
from generator.diffusion.backends.probe import cuda_available
from generator.engine.config import Project, find_project
from generator.engine.inputs import InputScheme
from generator.mnist.source import SCHEMES as MNIST_SCHEMES

INPUT_SCHEMES = {name: InputScheme(locate, identity) for name, (locate, identity) in MNIST_SCHEMES.items()}


def open_project(start: Path | None = None) -> Project:
    """The gen project at or above `start` (the current folder), with every backend and input scheme."""
    return find_project(start, backends=BACKENDS, has_gpu=cuda_available, input_schemes=INPUT_SCHEMES)
