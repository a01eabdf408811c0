"""Seed search: several candidate seeds per prompt, the page shows the chosen one and folds the rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Reading = tuple[Callable[[Any], Any], str]


def candidate_seeds(seed: int, base: int, tries: int) -> list[int]:
    """`seed` first, then base, base + 1, … (skipping `seed`), `tries` seeds in all."""
    return [seed, *(s for s in range(base, base + tries) if s != seed)][:tries]


def pick_seed(backend: Any, images: Mapping[int, Any], readings: Sequence[Reading]) -> int:
    """The first seed, unless the backend can judge samples (`score(images, prompt) → [N]`, the MNIST classifier):
    then the seed whose worst reading (a view of the image and the prompt it should show) scores best."""
    score = getattr(backend, "score", None)
    if score is None:
        return next(iter(images))
    return max(images, key=lambda seed: min(float(score(show(images[seed]), prompt)) for show, prompt in readings))
