"""Noise estimators and their combinators: CFG, visual anagrams and factorised (hybrid) estimates.

An estimator maps (x_t [N, C, H, W], t on IF's 1000-step grid) to (ε̂, v): the noise estimate and the
learned-variance interpolation v ∈ [−1, 1] (None for a model without one). Backends give the base
estimators; the functions here build new estimators out of them, so every Part A trick is one expression.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from generator.diffusion.filters import gaussian_blur, grayscale, motion_blur
from generator.diffusion.views import View

Estimator = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor | None]]
Component = Callable[[torch.Tensor], torch.Tensor]


def cfg(conditional: Estimator, unconditional: Estimator, scale: float) -> Estimator:
    """Classifier-free guidance: ε = ε_u + γ (ε_c − ε_u); the variance comes from the conditional pass."""

    def estimate(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        eps_c, v = conditional(x_t, t)
        eps_u, _ = unconditional(x_t, t)
        return eps_u + scale * (eps_c - eps_u), v

    return estimate


def anagram(estimators: Sequence[Estimator], views: Sequence[View]) -> Estimator:
    """Visual anagram: ε = mean_i view_i⁻¹(ε_i(view_i(x_t), t)), v averaged the same way (Geng et al. 2024)."""
    estimators, views = tuple(estimators), tuple(views)
    _check_pairs(estimators, views, "views")

    def estimate(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        eps, variances = [], []
        for est, view in zip(estimators, views, strict=True):
            eps_i, v_i = est(view.apply(x_t), t)
            eps.append(view.inverse(eps_i))
            variances.append(None if v_i is None else view.inverse_variance(v_i))
        return torch.stack(eps).mean(dim=0), _mean_variance(variances)

    return estimate


def factorized(estimators: Sequence[Estimator], components: Sequence[Component]) -> Estimator:
    """Factorized diffusion: ε = Σ_i f_i(ε_i) for components with Σ_i f_i = identity; v is the mean of the v_i."""
    estimators, components = tuple(estimators), tuple(components)
    _check_pairs(estimators, components, "components")

    def estimate(x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        parts, variances = [], []
        for est, component in zip(estimators, components, strict=True):
            eps_i, v_i = est(x_t, t)
            parts.append(component(eps_i))
            variances.append(v_i)
        # v interpolates log-variances in [−1, 1]; a mean stays in range where Σ f_i(v_i) need not
        return torch.stack(parts).sum(dim=0), _mean_variance(variances)

    return estimate


def hybrid(low: Estimator, high: Estimator, kernel: int = 33, sigma: float = 2.0) -> Estimator:
    """Hybrid image: ε = lowpass(ε_1) + ε_2 − lowpass(ε_2), lowpass a Gaussian blur; `low` is the far prompt."""
    return factorized([low, high], frequency_components(kernel, sigma))


def frequency_components(kernel: int = 33, sigma: float = 2.0) -> tuple[Component, Component]:
    """(lowpass, highpass): G_σ * x and x − G_σ * x."""

    def lowpass(x: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(x, kernel, sigma)

    def highpass(x: torch.Tensor) -> torch.Tensor:
        return x - gaussian_blur(x, kernel, sigma)

    return lowpass, highpass


def colour_components() -> tuple[Component, Component]:
    """(grayscale, colour): the channel mean broadcast, and x − grayscale(x)."""

    def colour(x: torch.Tensor) -> torch.Tensor:
        return x - grayscale(x)

    return grayscale, colour


def motion_components(length: int = 9, angle: float = 0.0) -> tuple[Component, Component]:
    """(blurred, residual): a line-kernel motion blur and x − blurred(x)."""

    def blurred(x: torch.Tensor) -> torch.Tensor:
        return motion_blur(x, length, angle)

    def residual(x: torch.Tensor) -> torch.Tensor:
        return x - motion_blur(x, length, angle)

    return blurred, residual


_FACTORIZATIONS: dict[str, Callable[..., tuple[Component, Component]]] = {
    "frequency": frequency_components,
    "colour": colour_components,
    "color": colour_components,
    "motion": motion_components,
}


def factorization(name: str, **kwargs: float) -> tuple[Component, Component]:
    """Components by name for section specs: "frequency" (kernel, sigma), "colour", "motion" (length, angle)."""
    if name not in _FACTORIZATIONS:
        raise ValueError(f"Unknown factorization {name!r}; choose one of {', '.join(_FACTORIZATIONS)}.")
    try:
        return _FACTORIZATIONS[name](**kwargs)
    except TypeError:
        raise ValueError(f"The factorization {name!r} takes no parameters {sorted(kwargs)}.") from None


def _mean_variance(variances: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    present = [v for v in variances if v is not None]
    return torch.stack(present).mean(dim=0) if len(present) == len(variances) else None


def _check_pairs(estimators: Sequence[Estimator], others: Sequence[object], what: str) -> None:
    if not estimators or len(estimators) != len(others):
        raise ValueError(f"Give one estimator per entry of {what}; got {len(estimators)} and {len(others)}.")
