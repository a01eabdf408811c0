"""Image filters for factorised noise estimates: Gaussian blur, motion blur and grayscale."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(kernel: int, sigma: float) -> torch.Tensor:
    """The normalised 2-D Gaussian g(x) g(y), g(x) ∝ exp(−x² / 2σ²), on `kernel` × `kernel` taps (torchvision's)."""
    if kernel < 1 or kernel % 2 == 0 or sigma <= 0:
        raise ValueError(f"A Gaussian blur needs an odd kernel size and sigma > 0; got kernel={kernel}, sigma={sigma}.")
    x = torch.arange(kernel, dtype=torch.float64) - (kernel - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def motion_kernel(length: float, angle: float) -> torch.Tensor:
    """A normalised antialiased line `length` pixels long through the centre at `angle` degrees (0 = horizontal)."""
    if length < 1:
        raise ValueError(f"A motion blur needs a length of at least 1 pixel; got {length}.")
    radius = math.ceil((length - 1) / 2)
    steps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    y, x = torch.meshgrid(steps, steps, indexing="ij")
    theta = math.radians(angle)
    # image rows grow downwards, so a counter-clockwise direction is (cos θ, −sin θ) in (x, y)
    along = x * math.cos(theta) - y * math.sin(theta)
    across = x * math.sin(theta) + y * math.cos(theta)
    # each pixel covers [a − ½, a + ½] of the segment [−L/2, L/2] and lies within a pixel of the line
    weights = (length / 2 + 0.5 - along.abs()).clamp(0, 1) * (1 - across.abs()).clamp(min=0)
    return weights / weights.sum()


def convolve(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-channel 2-D filtering of [N, C, H, W] with reflect padding; a kernel wider than the image is cropped to fit."""
    height, width = x.shape[-2:]
    # reflect padding needs a radius below the side; crop symmetrically and renormalise
    radius_y = min(kernel.shape[0] // 2, height - 1)
    radius_x = min(kernel.shape[1] // 2, width - 1)
    cy, cx = kernel.shape[0] // 2, kernel.shape[1] // 2
    kernel = kernel[cy - radius_y : cy + radius_y + 1, cx - radius_x : cx + radius_x + 1]
    kernel = (kernel / kernel.sum()).to(dtype=x.dtype, device=x.device)
    channels = x.shape[1]
    padded = F.pad(x, (radius_x, radius_x, radius_y, radius_y), mode="reflect")
    return F.conv2d(padded, kernel.expand(channels, 1, *kernel.shape), groups=channels)


def gaussian_blur(x: torch.Tensor, kernel: int = 33, sigma: float = 2.0) -> torch.Tensor:
    """Gaussian low-pass G_σ * x with reflect padding (torchvision's `gaussian_blur`)."""
    return convolve(x, gaussian_kernel(kernel, sigma))


def motion_blur(x: torch.Tensor, length: float = 9, angle: float = 0.0) -> torch.Tensor:
    """Motion blur: x convolved with a line of `length` pixels at `angle` degrees."""
    return convolve(x, motion_kernel(length, angle))


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """The channel mean broadcast to every channel (the grayscale part of Factorized Diffusion)."""
    return x.mean(dim=1, keepdim=True).expand_as(x)
