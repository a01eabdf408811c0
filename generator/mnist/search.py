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
Judge = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


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
    distances: tuple[float, ...] = ()  # one per reading, the second judge's distance to real digits of the prompt

    @property
    def worst(self) -> float:
        return min(self.scores)

    @property
    def worst_vote(self) -> float:
        return min(self.votes, default=1.0)

    @property
    def farthest(self) -> float:
        return max(self.distances, default=0.0)

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
    vote: Judge | Sequence[Judge] | None = None,
    majority: float = 0.5,
) -> tuple[list[Candidate], int]:
    """Sample batches (`sample_batch(seed) → [B, C, H, W]`) until `enough` candidates read as every (view, digit)
    with probability ≥ `target`; returns the `keep` best candidates, best first, and the number of candidates
    sampled. `classify(images) → [B, 11]` (column 10: "not a digit").

    With a second judge `vote(images) → (shares [B, 10], distances [B, 10])` (nearest_digits), a candidate passes only
    when that judge also gives every reading's digit a share ≥ `majority`; passing candidates rank first, the one
    whose readings all lie nearest to real digits of their prompts first among them, then the others by worst reading: a classifier saturates at 1.00 for
    many candidates, scribbles among them, while a scribble lies far from every real digit. `vote` may also be one
    judge per reading (a low-passed reading is best compared with low-passed real digits)."""
    best: list[Candidate] = []
    sampled = 0

    def rank(c: Candidate) -> tuple[bool, float, int, int]:
        passes = c.passes(target, majority)
        return (not passes, c.farthest if passes and c.distances else -c.worst, c.seed, c.index)

    for seed in seeds:
        images = sample_batch(seed)
        sampled += len(images)
        shown = [show(images) for show, _ in readings]
        probabilities = [classify(x) for x in shown]
        judges = [] if vote is None else list(vote) if isinstance(vote, Sequence) else [vote] * len(readings)
        judged = [judge(x) for judge, x in zip(judges, shown, strict=True)] if judges else []
        for index in range(len(images)):
            scores = tuple(float(p[index, digit]) for p, (_, digit) in zip(probabilities, readings, strict=True))
            not_digit = tuple(float(p[index, -1]) for p in probabilities)
            votes = tuple(float(v[index, digit]) for (v, _), (_, digit) in zip(judged, readings, strict=True)) if judged else ()
            distances = tuple(float(d[index, digit]) for (_, d), (_, digit) in zip(judged, readings, strict=True)) if judged else ()
            best.append(Candidate(seed, index, images[index : index + 1].clone(), scores, not_digit, votes, distances))
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


def nearest_digits(images: torch.Tensor, references: torch.Tensor, labels: torch.Tensor, k: int = 10, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """A second judge, independent of any trained network, for images [N, C, H, W] against real `references` (same
    shape and range) by pixel distance: the share of the `k` nearest references that carry each label, [N, classes],
    and for each class the mean root-mean-square pixel distance to its `k` nearest references of that class, [N, classes]
    (infinite for a class with fewer than `k` references).

    A classifier can be pushed by a search to accept an odd image; a sample whose nearest real digits are mostly of
    the prompted class, and close, also looks like that class pixel for pixel, which is nearer to how a person reads it."""
    if len(references) < k:
        raise ValueError(f"The nearest-digit judge needs at least k = {k} reference images; it got {len(references)}.")
    flat, ref = images.flatten(1).float(), references.flatten(1).float()
    # ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖², in chunks of references so that 60,000 real digits fit in memory
    squared = torch.cat([(flat**2).sum(1, keepdim=True) - 2 * flat @ part.T + (part**2).sum(1) for part in ref.split(8192)], dim=1)
    distances = squared.clamp(min=0).div(flat.shape[1]).sqrt()
    votes = torch.nn.functional.one_hot(labels[distances.topk(k, dim=1, largest=False).indices], classes).float().mean(dim=1)
    # a class with fewer than k references is infinitely far: nothing shows what its digits look like
    far = torch.full((len(flat),), float("inf"))
    typical = torch.stack([distances[:, labels == c].topk(k, dim=1, largest=False).values.mean(dim=1) if int((labels == c).sum()) >= k else far for c in range(classes)], dim=1)
    return votes, typical
