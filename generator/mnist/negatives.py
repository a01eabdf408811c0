"""Images that are no digit, the 11th class of the 2.0 classifier: transformed real digits, strokes, blobs and noise.

A transform makes a negative only where its result reads as no digit: rotating a 0 by 90° or mirroring an 8 leaves a
digit, and turning a 6 upside down makes a 9, so each transform applies only to the digits it breaks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

NOT_A_DIGIT = 10  # the class index of "not a digit"

# Digits each transform turns into no digit (a mirrored 5 can pass for a 2, a rotated 0 or 1 for a 0 or a 1).
ROTATED_90 = (2, 3, 4, 5, 6, 7, 9)
MIRRORED = (2, 3, 4, 6, 7, 9)
UPSIDE_DOWN = (3, 4, 7)
CROSSED = (1, 2, 3, 4, 5, 6, 7, 9)  # a digit drawn over itself turned by 90°: a cross, a star, a knot


def not_digits(digits: Tensor, labels: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """`count` images [count, 1, 28, 28] in [0, 1], in equal shares of every kind of NEGATIVES, from real digits in [0, 1].

    Everything is made on the CPU with a CPU generator, once before training, so the same seed gives the same set anywhere.
    """
    shares = [count // len(NEGATIVES) + (i < count % len(NEGATIVES)) for i in range(len(NEGATIVES))]
    parts = [make(digits, labels, n, generator) for make, n in zip(NEGATIVES.values(), shares, strict=True) if n]
    images = torch.cat(parts)
    return images[torch.randperm(len(images), generator=generator)]


def _pick(digits: Tensor, labels: Tensor, allowed: tuple[int, ...], n: int, generator: torch.Generator) -> Tensor:
    """n digits drawn at random among those whose label is in allowed."""
    pool = torch.isin(labels, torch.tensor(allowed)).nonzero().flatten()
    return digits[pool[_randint(len(pool), n, generator)]]


def rotated(digits: Tensor, labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Digits turned by 90° or 270°."""
    chosen = _pick(digits, labels, ROTATED_90, n, generator)
    quarter = _randint(2, n, generator).bool().view(-1, 1, 1, 1)
    return torch.where(quarter, chosen.rot90(1, (2, 3)), chosen.rot90(3, (2, 3)))


def mirrored(digits: Tensor, labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Digits mirrored left to right, or turned upside down where that is no digit either."""
    half = n // 2
    return torch.cat([_pick(digits, labels, MIRRORED, n - half, generator).flip(3), _pick(digits, labels, UPSIDE_DOWN, half, generator).rot90(2, (2, 3))])


def crossed(digits: Tensor, labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """A digit and the same digit turned by 90°, drawn over each other."""
    chosen = _pick(digits, labels, CROSSED, n, generator)
    return torch.maximum(chosen, chosen.rot90(1, (2, 3)))


def patch_shuffled(digits: Tensor, labels: Tensor, n: int, generator: torch.Generator, patch: int = 7) -> Tensor:
    """Digits cut into a 4 x 4 grid of 7 x 7 patches, the patches put back in a random order."""
    chosen = _pick(digits, labels, tuple(range(10)), n, generator)
    grid = 28 // patch
    patches = chosen.unfold(2, patch, patch).unfold(3, patch, patch).reshape(n, grid * grid, patch, patch)
    order = _rand(generator, n, grid * grid).argsort(dim=1)
    shuffled = patches[torch.arange(n)[:, None], order]
    return shuffled.reshape(n, grid, grid, patch, patch).permute(0, 1, 3, 2, 4).reshape(n, 1, 28, 28)


def strokes(digits: Tensor, labels: Tensor, n: int, generator: torch.Generator, vertices: int = 6) -> Tensor:
    """A pen's random walk of `vertices` points, drawn 1.5 to 3 pixels wide with soft edges like MNIST's strokes."""
    points = 4.0 + 20.0 * _rand(generator, n, vertices, 2)
    start, end = points[:, :-1], points[:, 1:]
    pixels = torch.stack(torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij"), dim=-1).view(1, -1, 1, 2)
    along = end - start
    # distance from every pixel to every segment: project onto the segment, clamp to its ends
    u = ((pixels - start[:, None]) * along[:, None]).sum(-1) / along.pow(2).sum(-1).clamp_min(1e-6)[:, None]
    nearest = start[:, None] + u.clamp(0, 1)[..., None] * along[:, None]
    distance = (pixels - nearest).norm(dim=-1).amin(dim=-1)
    width = 0.75 + 0.75 * _rand(generator, n, 1)
    return (width + 1.0 - distance).clamp(0, 1).view(n, 1, 28, 28)


def blobs(digits: Tensor, labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """One to three filled Gaussian blobs of radius 2 to 6 pixels."""
    centres = 5.0 + 18.0 * _rand(generator, n, 3, 2)
    radii = 2.0 + 4.0 * _rand(generator, n, 3)
    present = torch.arange(3).expand(n, 3) < 1 + _randint(3, n, generator)[:, None]
    pixels = torch.stack(torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij"), dim=-1).view(1, -1, 1, 2)
    density = (present[:, None] * torch.exp(-((pixels - centres[:, None]).pow(2).sum(-1)) / (2 * radii[:, None] ** 2))).amax(dim=-1)
    return (3.0 * density - 1.0).clamp(0, 1).view(n, 1, 28, 28)


def noise(digits: Tensor, labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Noise: uniform pixels, sparse specks, or smooth blotches (random 7 x 7 values upsampled and thresholded)."""
    third = n // 3
    uniform = _rand(generator, third, 1, 28, 28) * _rand(generator, third, 1, 1, 1)
    specks = (_rand(generator, third, 1, 28, 28) < 0.1 * _rand(generator, third, 1, 1, 1)).float()
    coarse = F.interpolate(_rand(generator, n - 2 * third, 1, 7, 7), size=28, mode="bilinear", align_corners=False)
    blotches = ((coarse - 0.55) * 5.0).clamp(0, 1)
    return torch.cat([uniform, specks, blotches])


NEGATIVES: dict[str, Callable[[Tensor, Tensor, int, torch.Generator], Tensor]] = {
    "rotated": rotated,
    "mirrored": mirrored,
    "crossed": crossed,
    "patch_shuffled": patch_shuffled,
    "strokes": strokes,
    "blobs": blobs,
    "noise": noise,
}


def _rand(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(shape, generator=generator)


def _randint(high: int, n: int, generator: torch.Generator) -> Tensor:
    return torch.randint(0, high, (n,), generator=generator)
