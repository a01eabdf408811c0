"""Flow matching (Lipman et al., ICLR 2023; rectified flow, Liu et al., ICLR 2023) in the course's convention: t = 0 is
noise, t = 1 is data.

The straight path from a noise sample x₀ ~ N(0, I) to a data sample x₁ is x_t = (1 − t) x₀ + t x₁; along it the
velocity is dx_t/dt = x₁ − x₀. A network u_θ(x_t, t) trained to regress that velocity defines an ODE whose solution
from t = 0 to 1 carries noise to data, which `sample_euler` integrates in T equal steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

# u(x_t [N, C, H, W], t [N]) → the velocity [N, C, H, W]
Velocity = Callable[[Tensor, Tensor], Tensor]
Callback = Callable[[dict[str, Any]], None]


def interpolate(x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """The flow's sample at time t: x_t = (1 − t) x₀ + t x₁, t [N] broadcast over each image."""
    t = t.reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return (1.0 - t) * x0 + t * x1


def target_velocity(x0: Tensor, x1: Tensor) -> Tensor:
    """The velocity of the straight path, the regression target of flow matching: u = x₁ − x₀."""
    return x1 - x0


def guided(conditional: Velocity, unconditional: Velocity, scale: float) -> Velocity:
    """Classifier-free guidance of a velocity: u = u_u + γ (u_c − u_u)."""

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        u_u = unconditional(x, t)
        return u_u + scale * (conditional(x, t) - u_u)

    return velocity


@torch.no_grad()
def sample_euler(velocity: Velocity, x: Tensor, num_steps: int, *, callback: Callback | None = None) -> Tensor:
    """Euler's method for dx/dt = u(x, t) from t = 0 to 1 in T steps: x ← x + u(x, i/T)/T for i = 0 … T − 1."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be at least 1; got {num_steps}.")
    for i in range(num_steps):
        t = torch.full((len(x),), i / num_steps, device=x.device, dtype=torch.float64 if x.dtype == torch.float64 else torch.float32)
        x = x + velocity(x, t).to(x.dtype) / num_steps
        if callback is not None:
            callback({"i": i, "t": i / num_steps, "last": i == num_steps - 1, "x": x})
    return x
