"""Orthogonal image views for visual anagrams (Geng et al., "Visual Anagrams", CVPR 2024).

A view is an orthogonal linear map of [N, C, H, W] images, so it maps N(0, I) noise to N(0, I) noise and a
noise estimate made in the view's frame can be mapped back with `inverse`. The learned variance v is a
per-pixel quantity, not a signal: it moves with the pixels (`inverse_variance`) but is never negated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
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
    """Square tiles: the image cut into `grid` × `grid` square patches, shuffled by a fixed permutation drawn from `seed`."""

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


# The paper's 4×4 puzzle (visual_anagrams' make_jigsaw_perm): c corner, i inner, e and f edge pieces, each kind
# four copies of one base piece turned clockwise by k quarter turns; piece index = 4 · kind + k.
#     c0 e0 f0 c1
#     f3 i0 i1 e1
#     e3 i3 i2 f1
#     c3 f2 e2 c2
_PIECE_OF_CELL = ((0, 8, 12, 1), (15, 4, 5, 9), (11, 7, 6, 13), (3, 14, 10, 2))
# The base tabs, (row, column) of the cell that owns the knob and the side it pokes out of; the other 18 are their
# quarter turns. All knobs along the top edge point the same way, and so do those below e0 and f0, so that e0 and f0
# are one shape one cell apart: the paper's e/f swap moves an edge piece onto its neighbour exactly.
_BASE_TABS = (((0, 0), "right"), ((0, 1), "right"), ((0, 2), "right"), ((1, 1), "up"), ((1, 2), "up"), ((1, 1), "right"))
JIGSAW_SEED = 4522  # visual_anagrams' JigsawView default
JIGSAW_MIN_SIZE = 16


@dataclass(frozen=True)
class Jigsaw(View):
    """The paper's jigsaw: a 4×4 puzzle of knobbed pieces; each goes to a place of its kind, turned by a multiple of 90°."""

    seed: int = JIGSAW_SEED

    @property
    def name(self) -> str:
        return "jigsaw"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return _gather_pixels(x, jigsaw_permutation(_square_side(x), self.seed))

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return _gather_pixels(x, torch.argsort(jigsaw_permutation(_square_side(x), self.seed)))


def _square_side(x: torch.Tensor) -> int:
    height, width = x.shape[-2:]
    if height != width or height % 4 or height < JIGSAW_MIN_SIZE:
        raise ValueError(f"The jigsaw view cuts a square image whose side is a multiple of 4 (at least {JIGSAW_MIN_SIZE}) into 4×4 pieces; a {height}×{width} image is not one.")
    return height


def _gather_pixels(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Pixel i of the result is pixel order[i] of x (row-major), in every channel."""
    return x.flatten(-2)[..., order.to(x.device)].unflatten(-1, x.shape[-2:])


def _turn(y: np.ndarray, x: np.ndarray, size: int, quarter_turns: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates turned clockwise about the image centre by `quarter_turns` × 90°: (y, x) ↦ (x, size − 1 − y) per turn."""
    y, x = np.broadcast_arrays(y, x)
    y, x, turns = y.copy(), x.copy(), np.broadcast_to(np.mod(quarter_turns, 4), y.shape)
    for _ in range(3):
        move = turns > 0
        y[move], x[move] = x[move], size - 1 - y[move]
        turns = turns - move
    return y, x


def _turned_piece(piece: int, quarter_turns: int) -> int:
    return 4 * (piece // 4) + (piece + quarter_turns) % 4


def _knob(cell: int) -> tuple[np.ndarray, np.ndarray]:
    """A knob's pixels as (along the cell side, depth into the neighbour): a round head on a narrow neck, mid-side."""
    along, depth = np.meshgrid(np.arange(cell), np.arange(cell // 2), indexing="ij")
    u, v = along + 0.5 - cell / 2, depth + 0.5
    # head radius 0.16 s at depth 0.22 s: knobs on two sides of one cell stay 0.4 s apart, so they never touch
    head = u**2 + (v - 0.22 * cell) ** 2 <= (0.16 * cell) ** 2
    neck = (np.abs(u) <= 0.07 * cell) & (v <= 0.22 * cell)
    return along[head | neck], depth[head | neck]


@lru_cache(maxsize=8)
def jigsaw_pieces(size: int) -> torch.Tensor:
    """Which of the 16 pieces (index 4 · kind + quarter turns) each pixel of a size × size image belongs to, [size, size]."""
    cell = size // 4
    rows, cols = np.indices((size, size))
    pieces = np.asarray(_PIECE_OF_CELL)[rows // cell, cols // cell]
    along, depth = _knob(cell)
    for (row, col), side in _BASE_TABS:
        # the knob's pixels in the neighbouring cell, right of or above the owning cell
        y, x = (row * cell + along, (col + 1) * cell + depth) if side == "right" else (row * cell - 1 - depth, col * cell + along)
        for turns in range(4):
            turned_y, turned_x = _turn(y, x, size, turns)
            pieces[turned_y, turned_x] = _turned_piece(_PIECE_OF_CELL[row][col], turns)
    return torch.from_numpy(pieces)


@lru_cache(maxsize=8)
def jigsaw_permutation(size: int, seed: int = JIGSAW_SEED) -> torch.Tensor:
    """Pixel order of the jigsaw view, as visual_anagrams' make_jigsaw_perm draws and builds it.

    Draws a permutation of the four turns of each kind and four e/f swap bits (numpy's legacy RNG, in the paper's
    order); a pixel of a piece with k turns goes where the same pixel of the piece with perm[k] turns is (a rotation
    about the image centre), then along its edge by one cell if it lands on an edge whose swap bit is set.
    """
    rng = np.random.RandomState(seed)
    turns_to = np.concatenate([rng.permutation(4) for _ in range(4)])
    edge_swaps = rng.randint(2, size=4)

    pieces = jigsaw_pieces(size).numpy()
    y, x = np.indices((size, size))
    y, x = _turn(y, x, size, turns_to[pieces] - pieces % 4)
    landed = pieces[y, x]
    # e ↔ f on the same edge: e pieces move one cell clockwise along the image border, f pieces back
    swap = (landed >= 8) & (edge_swaps[landed % 4] == 1)
    step = np.where(landed < 12, 1, -1) * np.where(landed % 4 < 2, 1, -1) * (size // 4)
    along_x = swap & (landed % 2 == 0)
    along_y = swap & (landed % 2 == 1)
    x = x + np.where(along_x, step, 0)
    y = y + np.where(along_y, step, 0)
    return torch.from_numpy(y * size + x).flatten()


_VIEWS = {
    "identity": View,
    "flip": Flip,
    "rot90": lambda: Rotate(1),
    "rot180": lambda: Rotate(2),
    "rot270": lambda: Rotate(3),
    "negate": Negate,
    "patch_permute": PatchPermute,
    "jigsaw": Jigsaw,
}

VIEW_NAMES: tuple[str, ...] = tuple(_VIEWS)


def view(name: str, **kwargs: int) -> View:
    """The view called `name` ("flip", "rot90", "jigsaw", …); `grid` and `seed` go to patch_permute, `seed` to jigsaw."""
    if name not in _VIEWS:
        raise ValueError(f"Unknown view {name!r}; choose one of {', '.join(VIEW_NAMES)}.")
    try:
        return _VIEWS[name](**kwargs)
    except TypeError:
        raise ValueError(f"The view {name!r} takes no parameters {sorted(kwargs)}.") from None
