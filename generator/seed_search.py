"""Seed search: several candidate seeds per prompt, the page shows the chosen one and folds the rest.

Two ways: backends that cannot judge their samples (DeepFloyd IF, the tiny test model) run a few seeds one by one
and show each pair's own seed; a backend with a classifier (`score`/`classify`, the MNIST UNet) samples whole
batches of candidates at once and keeps the candidates whose worst reading scores best, batch after batch until
enough of them pass or the budget of batches is spent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

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


@dataclass(frozen=True)
class Candidate:
    """One sample of a batched search: batch `seed`, position `index` in it, the image [1, C, H, W] and its scores."""

    seed: int
    index: int
    image: torch.Tensor
    scores: tuple[float, ...]  # one per reading, the classifier's probability of the prompt's digit
    not_digit: tuple[float, ...]  # one per reading, the probability of "not a digit"
    votes: tuple[float, ...] = ()  # one per reading, the second judge's share for the prompt's digit (empty: none)

    @property
    def worst(self) -> float:
        return min(self.scores)

    @property
    def worst_vote(self) -> float:
        return min(self.votes, default=1.0)

    @property
    def label(self) -> str:
        return f"seed {self.seed} #{self.index}"

    def passes(self, target: float, majority: float) -> bool:
        """Every reading at `target` or more by the classifier, and at `majority` or more by the second judge."""
        return self.worst >= target and self.worst_vote >= majority


def search_batches(
    sample_batch: Callable[[int], torch.Tensor],
    classify: Callable[[torch.Tensor], torch.Tensor],
    readings: Sequence[tuple[Callable[[torch.Tensor], torch.Tensor], int]],
    seeds: Iterable[int],
    target: float,
    keep: int = 4,
    enough: int = 1,
    vote: Callable[[torch.Tensor], torch.Tensor] | None = None,
    majority: float = 0.5,
) -> tuple[list[Candidate], int]:
    """Sample batches (`sample_batch(seed) → [B, C, H, W]`) until `enough` candidates read as every (view, digit)
    with probability ≥ `target`; returns the `keep` best candidates, best first, and the number of candidates
    sampled. `classify(images) → [B, 11]` (column 10: "not a digit").

    With a second judge `vote(images) → [B, 10]` (nearest_votes), a candidate passes only when that judge also gives
    every reading's digit a share ≥ `majority`, and candidates that it accepts rank before those it does not: the
    search optimises the classifier's score, so the other judge guards against images that fool only the classifier."""
    best: list[Candidate] = []
    sampled = 0

    def rank(c: Candidate) -> tuple[bool, float, int, int]:
        return (c.worst_vote < majority, -c.worst, c.seed, c.index)

    for seed in seeds:
        images = sample_batch(seed)
        sampled += len(images)
        shown = [show(images) for show, _ in readings]
        probabilities = [classify(x) for x in shown]
        shares = [vote(x) for x in shown] if vote is not None else []
        for index in range(len(images)):
            scores = tuple(float(p[index, digit]) for p, (_, digit) in zip(probabilities, readings, strict=True))
            not_digit = tuple(float(p[index, -1]) for p in probabilities)
            votes = tuple(float(v[index, digit]) for v, (_, digit) in zip(shares, readings, strict=True)) if shares else ()
            best.append(Candidate(seed, index, images[index : index + 1].clone(), scores, not_digit, votes))
        best = sorted(best, key=rank)[: max(keep, enough)]
        if sum(c.passes(target, majority) for c in best) >= enough:
            break
    return best[:keep], sampled


def view_share(classify: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, show: Callable[[torch.Tensor], torch.Tensor], digit: int) -> float:
    """The share of `images` (real digits of one class, in [-1, 1]) whose view `show(images)` the classifier reads as
    `digit` (its most probable of the 11 classes): how much of an anagram the view already makes of real digits."""
    if len(images) == 0:
        raise ValueError("A view share needs at least one image.")
    return float((classify(show(images)).argmax(dim=1) == digit).float().mean())


def batch_sampler(
    estimate: Callable[[torch.Tensor, int], Any],
    schedule: Any,
    timesteps: Sequence[int],
    shape: Sequence[int],
    make_generator: Callable[[int], torch.Generator],
    clip_x0: str = "none",
) -> Callable[[int], torch.Tensor]:
    """`seed ↦ a batch of samples [shape]` from pure noise through the strided DDPM loop, all drawn from that seed."""
    from generator.diffusion.sampling import sample

    def sample_batch(seed: int) -> torch.Tensor:
        generator = make_generator(seed)
        noise = torch.randn(tuple(shape), generator=generator)
        return sample(estimate, schedule, timesteps, noise, generator=generator, clip_x0=clip_x0)  # type: ignore[arg-type]

    return sample_batch


def nearest_votes(images: torch.Tensor, references: torch.Tensor, labels: torch.Tensor, k: int = 10, classes: int = 10) -> torch.Tensor:
    """A second judge, independent of any trained network: for each image [N, C, H, W], the share of its `k` nearest
    `references` (real digits, same shape and range, by pixel distance) that carry each label, [N, classes].

    A classifier can be pushed by a search to accept an odd image; a sample whose nearest real digits are mostly of
    the prompted class also looks like that class pixel for pixel, which is closer to how a person reads it."""
    if len(references) < k:
        raise ValueError(f"The nearest-digit judge needs at least k = {k} reference images; it got {len(references)}.")
    flat, ref = images.flatten(1).float(), references.flatten(1).float()
    # ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖², in chunks of references so that 60,000 real digits fit in memory
    distances = torch.cat([(flat**2).sum(1, keepdim=True) - 2 * flat @ part.T + (part**2).sum(1) for part in ref.split(8192)], dim=1)
    nearest = distances.topk(k, dim=1, largest=False).indices
    return torch.nn.functional.one_hot(labels[nearest], classes).float().mean(dim=1)
