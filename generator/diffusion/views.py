"""Orthogonal image views for visual anagrams (Geng et al., "Visual Anagrams", CVPR 2024).

A view is an orthogonal linear map of [N, C, H, W] images, so it maps N(0, I) noise to N(0, I) noise and a
noise estimate made in the view's frame can be mapped back with `inverse`. The learned variance v is a
per-pixel quantity, not a signal: it moves with the pixels (`inverse_variance`) but is never negated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class View:
    """The identity view; every other view overrides `apply` and `inverse`."""

    @property
    def name(self) -> str:
        return "identity"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """x ↦ view(x)."""
        return x

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """view⁻¹(x) = viewᵀ(x)."""
        return x

    def inverse_variance(self, v: torch.Tensor) -> torch.Tensor:
        """Map a learned-variance map back: the pixel movement of `inverse`, without sign changes."""
        return self.inverse(v)


@dataclass(frozen=True)
class Flip(View):
    """Upside down: reverse the H axis."""

    @property
    def name(self) -> str:
        return "flip"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flip(x, dims=(-2,))

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flip(x, dims=(-2,))


@dataclass(frozen=True)
class Rotate(View):
    """Rotation by `quarter_turns` × 90° counter-clockwise (square images)."""

    quarter_turns: int = 1

    @property
    def name(self) -> str:
        return f"rot{90 * (self.quarter_turns % 4)}"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x, self.quarter_turns, dims=(-2, -1))

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x, -self.quarter_turns, dims=(-2, -1))


@dataclass(frozen=True)
class Negate(View):
    """x ↦ −x (the variance map is left as it is)."""

    @property
    def name(self) -> str:
        return "negate"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return -x

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return -x

    def inverse_variance(self, v: torch.Tensor) -> torch.Tensor:
        return v


@dataclass(frozen=True)
class PatchPermute(View):
    """A jigsaw: the image cut into `grid` × `grid` square patches, shuffled by a fixed permutation drawn from `seed`."""

    grid: int = 4
    seed: int = 1729

    @property
    def name(self) -> str:
        return "patch_permute"

    def permutation(self) -> torch.Tensor:
        """Patch j of the view is patch permutation()[j] of the image (patches in row-major order)."""
        return torch.randperm(self.grid**2, generator=torch.Generator().manual_seed(self.seed))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return self._reorder(x, self.permutation())

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return self._reorder(x, torch.argsort(self.permutation()))

    def _reorder(self, x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % self.grid or width % self.grid or height != width:
            raise ValueError(f"patch_permute cuts a square image into {self.grid}×{self.grid} patches; a {height}×{width} image does not divide, so choose a grid that divides its side.")
        size = height // self.grid
        # [..., H, W] → [..., grid², size, size] in row-major patch order
        patches = x.unflatten(-1, (self.grid, size)).unflatten(-3, (self.grid, size)).transpose(-3, -2)
        patches = patches.flatten(-4, -3)[..., order.to(x.device), :, :]
        return patches.unflatten(-3, (self.grid, self.grid)).transpose(-3, -2).flatten(-4, -3).flatten(-2, -1)


_VIEWS = {
    "identity": View,
    "flip": Flip,
    "rot90": lambda: Rotate(1),
    "rot180": lambda: Rotate(2),
    "rot270": lambda: Rotate(3),
    "negate": Negate,
    "patch_permute": PatchPermute,
    "jigsaw": PatchPermute,
}

VIEW_NAMES: tuple[str, ...] = tuple(_VIEWS)


def view(name: str, **kwargs: int) -> View:
    """The view called `name` ("flip", "rot90", "patch_permute", …); `grid` and `seed` go to patch permutations."""
    if name not in _VIEWS:
        raise ValueError(f"Unknown view {name!r}; choose one of {', '.join(VIEW_NAMES)}.")
    try:
        return _VIEWS[name](**kwargs)
    except TypeError:
        raise ValueError(f"The view {name!r} takes no parameters {sorted(kwargs)}.") from None
