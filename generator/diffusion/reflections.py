"""The reflections of the square that generator/diffusion/views.py lacks: a left-right mirror and the two diagonals.

With views.py's flip and quarter turns they make the whole symmetry group of the square, the views a digit anagram
can use. They live apart from views.py on purpose: views.py is imported by the DDPM core that Part B trains with, so
every change there would make the trained UNets stale; only the anagram section imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from generator.diffusion.views import VIEW_NAMES, View, view


@dataclass(frozen=True)
class Mirror(View):
    """Left-right mirror: reverse the W axis."""

    @property
    def name(self) -> str:
        return "mirror"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flip(x, dims=(-1,))

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flip(x, dims=(-1,))


@dataclass(frozen=True)
class Transpose(View):
    """Reflection in the main diagonal (top-left to bottom-right), or in the other diagonal when `anti` (square images)."""

    anti: bool = False

    @property
    def name(self) -> str:
        return "antitranspose" if self.anti else "transpose"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        # the other diagonal's reflection is the transpose turned by 180°
        return torch.rot90(x.transpose(-2, -1), 2, dims=(-2, -1)) if self.anti else x.transpose(-2, -1)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x)  # a reflection is its own inverse


REFLECTIONS: dict[str, View] = {"mirror": Mirror(), "transpose": Transpose(), "antitranspose": Transpose(anti=True)}
ANAGRAM_VIEW_NAMES: tuple[str, ...] = (*VIEW_NAMES, *REFLECTIONS)


def anagram_view(name: str) -> View:
    """The view called `name`: one of views.py's ("flip", "rot90", "jigsaw", …) or a reflection of this module."""
    if name in REFLECTIONS:
        return REFLECTIONS[name]
    if name not in VIEW_NAMES:
        raise ValueError(f"Unknown view {name!r}; choose one of {', '.join(ANAGRAM_VIEW_NAMES)}.")
    return view(name)
